"""`manage.py tours export [--json]` and `manage.py tours import FILE... | --shipped`."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.sources.base import SourceError
from explorer.tours.loading import import_files, shipped_files
from explorer.tours.models import Tour
from explorer.tours.persist import spec_of
from explorer.tours.tourfile import export_document


class Command(BaseCommand):
    help = "Export the tours as JSON, or import tour files (or the shipped tours)."
    requires_system_checks = []  # only the database matters here

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="print the tours")
        export.add_argument(
            "--json",
            action="store_true",
            help='print {"tours": [...]} (the file format, importable)',
        )
        export.add_argument(
            "--slug", action="append", default=[], help="only this tour (repeatable)"
        )
        imp = sub.add_parser("import", help="load tour files")
        imp.add_argument("files", nargs="*", type=Path)
        imp.add_argument(
            "--shipped",
            action="store_true",
            help="also load the tours shipped with the explorer (explorer/tours/shipped/*.json)",
        )

    def handle(self, *args, **options):
        if options["action"] == "export":
            self.export(options["slug"], options["json"])
        else:
            self.load(options["files"], options["shipped"])

    def export(self, slugs, as_json):
        tours = Tour.objects.all()
        if slugs:
            tours = tours.filter(slug__in=slugs)
            missing = sorted(set(slugs) - set(tours.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"no tour with slug {', '.join(missing)}")
        specs = [spec_of(t) for t in tours]
        if as_json:
            self.stdout.write(json.dumps(export_document(specs), ensure_ascii=False, indent=2))
            return
        for spec in specs:
            self.stdout.write(
                f"{spec.slug}: {spec.title} ({len(spec.steps)} steps, example "
                f"order {spec.example_order or 'not chosen yet'})"
            )

    def load(self, files, shipped):
        paths = list(files) + (shipped_files() if shipped else [])
        if not paths:
            raise CommandError("name tour files to import, or --shipped")
        try:
            trace_source = get_source()
        except SourceError as exc:
            self.stderr.write(f"example orders are chosen later: {exc}")
            trace_source = None
        report = import_files(paths, explorer_config(), trace_source)
        for slug in report.imported:
            tour = Tour.objects.get(slug=slug)
            self.stdout.write(
                f"imported {slug} ({tour.steps.count()} steps, example order "
                f"{tour.example_order or 'not chosen yet'})"
            )
        for note in report.notes:
            self.stderr.write(note)
        for error in report.errors:
            self.stderr.write(f"error: {error}")
        if report.errors:
            raise CommandError(
                f"{len(report.errors)} problem(s) (listed above); files with "
                f"problems were not imported",
                returncode=1,
            )
