"""The waterfall layout of a trace, computed once when the store stores it (framework-free).

A trace is shown as its span tree in depth-first order, children by start time ("tree order";
a row is a position in it). A collapsed row hides the rows of its subtree, which in that order
are the contiguous run row+1 .. end[row]. The store writes the spans of a trace in tree order,
and keeps with it the TraceLayout: each row's depth and subtree end, the rows on the critical path,
the minimap counts and the statistics per operation. So the first page of a trace of a million
spans needs the layout and the one chunk that holds its first rows; a window at any offset, the
chunks that cover it; its statistics table, no chunk at all.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress
from operator import sub

import orjson

from explorer.analysis.critical_path import critical_path
from explorer.analysis.stats import OperationStatistics, OperationStats
from explorer.analysis.tree import SpanTree
from explorer.traces.model import Span, StatusCode, Trace, start_of

HISTOGRAM_BUCKETS = 100
# 2 added the statistics per operation (and later each row's service); 3 what the flame graph
# draws of each row. Layouts stored before decode without them.
LAYOUT_VERSION = 3
_LITTLE = sys.byteorder == "little"


class LayoutError(ValueError):
    """Stored layout bytes that cannot be decoded (corrupt or from an unknown version)."""


@dataclass(slots=True)
class TreeOrder:
    """order[row] = position of the span in the trace; depth[row]; end[row] = first row after
    the row's subtree (so the row has children exactly when end[row] > row + 1). For spans
    stored in tree order `order` is range(n): the row is the position."""

    order: Sequence[int]
    depth: array
    end: array

    def __len__(self) -> int:
        return len(self.order)

    def to_bytes(self) -> bytes:
        return array("i", self.order).tobytes() + self.depth.tobytes() + self.end.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> TreeOrder:
        whole = array("i")
        whole.frombytes(data)
        n = len(whole) // 3
        return cls(whole[:n], whole[n : 2 * n], whole[2 * n :])


def tree_order(spans: Sequence[Span], tree: SpanTree | None = None) -> TreeOrder:
    """The depth-first order of the span tree, roots and children by start time. Spans no
    root reaches (a parent cycle in bad input) follow as extra roots, so every span shows.
    Iterative: a chain of a million spans cannot overflow the stack."""
    tree = tree or SpanTree.build(spans)
    n = len(spans)
    order, depth, end, up = (array("i", bytes(4 * n)) for _ in range(4))
    seen = bytearray(n)
    children = tree.children
    start_of = [s.start_ns for s in spans]
    row = 0
    for root in [*tree.roots, *range(n)]:
        if seen[root]:
            continue
        # Stack of (position, depth, row of the parent); children pushed in reverse start
        # order so the earliest pops first.
        stack = [(root, 0, -1)]
        while stack:
            position, level, parent_row = stack.pop()
            if seen[position]:
                continue
            seen[position] = 1
            order[row], depth[row], up[row] = position, level, parent_row
            kids = children[position]
            if len(kids) > 1:
                kids = sorted(kids, key=start_of.__getitem__)
            stack.extend((kid, level + 1, row) for kid in reversed(kids))
            row += 1
    # Subtree ends, bottom-up: a row's subtree ends where its last descendant's does.
    for r in range(n - 1, -1, -1):
        if end[r] < r + 1:
            end[r] = r + 1
        p = up[r]
        if p >= 0 and end[r] > end[p]:
            end[p] = end[r]
    return TreeOrder(order, depth, end)


def critical_positions(trace: Trace, tree: SpanTree | None = None) -> set[int]:
    """Positions of the spans on the trace's critical path (the first span of an id)."""
    positions: dict[str, int] = {}
    for i, span in enumerate(trace.spans):
        positions.setdefault(span.span_id, i)
    return {positions[s.span_id] for s in critical_path(trace, tree) if s.span_id in positions}


def bucket_counts(
    spans: Iterable[Span], start_ns: int, duration_ns: int, buckets: int = HISTOGRAM_BUCKETS
) -> tuple[list[int], list[int]]:
    """How many spans (and errors) start in each of `buckets` slices of the trace."""
    counts = [0] * buckets
    errors = [0] * buckets
    width = max(duration_ns, 1)
    last = buckets - 1
    error = StatusCode.ERROR
    for span in spans:
        b = (span.start_ns - start_ns) * buckets // width
        b = 0 if b < 0 else (last if b > last else b)
        counts[b] += 1
        if span.status_code is error:
            errors[b] += 1
    return counts, errors


@dataclass(slots=True)
class FlameRows:
    """What the flame graph draws of each row besides its depth and service, so that its first
    view of a stored trace decodes no span: times as offsets from `origin_ns` (the trace's
    earliest start), the span name as an index into `names` (names repeat: a trace of a
    million spans has a few hundred), and the rows that failed. Self time follows from the
    times and the tree (explorer.web.flame_columns)."""

    origin_ns: int
    start: array  # q: per row, its start minus origin_ns
    duration: array  # q: per row, end minus start (0 when it ends before it starts)
    names: list[str]
    name: array  # i: per row, index into names
    error_rows: array  # i: rows of failed spans, ascending

    @classmethod
    def of(cls, ordered: Sequence[Span], origin_ns: int) -> FlameRows | None:
        """The rows of spans in tree order; None when a time does not fit 64 bits (hostile
        timestamps): then the flame graph reads the spans."""
        try:
            start = array("q", (s.start_ns - origin_ns for s in ordered))
            duration = array("q", (max(s.end_ns - s.start_ns, 0) for s in ordered))
        except OverflowError:
            return None
        names: dict[str, int] = {}
        name = array("i", (names.setdefault(s.name, len(names)) for s in ordered))
        errors = array("i", compress(range(len(ordered)), (s.is_error for s in ordered)))
        return cls(origin_ns, start, duration, list(names), name, errors)

    def head(self) -> list:
        return [self.origin_ns, self.names, len(self.error_rows)]

    def numbers(self) -> tuple[list[array], list[array]]:
        """(32-bit parts, 64-bit parts). Starts are stored as the step from the row before:
        rows of a subtree start close together, so the steps are small and compress well."""
        steps = array("q", self.start[:1])
        steps.extend(map(sub, self.start[1:], self.start[:-1]))
        return [self.name, self.error_rows], [steps, self.duration]

    @classmethod
    def read(cls, head: list, n: int, small: array, large: array) -> FlameRows:
        """From head() and the numbers after those of the other parts (already in order)."""
        origin, names, error_count = head
        if len(small) != n + error_count or len(large) != 2 * n:
            raise LayoutError(f"stored layout has flame rows of the wrong size for {n} rows")
        name, error_rows = small[:n], small[n:]
        if name and (min(name) < 0 or max(name) >= len(names)):
            raise LayoutError("stored layout names a span name it does not list")
        if error_rows and (min(error_rows) < 0 or max(error_rows) >= n):
            raise LayoutError("stored layout has a failed row beyond its rows")
        duration = large[n:]
        if duration and min(duration) < 0:
            raise LayoutError("stored layout has a span of negative duration")
        start = array("q", accumulate(large[:n]))
        return cls(origin, start, duration, names, name, error_rows)


@dataclass(slots=True, frozen=True)
class PackedFlameRows:
    """Flame rows as a stored layout holds them: the header part, the 32-bit numbers and the
    64-bit times still as stored bytes."""

    head: list
    small: array
    large: bytes

    def unpack(self, n: int) -> FlameRows:
        try:
            times = _from_little("q", _unshuffle(self.large))
            return FlameRows.read(self.head, n, self.small, times)
        except (TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(f"stored layout has bad flame rows: {exc}") from exc


def _fits_json(part: object) -> object:
    """The part if JSON can hold it (not a number beyond 64 bits, nor a lone surrogate in a
    name), else None: the page then computes it from the spans."""
    try:
        orjson.dumps(part)
    except orjson.JSONEncodeError:
        return None
    return part


def _to_little(parts: list[array]) -> bytes:
    if not _LITTLE:
        parts = [array(p.typecode, p) for p in parts]
        for p in parts:
            p.byteswap()
    return b"".join(p.tobytes() for p in parts)


def _shuffle(data: bytes) -> bytes:
    """The bytes of 64-bit numbers grouped by place (all the lowest bytes, then the next...):
    durations of a few ms to minutes differ in their low bytes only, so the high ones make long
    runs that compress well (3.4 -> 0.9 bytes a span on the benchmark's trace). At C speed."""
    return b"".join(data[place::8] for place in range(8))


def _unshuffle(data: bytes) -> bytes:
    if len(data) % 8:
        raise ValueError(f"stored layout has {len(data)} bytes of 64-bit numbers")
    out = bytearray(len(data))
    count = len(data) // 8
    for place in range(8):
        out[place::8] = data[place * count : (place + 1) * count]
    return bytes(out)


def _from_little(typecode: str, data: bytes) -> array:
    numbers = array(typecode)
    numbers.frombytes(data)
    if not _LITTLE:
        numbers.byteswap()
    return numbers


@dataclass(slots=True)
class TraceLayout:
    """What a trace page needs besides the spans of the rows it shows."""

    depth: array  # per row of the tree order
    end: array  # per row: first row after its subtree
    critical: array  # rows on the critical path, ascending
    counts: list[int]  # spans starting in each minimap bucket
    errors: list[int]  # of which failed
    # explorer.analysis.stats of the whole trace; None when not stored (a layout of version
    # 1, or totals beyond 64 bits): then they are computed from the spans.
    operations: list[OperationStats] | None = None
    # The service of each row, as an index into `service_names` (collapse by service reads
    # no span); None in layouts stored before they were kept.
    service_names: list[str] | None = None
    row_services: array | None = None
    # What the flame graph draws; None in layouts stored before (version 2 and older). As
    # decoded, still packed: see flame_rows().
    flame: FlameRows | PackedFlameRows | None = None

    def __len__(self) -> int:
        return len(self.depth)

    def flame_rows(self) -> FlameRows | None:
        """The flame rows, unpacked on first use: a trace page that never draws its flame
        graph spares the work (0.2 s for a million rows). Raises LayoutError if they are
        corrupt (checked only now)."""
        if isinstance(self.flame, PackedFlameRows):
            self.flame = self.flame.unpack(len(self.depth))
        return self.flame

    def tree(self) -> TreeOrder:
        return TreeOrder(range(len(self.depth)), self.depth, self.end)

    def encode(self) -> bytes:
        operations = None
        if self.operations is not None:
            operations = _fits_json(
                [
                    [s.service, s.operation, s.count, s.total_ns, s.self_ns]
                    + [s.min_ns, s.max_ns, s.errors]
                    for s in self.operations
                ]
            )
        names = None if self.row_services is None else _fits_json(self.service_names)
        flame, flame_numbers, rows = None, None, self.flame_rows()
        if rows is not None:
            try:
                flame_numbers = rows.numbers()
            except OverflowError:  # starts a step apart beyond 64 bits: hostile timestamps
                pass
            else:
                flame = _fits_json(rows.head())
        header = orjson.dumps(
            [LAYOUT_VERSION, len(self.depth), len(self.critical), self.counts, self.errors]
            + [operations, names, flame]
        )
        small = [self.depth, self.end, self.critical]
        if names is not None and self.row_services is not None:
            small.append(self.row_services)
        large: list[array] = []
        if flame is not None and flame_numbers is not None:
            flame_small, large = flame_numbers
            small += flame_small
        body = _to_little(small) + _shuffle(_to_little(large))
        return zlib.compress(header + b"\n" + body, 1)

    @classmethod
    def decode(cls, data: bytes) -> TraceLayout:
        try:
            raw = zlib.decompress(data)
            cut = raw.index(b"\n")
            header = orjson.loads(raw[:cut])
            version = header[0]
            if version not in (1, 2, LAYOUT_VERSION):
                raise LayoutError(f"stored layout has unknown version {version!r}")
            n, critical, counts, errors, *rest = header[1:]
            rest += [None] * (3 - len(rest))
            operations = None
            if version > 1 and rest[0] is not None:
                operations = [OperationStats(*row) for row in rest[0]]
            names, flame_head = (rest[1] if version > 1 else None), rest[2]
            # The 64-bit numbers (the flame rows' times) follow all the 32-bit ones.
            small_size = (3 if names is not None else 2) * n + critical
            if flame_head is not None:
                small_size += n + flame_head[2]
            body = raw[cut + 1 :]
            numbers = _from_little("i", body[: 4 * small_size])
            large = body[4 * small_size :]
        except (
            zlib.error,
            orjson.JSONDecodeError,
            IndexError,
            KeyError,
            TypeError,
            ValueError,
        ) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(f"stored layout cannot be decoded: {exc}") from exc
        if len(numbers) != small_size or len(large) != (16 * n if flame_head else 0):
            raise LayoutError(f"stored layout has {len(numbers)} numbers for {n} rows")
        cut = 2 * n + critical
        services = None
        if names is not None:
            services = numbers[cut : cut + n]
            if services and (min(services) < 0 or max(services) >= len(names)):
                raise LayoutError("stored layout names a service it does not list")
            cut += n
        flame = None if flame_head is None else PackedFlameRows(flame_head, numbers[cut:], large)
        return cls(
            numbers[:n],
            numbers[n : 2 * n],
            numbers[2 * n : 2 * n + critical],
            counts,
            errors,
            operations,
            names,
            services,
            flame,
        )


@dataclass(slots=True)
class TraceOverview:
    """A stored trace's overview (what its summary row holds) and layout."""

    trace_id: str
    span_count: int
    start_ns: int
    duration_ns: int
    services: list[str]
    error_count: int
    warnings: list[str]
    layout: TraceLayout


def lay_out(trace: Trace) -> tuple[list[Span], TraceLayout]:
    """The trace's spans (sorted by start time) in tree order, and their layout."""
    spans = trace.spans
    tree = SpanTree.build(spans)
    order = tree_order(spans, tree)
    row_of = array("i", bytes(4 * len(spans)))
    for row, position in enumerate(order.order):
        row_of[position] = row
    critical = array("i", sorted(row_of[p] for p in critical_positions(trace, tree)))
    start = spans[0].start_ns if spans else 0
    end = max((s.end_ns for s in spans), default=start)
    counts, errors = bucket_counts(spans, start, end - start)
    ordered = [spans[p] for p in order.order]
    names: dict[str, int] = {}
    services = array("i", (names.setdefault(s.resource.service_name, len(names)) for s in ordered))
    layout = TraceLayout(
        order.depth,
        order.end,
        critical,
        counts,
        errors,
        operation_table(trace.trace_id, spans, ordered, tree),
        list(names),
        services,
        FlameRows.of(ordered, start),
    )
    return ordered, layout


def operation_table(
    trace_id: str, spans: list[Span], ordered: list[Span], tree: SpanTree
) -> list[OperationStats]:
    """explorer.analysis's statistics per operation of the trace as StoreSource.get_trace
    will answer it: the stored (tree) order sorted by start time. With unique span ids the
    order of the spans changes nothing and the tree of `spans` serves; with equal ids, which
    copy gets the children depends on it, so the tree is built on that order."""
    statistics = OperationStatistics()
    if len({s.span_id for s in spans}) == len(spans):
        statistics.add_trace(Trace(trace_id, spans), tree)
    else:
        by_start = sorted(ordered, key=start_of)
        statistics.add_trace(Trace(trace_id, by_start), SpanTree.build(by_start))
    return statistics.operations()
