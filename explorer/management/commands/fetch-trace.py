"""`python manage.py fetch-trace TRACE_ID [--backend NAME] [--json]`: one trace from a
configured backend, normalised, as JSON or as an indented outline."""

import base64
import json

from django.core.management.base import BaseCommand, CommandError

from explorer.composition import get_source
from explorer.sources.base import SourceError
from explorer.traces.model import Trace


def json_value(value):
    """An attribute value as JSON: bytes become base64, nested values are converted too."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def trace_as_json(trace: Trace) -> dict:
    return {
        "trace_id": trace.trace_id,
        "spans": [
            {
                "span_id": s.span_id,
                "parent_id": s.parent_id,
                "name": s.name,
                "service": s.service,
                "kind": s.kind.name.lower(),
                "start_ns": s.start_ns,
                "end_ns": s.end_ns,
                "status": s.status_code.name.lower(),
                "attributes": {k: json_value(v) for k, v in s.attributes.items()},
            }
            for s in sorted(trace.spans, key=lambda s: (s.start_ns, s.span_id))
        ],
    }


def outline(trace: Trace) -> list[str]:
    """The spans as an indented tree: service, name, duration in ms, status."""
    children: dict[str | None, list] = {}
    ids = {s.span_id for s in trace.spans}
    for s in sorted(trace.spans, key=lambda s: s.start_ns):
        children.setdefault(s.parent_id if s.parent_id in ids else None, []).append(s)
    lines = [f"trace {trace.trace_id}: {len(trace.spans)} spans"]
    stack = [(s, 1) for s in reversed(children.get(None, []))]
    while stack:
        s, depth = stack.pop()
        status = f" [{s.status_code.name.lower()}]" if s.is_error else ""
        ms = s.duration_ns / 1e6
        lines.append(f"{'  ' * depth}{s.service}: {s.name} ({ms:.1f} ms){status}")
        stack.extend((c, depth + 1) for c in reversed(children.get(s.span_id, [])))
    return lines


class Command(BaseCommand):
    help = "Fetch one trace from a configured backend and print it normalised."

    def add_arguments(self, parser):
        parser.add_argument("trace_id")
        parser.add_argument("--backend", help="a name from EXPLORER_BACKENDS (default: default)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")

    def handle(self, *args, trace_id, backend, as_json: bool, **options):
        try:
            trace = get_source(backend).get_trace(trace_id)
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        if as_json:
            self.stdout.write(json.dumps(trace_as_json(trace), ensure_ascii=False, indent=1))
        else:
            self.stdout.write("\n".join(outline(trace)))
