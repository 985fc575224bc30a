"""The waterfall of one trace, for huge traces too. Framework-free.

A trace is shown as its span tree in depth-first order (children by start time). Rows are
addressed by their position in that full order ("row number"); a collapsed row hides the rows
of its subtree, which in depth-first order are the contiguous run row+1 .. end[row]. So the
visible rows for any set of collapsed rows, and any window of them, come from the order and
the subtree ends alone, without walking the tree again. The order (explorer.analysis.layout) is
computed when the store writes a trace of several chunks, else once per trace and cached.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from explorer.analysis.layout import HISTOGRAM_BUCKETS, TreeOrder, bucket_counts
from explorer.traces.model import Span

BAR_SCALE = 1000.0  # bars are drawn in a 0..1000 wide SVG viewBox
EVENT_MARKS = 20  # events marked on one bar at most (the details list them all)


def svg_number(value: float) -> str:
    """A number for SVG geometry or a data attribute: a dot, never the page language's comma."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def hidden_runs(tree: TreeOrder, collapsed: Iterable[int]) -> list[tuple[int, int]]:
    """The runs of rows [first, stop) hidden by the collapsed rows (nested ones absorbed)."""
    runs: list[tuple[int, int]] = []
    size = len(tree)
    for row in sorted(set(collapsed)):
        if not 0 <= row < size:
            continue
        first, stop = row + 1, tree.end[row]
        if stop <= first:
            continue
        if runs and first < runs[-1][1]:
            continue  # inside a run already hidden
        runs.append((first, stop))
    return runs


def visible_count(tree: TreeOrder, runs: list[tuple[int, int]]) -> int:
    return len(tree) - sum(stop - first for first, stop in runs)


def visible_index(row: int, runs: list[tuple[int, int]]) -> int | None:
    """The index among visible rows of a row, or None when it is hidden."""
    hidden_before = 0
    for first, stop in runs:
        if row < first:
            break
        if row < stop:
            return None
        hidden_before += stop - first
    return row - hidden_before


def visible_window(
    tree: TreeOrder, runs: list[tuple[int, int]], offset: int, limit: int
) -> list[int]:
    """Row numbers of the visible rows offset .. offset+limit."""
    if offset < 0 or limit <= 0:
        return []
    # Walk the runs: each one shifts the visible index of the rows after it.
    row = offset
    for first, stop in runs:
        if row < first:
            break
        row += stop - first
    result: list[int] = []
    starts = [first for first, _ in runs]
    at = bisect.bisect_right(starts, row)
    size = len(tree)
    while row < size and len(result) < limit:
        if at < len(runs) and row == runs[at][0]:
            row = runs[at][1]
            at += 1
            continue
        result.append(row)
        row += 1
    return result


@dataclass(slots=True)
class EventMark:
    """A span event as a tick on its bar (name still to be redacted)."""

    name: str
    offset_ns: int  # from the trace's start
    x: float  # in BAR_SCALE units


@dataclass(slots=True)
class Row:
    """One line of the waterfall, everything a template needs (text still to be redacted)."""

    row: int
    span_id: str
    name: str
    service: str
    depth: int
    has_children: bool
    collapsed: bool
    offset_ns: int
    duration_ns: int
    error: bool
    critical: bool
    bar_x: float
    bar_width: float
    start_ns: int
    events: list[EventMark]


def build_rows(
    spans: Sequence[Span] | Mapping[int, Span],
    tree: TreeOrder,
    rows: Iterable[int],
    collapsed: set[int],
    critical: set[int],
    trace_start_ns: int,
    trace_duration_ns: int,
) -> list[Row]:
    """Row data for the given row numbers; `spans` holds (at least) the spans at their
    positions; `critical` the positions on the critical path. Bars are in BAR_SCALE units of
    the trace's duration."""
    scale = BAR_SCALE / trace_duration_ns if trace_duration_ns > 0 else 0.0
    result = []
    for row in rows:
        position = tree.order[row]
        span = spans[position]
        offset = span.start_ns - trace_start_ns
        duration = max(span.end_ns - span.start_ns, 0)
        x = min(max(offset * scale, 0.0), BAR_SCALE)
        width = max(min(duration * scale, BAR_SCALE - x), 1.0)
        result.append(
            Row(
                row=row,
                span_id=span.span_id,
                name=span.name,
                service=span.resource.service_name,
                depth=tree.depth[row],
                has_children=tree.end[row] > row + 1,
                collapsed=row in collapsed,
                offset_ns=offset,
                duration_ns=duration,
                error=span.is_error,
                critical=position in critical,
                bar_x=round(x, 2),
                bar_width=round(width, 2),
                start_ns=span.start_ns,
                events=event_marks(span, trace_start_ns, scale),
            )
        )
    return result


def event_marks(span: Span, trace_start_ns: int, scale: float) -> list[EventMark]:
    """The first EVENT_MARKS events of a span, placed on the trace's time scale."""
    marks = []
    for event in span.events[:EVENT_MARKS]:
        offset = event.time_ns - trace_start_ns
        x = min(max(offset * scale, 0.0), BAR_SCALE)
        marks.append(EventMark(event.name, offset, round(x, 2)))
    return marks


@dataclass(slots=True)
class Bucket:
    x: float  # left edge, 0..100
    spans: int
    errors: int
    height: float  # 0..100, relative to the fullest bucket

    @property
    def top(self) -> float:
        return round(100 - self.height, 2)

    @property
    def svg_top(self) -> str:
        return svg_number(self.top)

    @property
    def svg_x(self) -> str:
        return svg_number(self.x)

    @property
    def svg_height(self) -> str:
        return svg_number(self.height)


def histogram(
    spans: Iterable[Span], start_ns: int, duration_ns: int, buckets: int = HISTOGRAM_BUCKETS
) -> list[Bucket]:
    """How many spans (and errors) start in each slice of the trace: the minimap."""
    return minimap(*bucket_counts(spans, start_ns, duration_ns, buckets))


def minimap(counts: list[int], errors: list[int]) -> list[Bucket]:
    """The minimap's bars from the span and error counts of its buckets."""
    top = max(counts, default=0) or 1
    size = len(counts)
    return [
        Bucket(round(100 * i / size, 2), c, e, round(100 * c / top, 2))
        for i, (c, e) in enumerate(zip(counts, errors, strict=True))
    ]


def rows_to_collapse(tree: TreeOrder, depth: int) -> list[int]:
    """The rows at `depth` or deeper that have children: collapsing them shows the tree to
    that depth, and expanding one of them shows one more level under it."""
    depths, ends = tree.depth, tree.end
    return [row for row in range(len(tree)) if depths[row] >= depth and ends[row] > row + 1]


def parse_collapsed(text: str | None, size: int, most: int = 2000) -> set[int]:
    """The `collapsed` URL parameter: comma-separated row numbers; anything else is ignored."""
    result: set[int] = set()
    for part in (text or "").split(",")[:most]:
        part = part.strip()
        if part.isdigit() and len(part) < 12:
            value = int(part)
            if value < size:
                result.add(value)
    return result


def row_services(tree: TreeOrder, position_services: Sequence[int]) -> tuple[array, array]:
    """Per row: the index of its span's service, and whether its parent row has the same
    service (1) or it is where a service is entered (0: a root or a call from another one).
    A row's parent is the last row before it one level up (depth-first order)."""
    services = array("i", bytes(4 * len(tree)))
    inside = array("b", bytes(len(tree)))
    by_depth: list[int] = []  # the service of the open ancestor at each depth
    for row, position in enumerate(tree.order):
        service = position_services[position]
        depth = tree.depth[row]
        del by_depth[depth:]
        services[row] = service
        inside[row] = 1 if by_depth and by_depth[-1] == service else 0
        by_depth.append(service)
    return services, inside


def rows_of_services(tree: TreeOrder, services: array, chosen: Set[int]) -> list[int]:
    """The rows of the chosen services that have children: collapsing them folds every
    subtree those services open."""
    ends = tree.end
    return [row for row, s in enumerate(services) if s in chosen and ends[row] > row + 1]


def rows_below_service_entries(tree: TreeOrder, inside: array) -> list[int]:
    """The rows with children whose parent is of their own service: collapsing them shows
    each service where it is entered and its first level, calls to other services from that
    level included."""
    ends = tree.end
    return [row for row, same in enumerate(inside) if same and ends[row] > row + 1]
