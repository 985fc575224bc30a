"""One trace made ready for its page, once: tree order, critical path, overview.

A stored trace of several chunks comes with its layout (explorer.analysis.layout, computed at
ingest): the page reads the overview and the chunks of the rows it shows, never the whole
trace, unless it searches in it or draws it (the statistics per operation come with the
layout). For any other trace, the tree order and the critical path are computed from the
whole trace and go to the shared cache as compact bytes (shared by the worker processes, so
scrolling never recomputes them). Prepared traces stay in a small in-process cache bounded by
span count (explorer.caching), so the rows endpoint does not fetch and decode a huge trace
again for every window. Nothing here is redacted: pages redact what they show.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from explorer.analysis import OperationStatistics, SpanTree
from explorer.analysis.layout import (
    FlameRows,
    TraceOverview,
    TreeOrder,
    critical_positions,
    tree_order,
)
from explorer.caching import LocalCache, SharedCache, cache_key
from explorer.sources.base import ReadsStoredLayouts, SourceError
from explorer.traces.model import Span, Trace
from explorer.web.waterfall import (
    Bucket,
    histogram,
    minimap,
    row_services,
    rows_below_service_entries,
    rows_of_services,
    rows_to_collapse,
)

CACHE_SECONDS = 600
LRU_MAX_SPANS = 3_000_000
LRU_SECONDS = 120  # a trace still receiving late spans is fetched again after this


class ReadsTraces(Protocol):
    """What prepared_trace reads from: traces by id (a TraceSource, or one upload's traces)."""

    name: str

    def get_trace(self, trace_id: str) -> Trace: ...


class TraceChanged(SourceError):
    """Spans were merged into a stored trace since its layout was read: prepare it again."""


@dataclass
class PreparedTrace:
    trace_id: str
    order: TreeOrder
    critical: set[int]  # positions of spans on the critical path
    start_ns: int
    duration_ns: int
    services: list[str]
    error_count: int
    buckets: list[Bucket]
    warnings: list[str]
    # The whole trace, its spans at the positions `order` refers to; read on first use when
    # the page was prepared from a stored layout, which `fetch` reads spans by position from.
    _trace: Trace | None = field(default=None, repr=False)
    _load: Callable[[], Trace] | None = field(default=None, repr=False)
    _fetch: Callable[[list[int]], Mapping[int, Span] | None] | None = field(
        default=None, repr=False
    )
    _stream: Callable[[], Iterable[list[Span]]] | None = field(default=None, repr=False)
    _positions: dict[str, int] | None = field(default=None, repr=False)
    _stats: list | None = field(default=None, repr=False)
    _rows: array | None = field(default=None, repr=False)
    _depth_rows: dict[int, list[int]] = field(default_factory=dict, repr=False)
    _max_depth: int | None = field(default=None, repr=False)
    _row_services: tuple[array, array] | None = field(default=None, repr=False)
    # A stored layout's (service names, service of each position), when it keeps them.
    _stored_services: tuple[list[str], array] | None = field(default=None, repr=False)
    # Unpacks a stored layout's flame rows (explorer.web.flame_columns): None when it has none.
    _flame_rows: Callable[[], FlameRows | None] | None = field(default=None, repr=False)
    _folds: dict[object, list[int]] = field(default_factory=dict, repr=False)

    @property
    def trace(self) -> Trace:
        if self._trace is None:
            assert self._load is not None  # prepared from a layout, which gives the loader
            self._trace = self._load()
        return self._trace

    @property
    def stored_services(self) -> tuple[list[str], array] | None:
        """The stored layout's (service names, service index of each row), if it keeps them."""
        return self._stored_services

    def stored_flame(self) -> FlameRows | None:
        """The stored layout's flame rows, if it keeps them (raises LayoutError if corrupt)."""
        return None if self._flame_rows is None else self._flame_rows()

    @property
    def whole(self) -> bool:
        """Whether the whole trace is in memory (else only its layout)."""
        return self._trace is not None

    @property
    def spans(self) -> list[Span]:
        return self.trace.spans

    def spans_at(self, positions: Iterable[int]) -> Sequence[Span] | Mapping[int, Span]:
        """The spans at these positions (indexable by position), without reading the whole
        trace when it comes from a stored layout."""
        if self._trace is not None or self._fetch is None:
            return self.spans
        found = self._fetch(list(positions))
        if found is None:
            raise TraceChanged(f"trace {self.trace_id} changed while it was read")
        return found

    def each_span(self) -> Iterator[tuple[int, Span]]:
        """(position, span) of every span. The chunks of a stored layout are read one at a
        time and not kept, so a search that stops at its first results reads little."""
        if self._trace is not None or self._stream is None:
            yield from enumerate(self.spans)
            return
        position = 0
        for chunk in self._stream():
            for span in chunk:
                yield position, span
                position += 1
        if position != len(self.order):
            raise TraceChanged(f"trace {self.trace_id} changed while it was read")

    def position(self, span_id: str, row: int | None = None) -> int | None:
        """The position of the (first) span of this id; `row`, where the span is thought to
        be, spares reading the whole trace of a stored layout when it is right."""
        if row is not None and 0 <= row < len(self.order):
            at = self.order.order[row]
            if self.spans_at([at])[at].span_id == span_id:
                return at
        if self._positions is None:
            positions: dict[str, int] = {}
            for i, span in enumerate(self.spans):
                positions.setdefault(span.span_id, i)
            self._positions = positions
        return self._positions.get(span_id)

    def row_of(self, position: int) -> int:
        """The row number of a span position (the inverse of the order, built on first use)."""
        if isinstance(self.order.order, range):
            return position
        if self._rows is None:
            rows = array("i", bytes(4 * len(self.order)))
            for row, at in enumerate(self.order.order):
                rows[at] = row
            self._rows = rows
        return self._rows[position]

    @property
    def max_depth(self) -> int:
        if self._max_depth is None:
            self._max_depth = max(self.order.depth, default=0)
        return self._max_depth

    def rows_at_depth(self, depth: int) -> list[int]:
        """Rows at `depth` or deeper with children (kept: asked again for every window)."""
        if depth not in self._depth_rows:
            self._depth_rows[depth] = rows_to_collapse(self.order, depth)
        return self._depth_rows[depth]

    def row_services(self) -> tuple[array, array]:
        """Per row, its service's index in `services` and whether its parent has the same
        service (explorer.web.waterfall.row_services): from a stored layout that keeps the
        services, else by reading each span once, chunk by chunk; 5 bytes a row, kept."""
        if self._row_services is None:
            index = {name: i for i, name in enumerate(self.services)}

            def index_of(name: str) -> int:
                if name not in index:  # a service the overview does not list
                    index[name] = len(index)
                    self.services.append(name)
                return index[name]

            if self._stored_services is not None:
                names, stored = self._stored_services
                ours = [index_of(name) for name in names]
                by_position = array("i", (ours[s] for s in stored))
            else:
                by_position = array("i", bytes(4 * len(self.order)))
                for position, span in self.each_span():
                    by_position[position] = index_of(span.resource.service_name)
            self._row_services = row_services(self.order, by_position)
        return self._row_services

    def service_rows(self, chosen: frozenset[int]) -> list[int]:
        """Rows with children of the services at these indexes (kept, like the levels)."""
        if chosen not in self._folds:
            services, _inside = self.row_services()
            self._folds[chosen] = rows_of_services(self.order, services, chosen)
        return self._folds[chosen]

    def rows_below_entries(self) -> list[int]:
        """Rows with children inside their parent's service (kept)."""
        if "entries" not in self._folds:
            _services, inside = self.row_services()
            self._folds["entries"] = rows_below_service_entries(self.order, inside)
        return self._folds["entries"]

    def operation_stats(self):
        """Self time and statistics per operation: from a stored layout, else computed on
        first use."""
        if self._stats is None:
            statistics = OperationStatistics()
            statistics.add_trace(self.trace)
            self._stats = statistics.operations()
        return self._stats


_tree_orders = SharedCache("default", CACHE_SECONDS)


def _order_key(scope: str, trace: Trace) -> str:
    # The span count is in the key: a trace that grew (late spans ingested) is recomputed.
    return cache_key("tree-order", scope, trace.trace_id, len(trace.spans))


def prepare(trace: Trace, scope: str) -> PreparedTrace:
    """A trace's page from the whole trace."""
    spans = trace.spans
    key = _order_key(scope, trace)
    cached = _tree_orders.get(key)
    if cached is not None:
        order_bytes, critical_bytes = cached
        order = TreeOrder.from_bytes(order_bytes)
        critical_positions_found = array("i")
        critical_positions_found.frombytes(critical_bytes)
        critical = set(critical_positions_found)
    else:
        tree = SpanTree.build(spans)
        order = tree_order(spans, tree)
        critical = critical_positions(trace, tree)
        _tree_orders.put(key, (order.to_bytes(), array("i", sorted(critical)).tobytes()))
    start = trace.start_ns
    duration = max(trace.end_ns - start, 0)
    return PreparedTrace(
        trace_id=trace.trace_id,
        order=order,
        critical=critical,
        start_ns=start,
        duration_ns=duration,
        services=sorted(trace.services),
        error_count=sum(1 for s in spans if s.is_error),
        buckets=histogram(spans, start, duration),
        warnings=trace.warnings,
        _trace=trace,
    )


def prepare_stored(source: ReadsStoredLayouts, overview: TraceOverview) -> PreparedTrace:
    """A stored trace's page from its layout: rows are positions in the stored order."""
    layout = overview.layout
    trace_id, span_count = overview.trace_id, overview.span_count

    def load() -> Trace:
        # Positions must be the layout's rows: a trace that grew since is read again.
        spans = [span for chunk in source.iter_spans(trace_id) for span in chunk]
        if len(spans) != span_count:
            raise TraceChanged(f"trace {trace_id} changed while it was read")
        return Trace(trace_id, spans, overview.warnings)

    return PreparedTrace(
        trace_id=trace_id,
        order=layout.tree(),
        critical=set(layout.critical),
        start_ns=overview.start_ns,
        duration_ns=overview.duration_ns,
        services=overview.services,
        error_count=overview.error_count,
        buckets=minimap(layout.counts, layout.errors),
        warnings=overview.warnings,
        _load=load,
        _fetch=lambda rows: source.trace_rows(trace_id, rows, span_count),
        _stream=lambda: source.iter_spans(trace_id),
        _stats=layout.operations,
        _stored_services=(
            (layout.service_names, layout.row_services)
            if layout.service_names is not None and layout.row_services is not None
            else None
        ),
        _flame_rows=layout.flame_rows,
    )


_recent: LocalCache[PreparedTrace] = LocalCache(
    "prepared traces", LRU_MAX_SPANS, LRU_SECONDS, weigh=lambda prepared: len(prepared.order)
)


def prepared_trace(source: ReadsTraces, trace_id: str, scope: str | None = None) -> PreparedTrace:
    """The prepared trace of a source (raises the source's TraceNotFound / SourceError)."""
    key = (scope or source.name, trace_id)
    found = _recent.get(key)
    if found is not None:
        return found
    if isinstance(source, ReadsStoredLayouts) and (
        (stored := source.trace_overview(trace_id)) is not None
    ):
        prepared = prepare_stored(source, stored)
    else:
        prepared = prepare(source.get_trace(trace_id), key[0])
    return _recent.put(key, prepared)


def forget(scope: str, trace_id: str) -> None:
    """Drop one trace (of a source name or upload scope) from the in-process cache: it
    changed under its page."""
    _recent.pop((scope, trace_id))
