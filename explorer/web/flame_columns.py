"""The flame graph of a trace, computed on the server so that a million spans stay usable.

A trace is read once into columns per row of its tree order (start offset, duration, self
time, depth, parent, subtree end, service and name as table indexes): a stored trace's layout
(explorer.analysis.layout) keeps all but self time, parent and reach, which follow from them,
so no span is decoded; from a layout stored before it kept them, the rows and depths come from
the layout and the chunks are decoded one at a time. The columns stay in a small in-process
cache bounded by span count. Each request then picks the boxes of one view (the whole trace,
or the subtree of one row): only the spans at least a pixel wide at the view's width, whose
parent is drawn too; what is narrower is counted under its nearest drawn ancestor ("hidden").
So a million-span trace answers with a few thousand boxes. Nothing here is redacted: the view does.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from array import array
from collections import Counter
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, and_, floordiv, mul, sub

from explorer.analysis.layout import FlameRows, LayoutError
from explorer.caching import LocalCache
from explorer.web.trace_cache import PreparedTrace

log = logging.getLogger("explorer.web")
MAX_BOXES = 20_000  # per answer: past this the narrowest of the candidates are left out
COLUMN_SECONDS = 600
COLUMN_MAX_SPANS = 2_000_000  # about 50 bytes a span: 100 MB at most per process
DENSITY_BUCKETS = 400
DENSITY_SAMPLE = 50_000


@dataclass(slots=True)
class FlameColumns:
    """Per row of the tree order: offsets from the trace's start, in ns."""

    start: array  # q
    duration: array  # q
    self_ns: array  # q: duration minus the time its children cover
    depth: array  # i
    parent: array  # i: -1 for a root
    end: array  # i: first row after the subtree
    service: array  # i: index into services
    name: array  # i: index into names
    error: bytearray
    services: list[str]
    names: list[str]
    reach: array  # q: per row, the latest end in its subtree (a view's right edge)

    def __len__(self) -> int:
        return len(self.start)


def build_columns(prepared: PreparedTrace) -> FlameColumns:
    """Read the trace once into columns by row: from its stored layout when that keeps what
    they need, else from its spans (a stored trace's chunk by chunk)."""
    try:
        stored = prepared.stored_flame()
    except LayoutError as exc:  # the rest of the layout decoded: its spans are still read
        log.warning("flame rows of trace %s cannot be read: %s", prepared.trace_id, exc)
        stored = None
    services = prepared.stored_services
    if stored is not None and services is not None and len(stored.name) == len(prepared.order):
        return _stored_columns(prepared, stored, services)
    return _read_columns(prepared)


def _stored_columns(
    prepared: PreparedTrace, stored: FlameRows, services: tuple[list[str], array]
) -> FlameColumns:
    """The columns of a stored layout, its times moved to offsets from the trace's start."""
    order = prepared.order
    start = stored.start
    shift = stored.origin_ns - prepared.start_ns
    if shift:
        start = array("q", map(add, start, repeat(shift)))
    error = bytearray(len(start))
    for row in stored.error_rows:
        error[row] = 1
    parent = _parents(order.depth)
    return FlameColumns(
        start,
        stored.duration,
        _self_times(start, stored.duration, parent),
        array("i", order.depth),
        parent,
        array("i", order.end),
        services[1],
        stored.name,
        error,
        services[0],
        stored.names,
        _reach(start, stored.duration, parent),
    )


def _read_columns(prepared: PreparedTrace) -> FlameColumns:
    """The columns from the spans (a stored trace's chunk by chunk)."""
    order = prepared.order
    n = len(order)
    start, duration = array("q", bytes(8 * n)), array("q", bytes(8 * n))
    service, name = array("i", bytes(4 * n)), array("i", bytes(4 * n))
    error = bytearray(n)
    services: dict[str, int] = {}
    names: dict[str, int] = {}
    origin = prepared.start_ns
    row_of = None if isinstance(order.order, range) else prepared.row_of  # stored: identity
    for position, span in prepared.each_span():
        row = position if row_of is None else row_of(position)
        begin = span.start_ns
        start[row] = begin - origin
        duration[row] = span.end_ns - begin if span.end_ns > begin else 0
        text = span.resource.service_name
        service[row] = services.setdefault(text, len(services))
        text = span.name
        name[row] = names.setdefault(text, len(names))
        error[row] = span.is_error
    parent = _parents(order.depth)
    return FlameColumns(
        start,
        duration,
        _self_times(start, duration, parent),
        array("i", order.depth),
        parent,
        array("i", order.end),
        service,
        name,
        error,
        list(services),
        list(names),
        _reach(start, duration, parent),
    )


def _parents(depth: array) -> array:
    """The row of each row's parent (-1 for a root), from the depths of the tree order."""
    # latest[d + 1]: the latest row at depth d, which in tree order is the parent of the next
    # row at depth d + 1; latest[0] stays -1, the parent of a root.
    latest = [-1] * (max(depth, default=0) + 2)
    parent = [-1] * len(depth)
    for row, level in enumerate(depth):
        parent[row] = latest[level]
        latest[level + 1] = row
    return array("i", parent)


def _self_times(start: array, duration: array, parent: array) -> array:
    """Duration minus the union of the children's time within the span. Children follow
    their parent in start order (tree order), so one sweep per parent suffices. One plain
    loop over the rows (a million in about half a second): the ends are summed at C speed
    first, and what is covered never exceeds the duration (children are cut to it)."""
    finish_of = list(map(add, start, duration))  # lists: indexed faster than arrays
    covered = [0] * len(start)
    reach = list(start)  # per parent: how far its children cover it already
    for p, begin, finish in zip(parent, start, finish_of, strict=True):
        if p < 0:
            continue
        before = reach[p]
        if begin < before:
            begin = before
        limit = finish_of[p]
        if finish > limit:
            finish = limit
        if finish > begin:
            covered[p] += finish - begin
            reach[p] = finish
    return array("q", map(sub, duration, covered))


def _reach(start: array, duration: array, parent: array) -> array:
    """Per row, the latest end in its subtree (children after their parent: one pass back)."""
    reach = list(map(add, start, duration))  # a list: indexed faster than an array
    for p, last in zip(reversed(parent), reversed(reach), strict=True):
        if p >= 0 and last > reach[p]:
            reach[p] = last
    return array("q", reach)


_columns: LocalCache[FlameColumns] = LocalCache(
    "flame graph columns", COLUMN_MAX_SPANS, COLUMN_SECONDS, weigh=len
)


def flame_columns(scope: str, prepared: PreparedTrace) -> FlameColumns:
    """The columns of a prepared trace, read once per process while they are kept."""
    key = (scope, prepared.trace_id, len(prepared.order))
    found = _columns.get(key)
    if found is None:
        found = _columns.put(key, build_columns(prepared))
    return found


@dataclass(frozen=True)
class FlameView:
    """The boxes of one view: rows ascending, with the extent they are drawn in."""

    root: int  # -1: the whole trace
    start_ns: int  # the view's left edge, an offset from the trace's start
    duration_ns: int
    rows: list[int]
    hidden: list[int]  # per box: rows of its subtree not drawn (too narrow)
    min_ns: int  # boxes narrower than this are not drawn
    window: tuple[int, int] | None = None  # the time range asked for, as clamped
    # Spans of the subtree starting in each of DENSITY_BUCKETS slices of the view, when some
    # are not drawn: where the narrow ones may be, to drag over.
    density: list[int] | None = None


def flame_view(
    columns: FlameColumns, root: int, width_px: int, window: tuple[int, int] | None = None
) -> FlameView:
    """The boxes at least a pixel wide (of `width_px`) in the subtree of `root` (-1: all),
    over its whole time or over `window` (offsets from the trace's start, clamped to it)."""
    n = len(columns)
    if root < 0 or root >= n:
        root, first, last = -1, 0, n
    else:
        first, last = root, columns.end[root]
    if first >= last:
        return FlameView(-1, 0, 0, [], [], 0)
    # A subtree's view starts with its root: a child starting earlier (clock skew) is cut at
    # the left edge.
    whole = (0, max(columns.reach)) if root < 0 else (columns.start[root], columns.reach[root])
    begin, finish = whole
    if window is not None:
        begin, finish = max(begin, window[0]), min(finish, window[1])
        window = (begin, finish) if finish > begin else None
        if window is None:
            begin, finish = whole
    extent = max(finish - begin, 1)
    min_ns = max(extent // max(width_px, 1), 1)
    candidates = _wide(columns, first, last, min_ns, window)
    if len(candidates) > MAX_BOXES:
        durations = columns.duration
        # The MAX_BOXES longest (ties cut in row order: parents before their children).
        min_ns = heapq.nlargest(MAX_BOXES, (durations[r] for r in candidates))[-1]
        candidates = _wide(columns, first, last, min_ns, window)[:MAX_BOXES]
    rows = _connected(columns.parent, candidates, root)
    end = columns.end
    hidden = [
        end[r] - r - 1 - (bisect.bisect_left(rows, end[r]) - bisect.bisect_right(rows, r))
        for r in rows
    ]
    density = _density(columns, first, last, begin, extent) if any(hidden) else None
    return FlameView(root, begin, extent, rows, hidden, min_ns, window, density)


def _density(columns: FlameColumns, first: int, last: int, begin: int, extent: int) -> list[int]:
    """About how many spans of rows [first, last) start in each slice of [begin, begin +
    extent): every step-th row counted (at most DENSITY_SAMPLE, at C speed), times step."""
    step = max((last - first) // DENSITY_SAMPLE, 1)
    starts = columns.start[first:last:step]
    slices = DENSITY_BUCKETS
    offsets = map(sub, starts, repeat(begin))
    counts = Counter(map(floordiv, map(mul, offsets, repeat(slices)), repeat(extent)))
    return [counts.get(i, 0) * step for i in range(slices)]


def _wide(
    columns: FlameColumns, first: int, last: int, min_ns: int, window: tuple[int, int] | None
) -> list[int]:
    """Rows in [first, last) at least min_ns long that overlap the window: a scan at C speed
    (map and compress), no Python code per row."""
    durations = columns.duration[first:last]
    keep = map(min_ns.__le__, durations)
    if window is not None:
        starts = columns.start[first:last]
        ends = map(add, starts, durations)
        overlap = map(and_, map(window[1].__gt__, starts), map(window[0].__lt__, ends))
        keep = map(and_, keep, overlap)
    return list(compress(range(first, last), keep))


def _connected(parent: array, candidates: list[int], root: int) -> list[int]:
    """The candidates whose parent is drawn (so each box sits under its parent's box)."""
    kept: list[int] = [root] if root >= 0 else []  # the zoomed span itself, however short
    drawn: set[int] = set(kept)
    for row in candidates:
        up = parent[row]
        if row != root and (up in drawn or (root < 0 and up < 0)):
            kept.append(row)
            drawn.add(row)
    return kept
