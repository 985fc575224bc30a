"""`manage.py ingest PATH...`: write trace files (any supported format) into the embedded store."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from explorer.configuration import explorer_config
from explorer.store import dictionary, hourly, hourly_operations
from explorer.store.ingest import ingest
from explorer.traces.parsers import FORMATS


class Command(BaseCommand):
    help = (
        "Write traces from files, folders (recursively) or glob patterns into the embedded "
        "store. Exits non-zero when any file, document or trace was rejected."
    )
    # Only the database matters here; a half-configured web layer must not stop an import.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", metavar="PATH")
        parser.add_argument(
            "--recount-hourly",
            action="store_true",
            help="compute the hourly figures (the system map's; per operation for the SLA, "
            "anomaly and drift pages) anew from every stored trace, with the current mapping "
            "and SLA (after they changed, or for traces stored before the figures were kept)",
        )
        parser.add_argument(
            "--compact-chunks",
            action="store_true",
            help="train a new compression dictionary on the newest stored spans and compress "
            "every chunk written with an older one (or with zlib, before there were "
            "dictionaries) again with it",
        )
        parser.add_argument(
            "--format", choices=FORMATS, help="read every file as this format (default: detect)"
        )
        parser.add_argument(
            "--workers",
            type=int,
            help="reading processes for big inputs (default: EXPLORER_INGEST_WORKERS, else one "
            "per CPU; 0 reads in this process)",
        )

    def handle(self, *args, **options):
        if options["recount_hourly"]:
            if settings.EXPLORER_RECEIVER_MODE == "index":
                # The spans are in Tempo or Jaeger: a recount from the (empty) store would
                # wipe the figures the receiver kept (docs/receiver.md).
                raise CommandError(
                    "--recount-hourly recounts the embedded store's traces; in index mode "
                    "(EXPLORER_RECEIVER_MODE=index) the spans are in the trace backend and the "
                    "receiver's hourly figures cannot be recounted from them"
                )
            config = explorer_config()
            traces = hourly.recount(config.mapping)
            hourly_operations.recount(config.mapping, config.sla)
            self.stdout.write(f"hourly figures recounted from {traces} traces")
        if options["compact_chunks"]:
            chunks, saved = dictionary.compact()
            self.stdout.write(f"chunks compressed again: {chunks}, bytes saved: {saved}")
        if not options["paths"] and not (options["recount_hourly"] or options["compact_chunks"]):
            raise CommandError(
                "name the files or folders to ingest, or --recount-hourly or --compact-chunks"
            )
        if not options["paths"]:
            return
        with tqdm(
            unit=" spans", unit_scale=True, disable=not sys.stderr.isatty(), file=sys.stderr
        ) as bar:
            report = ingest(
                options["paths"],
                fmt=options["format"],
                progress=bar.update,
                workers=options["workers"],
            )
        self.stdout.write(
            f"files: {report.files}, traces: {report.traces}, spans: {report.spans}, "
            f"rejected: {len(report.rejected)}"
        )
        for rejection in report.rejected:
            self.stderr.write(f"rejected: {rejection}")
        if report.rejected:
            raise CommandError(f"{len(report.rejected)} rejected (listed above)", returncode=1)
