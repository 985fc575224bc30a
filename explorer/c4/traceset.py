"""Traces from files for the C4 commands: a file or a folder of files, merged by trace id."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from explorer.traces.model import Trace
from explorer.traces.parsers import iter_file
from explorer.traces.vocabulary import ORDER_KEY


def read_traces(path: str | Path) -> tuple[list[Trace], list[str]]:
    """All traces under `path` (a file, or every file in a folder, recursively), with the
    spans of one trace id merged across documents; problems come back as messages."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    merged: dict[str, Trace] = {}
    seen: dict[str, set[str]] = {}
    problems: list[str] = []
    for file in files:
        for result in iter_file(file):
            problems.extend(str(p) for p in result.errors)
            for trace in result.traces:
                target = merged.setdefault(trace.trace_id, Trace(trace.trace_id))
                ids = seen.setdefault(trace.trace_id, set())
                for span in trace.spans:
                    if span.span_id not in ids:
                        ids.add(span.span_id)
                        target.spans.append(span)
                target.warnings.extend(trace.warnings)
    return list(merged.values()), problems


def traces_of_order(traces: Iterable[Trace], order_id: str) -> list[Trace]:
    """The traces any span (or resource) of which carries order.id == order_id, by start time."""
    found = [
        t
        for t in traces
        if any(
            str(s.attributes.get(ORDER_KEY, s.resource.attributes.get(ORDER_KEY))) == order_id
            for s in t.spans
        )
    ]
    return sorted(found, key=lambda t: t.start_ns)
