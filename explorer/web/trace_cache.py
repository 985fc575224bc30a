"""One trace made ready for its page, once: tree order, critical path, overview.

The tree order and the critical path go to the Django cache as compact bytes (shared by the
worker processes, so scrolling never recomputes them); the decoded spans stay in a small
in-process LRU bounded by span count, so the rows endpoint does not fetch and decode a huge
trace again for every window. Nothing here is redacted: pages redact what they show.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field

from django.core.cache import cache

from explorer.analysis import OperationStatistics, SpanTree, critical_path
from explorer.sources.base import TraceSource
from explorer.traces.model import Span, Trace
from explorer.web.waterfall import Bucket, TreeOrder, histogram, tree_order

CACHE_SECONDS = 600
LRU_MAX_SPANS = 3_000_000
LRU_SECONDS = 120  # a trace still receiving late spans is fetched again after this


@dataclass
class PreparedTrace:
    trace: Trace
    order: TreeOrder
    critical: set[int]  # positions of spans on the critical path
    start_ns: int
    duration_ns: int
    services: list[str]
    error_count: int
    buckets: list[Bucket]
    _positions: dict[str, int] | None = field(default=None, repr=False)
    _stats: list | None = field(default=None, repr=False)
    _rows: array | None = field(default=None, repr=False)

    @property
    def spans(self) -> list[Span]:
        return self.trace.spans

    def position(self, span_id: str) -> int | None:
        if self._positions is None:
            positions: dict[str, int] = {}
            for i, span in enumerate(self.trace.spans):
                positions.setdefault(span.span_id, i)
            self._positions = positions
        return self._positions.get(span_id)

    def row_of(self, position: int) -> int:
        """The row number of a span position (the inverse of the order, built on first use)."""
        if self._rows is None:
            rows = array("l", bytes(8 * len(self.order)))
            for row, at in enumerate(self.order.order):
                rows[at] = row
            self._rows = rows
        return self._rows[position]

    def operation_stats(self):
        """Self time and statistics per operation, computed on first use."""
        if self._stats is None:
            statistics = OperationStatistics()
            statistics.add_trace(self.trace)
            self._stats = statistics.operations()
        return self._stats


def _order_key(scope: str, trace: Trace) -> str:
    # The span count is in the key: a trace that grew (late spans ingested) is recomputed.
    return f"web:order:{scope}:{trace.trace_id}:{len(trace.spans)}"


def prepare(trace: Trace, scope: str) -> PreparedTrace:
    spans = trace.spans
    key = _order_key(scope, trace)
    cached = cache.get(key)
    if cached is not None:
        order_bytes, critical_bytes = cached
        order = TreeOrder.from_bytes(order_bytes)
        critical_positions = array("l")
        critical_positions.frombytes(critical_bytes)
        critical = set(critical_positions)
    else:
        tree = SpanTree.build(spans)
        order = tree_order(spans, tree)
        positions: dict[str, int] = {}
        for i, span in enumerate(spans):
            positions.setdefault(span.span_id, i)
        critical = {positions[s.span_id] for s in critical_path(trace, tree)
                    if s.span_id in positions}
        cache.set(key, (order.to_bytes(), array("l", sorted(critical)).tobytes()),
                  CACHE_SECONDS)
    start = trace.start_ns
    duration = max(trace.end_ns - start, 0)
    return PreparedTrace(
        trace=trace, order=order, critical=critical, start_ns=start, duration_ns=duration,
        services=sorted(trace.services), error_count=sum(1 for s in spans if s.is_error),
        buckets=histogram(spans, start, duration))


_lock = threading.Lock()
_recent: OrderedDict[tuple[str, str], tuple[float, PreparedTrace]] = OrderedDict()


def prepared_trace(source: TraceSource, trace_id: str, scope: str | None = None) -> PreparedTrace:
    """The prepared trace of a source (raises the source's TraceNotFound / SourceError)."""
    key = (scope or source.name, trace_id)
    now = time.monotonic()
    with _lock:
        found = _recent.get(key)
        if found is not None and found[0] > now:
            _recent.move_to_end(key)
            return found[1]
    prepared = prepare(source.get_trace(trace_id), key[0])
    with _lock:
        _recent[key] = (now + LRU_SECONDS, prepared)
        total = sum(len(p.spans) for _, p in _recent.values())
        while len(_recent) > 1 and total > LRU_MAX_SPANS:
            _, (_, dropped) = _recent.popitem(last=False)
            total -= len(dropped.spans)
    return prepared


def forget_all() -> None:
    """Empty the in-process cache (tests that change the store under the same trace ids)."""
    with _lock:
        _recent.clear()
