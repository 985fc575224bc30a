"""Self time of spans and statistics per operation (service + span name).

A span's self time is its duration minus the time covered by at least one of its direct
children, each child cut to the span's own interval: parallel children are counted once, and a
child that outlives its parent only counts while the parent runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from explorer.analysis.tree import SpanTree
from explorer.traces.gcpause import gc_paused
from explorer.traces.model import StatusCode, Trace

ERROR = StatusCode.ERROR


def self_times(tree: SpanTree) -> list[int]:
    """Self time in nanoseconds of every span, by position in the trace."""
    spans = tree.spans
    starts = [span.start_ns for span in spans]
    ends = [span.end_ns for span in spans]
    result = [end - start if end > start else 0 for start, end in zip(starts, ends, strict=True)]
    for i, children in enumerate(tree.children):
        if not children:
            continue
        start, end = starts[i], ends[i]
        if len(children) == 1:
            c = children[0]
            covered = min(ends[c], end) - max(starts[c], start)
            if covered > 0:
                result[i] -= covered
            continue
        covered = 0
        run_start = run_end = start
        for c in sorted(children, key=starts.__getitem__):
            lo, hi = starts[c], ends[c]
            if lo < start:
                lo = start
            if hi > end:
                hi = end
            if hi <= lo:
                continue
            if lo > run_end:
                covered += run_end - run_start
                run_start, run_end = lo, hi
            elif hi > run_end:
                run_end = hi
        result[i] -= covered + run_end - run_start
    return result


@dataclass(slots=True, frozen=True)
class OperationStats:
    service: str
    operation: str
    count: int
    total_ns: int
    self_ns: int
    min_ns: int
    max_ns: int
    errors: int

    @property
    def mean_ns(self) -> float:
        return self.total_ns / self.count


class OperationStatistics:
    """Statistics per (service, operation) over any number of traces."""

    def __init__(self) -> None:
        # (service, operation) -> [count, total, self total, min, max, errors]
        self._rows: dict[tuple[str, str], list[int]] = {}

    @gc_paused()
    def add_trace(self, trace: Trace, tree: SpanTree | None = None) -> None:
        if tree is None:
            tree = SpanTree.of(trace)
        rows = self._rows
        for span, self_ns in zip(trace.spans, self_times(tree), strict=True):
            duration = span.end_ns - span.start_ns
            if duration < 0:
                duration = 0
            error = span.status_code == ERROR
            key = (span.resource.service_name, span.name)
            row = rows.get(key)
            if row is None:
                rows[key] = [1, duration, self_ns, duration, duration, int(error)]
                continue
            row[0] += 1
            row[1] += duration
            row[2] += self_ns
            if duration < row[3]:
                row[3] = duration
            elif duration > row[4]:
                row[4] = duration
            row[5] += error

    def operations(self) -> list[OperationStats]:
        return [
            OperationStats(service, operation, *row)
            for (service, operation), row in sorted(self._rows.items())
        ]


def operation_stats(traces: Iterable[Trace]) -> list[OperationStats]:
    statistics = OperationStatistics()
    for trace in traces:
        statistics.add_trace(trace)
    return statistics.operations()
