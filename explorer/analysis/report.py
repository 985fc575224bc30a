"""Run the analyses over a batch of traces and render the results as JSON-ready data or text.

One SpanTree per trace is built once and shared by the critical path and the statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from explorer.analysis.critical_path import CriticalPathSection, critical_path
from explorer.analysis.service_graph import Edge, ServiceGraph
from explorer.analysis.stats import OperationStatistics, OperationStats
from explorer.analysis.tree import SpanTree
from explorer.traces.model import Trace


@dataclass(slots=True)
class TraceCriticalPath:
    trace: Trace
    sections: list[CriticalPathSection]


@dataclass(slots=True)
class Analysis:
    critical_paths: list[TraceCriticalPath] | None = None  # None: not asked for
    edges: list[Edge] | None = None
    operations: list[OperationStats] | None = None


def analyse(
    traces: Iterable[Trace], *, critical_paths: bool, service_graph: bool, stats: bool
) -> Analysis:
    paths: list[TraceCriticalPath] = []
    graph = ServiceGraph()
    statistics = OperationStatistics()
    for trace in traces:
        tree = SpanTree.build(trace.spans) if critical_paths or stats else None
        if critical_paths:
            paths.append(TraceCriticalPath(trace, critical_path(trace, tree)))
        if service_graph:
            graph.add_trace(trace)
        if stats:
            statistics.add_trace(trace, tree)
    return Analysis(
        paths if critical_paths else None,
        graph.edges() if service_graph else None,
        statistics.operations() if stats else None,
    )


def as_json(analysis: Analysis) -> dict:
    document: dict = {}
    if analysis.critical_paths is not None:
        document["traces"] = [
            {
                "trace_id": path.trace.trace_id,
                "critical_path": [
                    {"span_id": s.span_id, "start_us": s.start_us, "end_us": s.end_us}
                    for s in path.sections
                ],
            }
            for path in analysis.critical_paths
        ]
    if analysis.edges is not None:
        document["edges"] = [
            {
                "client": e.client,
                "server": e.server,
                "connection_type": e.connection_type,
                "total": e.total,
                "failed": e.failed,
            }
            for e in analysis.edges
        ]
    if analysis.operations is not None:
        document["operations"] = [
            {
                "service": o.service,
                "operation": o.operation,
                "count": o.count,
                "total_us": o.total_ns / 1000,
                "self_us": o.self_ns / 1000,
                "min_us": o.min_ns / 1000,
                "mean_us": o.mean_ns / 1000,
                "max_us": o.max_ns / 1000,
                "errors": o.errors,
            }
            for o in analysis.operations
        ]
    return document


def as_text(analysis: Analysis) -> str:
    parts = []
    if analysis.critical_paths is not None:
        for path in analysis.critical_paths:
            names = {s.span_id: f"{s.service}: {s.name}" for s in path.trace.spans}
            rows = [
                [s.span_id, names.get(s.span_id, ""), s.start_us, s.end_us, s.end_us - s.start_us]
                for s in path.sections
            ]
            parts.append(
                f"Critical path of trace {_printable(path.trace.trace_id)} "
                f"({len(rows)} sections, latest first)\n"
                + _table(["span", "operation", "start µs", "end µs", "µs"], rows)
            )
    if analysis.edges is not None:
        rows = [
            [e.client, e.server, e.connection_type or "-", e.total, e.failed]
            for e in analysis.edges
        ]
        parts.append(
            "Service graph\n" + _table(["client", "server", "type", "requests", "failed"], rows)
        )
    if analysis.operations is not None:
        rows = [
            [
                o.service,
                o.operation,
                o.count,
                _ms(o.total_ns),
                _ms(o.self_ns),
                _ms(o.min_ns),
                _ms(o.mean_ns),
                _ms(o.max_ns),
                o.errors,
            ]
            for o in analysis.operations
        ]
        parts.append(
            "Operations (times in ms)\n"
            + _table(
                ["service", "operation", "count", "total", "self", "min", "mean", "max", "errors"],
                rows,
            )
        )
    return "\n\n".join(parts) + "\n"


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.3f}"


def _table(header: list[str], rows: list[list]) -> str:
    if not rows:
        return "  (none)"
    cells = [header] + [[_printable(str(c)) for c in row] for row in rows]
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(header))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  "
        + "  ".join(
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    )


def _is_number(value: object) -> bool:
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _printable(text: str) -> str:
    """Names come from traces: keep control characters (terminal escapes) out of the output."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
