"""`manage.py c4 ...`: load C4 models, draw them, compare them with traces, manage the mapping.

c4 import FILE [--json]
c4 diagram --model FILE [--mapping FILE] [--traces PATH] [--order ID] [--sla FILE]
           [--lang en|ru] --out FILE.svg
c4 drift --model FILE --traces PATH [--mapping FILE] [--since NS] [--until NS] --json
c4 rules-import [FILE]      mapping file -> database rules (editable in the admin)
c4 rules-export [FILE]      database rules -> mapping file (stdout without FILE)
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from explorer.c4.drift import drift
from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.mapping import DEFAULT_MAPPING, MappingError, load_mapping
from explorer.c4.rules import export_rules, import_rules
from explorer.c4.traceset import read_traces, traces_of_order
from explorer.diagrams.overlay import Overlay, overlay_from_traces
from explorer.diagrams.render import render_svg
from explorer.diagrams.words import LANGUAGES, word
from explorer.journeys.state_graph import ConfigError, load_sla


class Command(BaseCommand):
    help = "C4 model: import, diagram, drift, mapping rules."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="load a model file and print what was understood")
        imp.add_argument("file")
        imp.add_argument("--json", action="store_true")
        dia = sub.add_parser("diagram", help="draw the container diagram, optionally with traces")
        dia.add_argument("--model", default=str(DEFAULT_MODEL))
        dia.add_argument("--mapping", default=str(DEFAULT_MAPPING))
        dia.add_argument("--traces")
        dia.add_argument("--order", help="only the traces of this order.id, in time order")
        dia.add_argument("--sla", help="SLA file (sla.json) to mark breaches")
        dia.add_argument(
            "--lang",
            choices=LANGUAGES,
            default="en",
            help="language of the diagram's words (legend, kinds, notes)",
        )
        dia.add_argument("--out", required=True)
        dri = sub.add_parser("drift", help="compare a model with traces")
        dri.add_argument("--model", default=str(DEFAULT_MODEL))
        dri.add_argument("--mapping", default=str(DEFAULT_MAPPING))
        dri.add_argument("--traces", required=True)
        dri.add_argument("--since", type=int, help="window start, ns since the epoch")
        dri.add_argument("--until", type=int, help="window end (exclusive), ns since the epoch")
        dri.add_argument("--json", action="store_true")
        rin = sub.add_parser("rules-import", help="store a mapping file's rules in the database")
        rin.add_argument("file", nargs="?", default=str(DEFAULT_MAPPING))
        rin.add_argument("--model", default=str(DEFAULT_MODEL))
        rex = sub.add_parser("rules-export", help="write the database rules as a mapping file")
        rex.add_argument("file", nargs="?")

    def handle(self, *args, action, **options):
        return getattr(self, "do_" + action.replace("-", "_"))(**options) or ""

    def model(self, path: str):
        try:
            return load_model(path)
        except OSError as exc:
            raise CommandError(f"{path}: cannot read: {exc.strerror or exc}") from None

    def mapping(self, path: str, model):
        try:
            return load_mapping(path, model)
        except MappingError as exc:
            raise CommandError(str(exc)) from None

    def traces(self, path: str):
        if not Path(path).exists():
            raise CommandError(f"{path}: no such file or folder")
        traces, problems = read_traces(path)
        for problem in problems:
            self.stderr.write(f"warning: {problem}")
        return traces

    def do_import(self, file, json, **_):
        model = self.model(file)
        if json:
            self.stdout.write(_dumps(model.to_dict()))
            return
        for e in model.elements.values():
            self.stdout.write(f"{e.kind:16} {e.id:24} {e.name}")
        for r in model.relationships:
            self.stdout.write(f"{r.source} -> {r.target}: {r.description}")
        for w in model.warnings:
            self.stderr.write(f"warning: {w}")

    def do_diagram(self, model, mapping, traces, order, sla, out, lang="en", **_):
        c4 = self.model(model)
        for w in c4.warnings:
            self.stderr.write(f"warning: {w}")
        overlay = Overlay(lang=lang)
        if order and not traces:
            raise CommandError("--order needs --traces")
        if traces:
            found = self.traces(traces)
            if order:
                found = traces_of_order(found, order)
                if not found:
                    raise CommandError(f"no trace in {traces} has order.id {order!r}")
            limits = None
            if sla:
                try:
                    limits = load_sla(sla, c4.elements)
                except ConfigError as exc:
                    raise CommandError(str(exc)) from None
            overlay = overlay_from_traces(
                found,
                c4,
                self.mapping(mapping, c4),
                sla_limit_ms=limits.limit_ms if limits else None,
                title=word("Order %s", lang) % order if order else "",
                lang=lang,
            )
        svg = render_svg(c4, overlay, cache_dir=settings.DATA_DIR / "diagrams")
        Path(out).write_text(svg, encoding="utf-8")
        self.stdout.write(f"wrote {out}")

    def do_drift(self, model, mapping, traces, since, until, json, **_):
        c4 = self.model(model)
        report = drift(c4, self.mapping(mapping, c4), self.traces(traces), since, until)
        if json:
            self.stdout.write(_dumps(report))
            return
        for key in ("undocumented", "unobserved", "unobservable"):
            self.stdout.write(f"{key}:")
            for item in report[key]:
                self.stdout.write(f"  {item['source']} -> {item['target']}")
        self.stdout.write(
            "unmapped services: " + ", ".join(u["service"] for u in report["unmapped_services"])
        )

    def do_rules_import(self, file, model, **_):
        c4 = self.model(model)
        count = import_rules(self.mapping(file, c4))
        self.stdout.write(f"stored {count} rules from {file}")

    def do_rules_export(self, file, **_):
        text = _dumps(export_rules())
        if file:
            Path(file).write_text(text + "\n", encoding="utf-8")
        else:
            self.stdout.write(text)


def json_load(path: str):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
