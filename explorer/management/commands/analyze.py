"""`manage.py analyze PATH...`: critical paths, the service graph and per-operation statistics of
trace files (any supported format), printed as tables or as JSON."""

from __future__ import annotations

import orjson
from django.core.management.base import BaseCommand, CommandError

from explorer.analysis.report import analyse, as_json, as_text
from explorer.store.ingest import Rejection, expand_paths
from explorer.traces.model import Trace
from explorer.traces.normalise import normalise
from explorer.traces.parsers import FORMATS, iter_file


class Command(BaseCommand):
    help = (
        "Analyse traces from files, folders (recursively) or glob patterns: --critical-path "
        "(Jaeger UI's sections per trace), --service-graph (Tempo's edges over all traces), "
        "--stats (per operation); all three when none is given. Problems go to stderr; the good "
        "traces are still analysed, and the exit status is non-zero when anything was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--critical-path", action="store_true", help="critical path per trace")
        parser.add_argument("--service-graph", action="store_true", help="service graph edges")
        parser.add_argument("--stats", action="store_true", help="statistics per operation")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--format", choices=FORMATS, help="read every file as this format (default: detect)"
        )

    def handle(self, *args, **options):
        wanted = [options["critical_path"], options["service_graph"], options["stats"]]
        if not any(wanted):
            wanted = [True, True, True]
        traces, problems, warnings = read_traces(options["paths"], options["format"])
        for warning in warnings:
            self.stderr.write(f"warning: {warning}")
        for problem in problems:
            self.stderr.write(f"rejected: {problem}")
        analysis = analyse(
            traces, critical_paths=wanted[0], service_graph=wanted[1], stats=wanted[2]
        )
        if options["json"]:
            self.stdout.write(orjson.dumps(as_json(analysis)).decode())
        else:
            self.stdout.write(as_text(analysis), ending="")
        if problems:
            raise CommandError(f"{len(problems)} rejected", returncode=1)


def read_traces(paths: list[str], fmt: str | None) -> tuple[list[Trace], list[str], list[str]]:
    """Every trace in the paths (spans of one trace id from several documents merged, in order
    of first appearance), what was rejected and what was repaired."""
    parts: dict[str, list[Trace]] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for path in expand_paths(paths):
        if isinstance(path, Rejection):
            problems.append(str(path))
            continue
        for result in iter_file(path, fmt=fmt):
            problems.extend(str(p) for p in result.errors)
            warnings.extend(str(w) for w in result.warnings)
            for trace in result.traces:
                parts.setdefault(trace.trace_id, []).append(trace)
    traces = []
    for group in parts.values():
        if len(group) == 1:
            traces.append(group[0])
        else:
            traces.extend(normalise(span for trace in group for span in trace.spans))
    return traces, problems, warnings
