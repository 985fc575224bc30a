"""Per hour, per operation and customer type: spans, errors, SLA breaches and a latency sketch
(what explorer.store.hourly_operations keeps). Pure, so that ingest's worker processes compute
them while preparing a trace (explorer.store.prepare).

An operation is (element, service, operation name, span kind): the element the mapping in
effect at ingest gives the span's resource ("" when none), and the name as
explorer.journeys.anomalies.operation_of groups spans for baselines (the span name, unless it
is generic). The customer type is the trace's first `customer.type` value ("" when it has
none). Each span counts in the hour it starts.

The latency sketch is DDSketch's (the `ddsketch` library's LogarithmicMapping): a span's
duration falls in bin ceil(log_gamma(ns)), gamma = (1 + a) / (1 - a) with a relative accuracy
a = 1 %, so every quantile read from it is within 1 % of the true value at that rank.
Sketches of different hours merge by adding their bins: a window's percentiles come from
whole hours without reading a trace. SERVER spans of an endpoint with an SLA limit also count
exactly how many took longer than it (the limit in effect at ingest, kept with the count).
"""

from __future__ import annotations

import bisect
import math
import pickle
import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain

import orjson
from ddsketch.mapping import LogarithmicMapping

from explorer.c4.mapping import Mapping
from explorer.journeys.anomalies import NAMING_ATTRIBUTES, generic_name, operation_of
from explorer.journeys.state_graph import Sla
from explorer.store.varint import put_varint, read_varint
from explorer.traces.model import Span, SpanKind, StatusCode
from explorer.traces.vocabulary import CUSTOMER_TYPE_KEY, ORDER_KEY

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
HOUR_NS = 3600 * 10**9
# The slowest spans kept per row, as examples to link to (a page lists a bounded number).
EXAMPLES = 3
CUSTOMER_TYPE_LENGTH = 64

# hour, element, service, operation, span kind (its number), customer type
OpKey = tuple[int, str, str, str, int, str]
# duration (ns), trace id, span id, order id ("" when none)
Example = tuple[int, str, str, str]


# Examples as stored (HourlyOperation.slowest): b"" for none, else a version byte and each
# example in turn: its duration as a zigzag varint, a flags byte, the trace id (16 raw bytes
# when _RAW_TRACE, else a varint length and UTF-8), the span id (8 raw bytes when _RAW_SPAN,
# else likewise) and the order id (varint length and UTF-8). About 40 bytes an example where
# JSON took 60: ids come from spans as hex, but any text (hostile, NUL, lone surrogates)
# round-trips exactly.
EXAMPLES_VERSION = 1
_RAW_TRACE, _RAW_SPAN = 1, 2
_LOWER_HEX = frozenset("0123456789abcdef")


def pack_examples(examples: Iterable[Example]) -> bytes:
    out = bytearray()
    for duration, trace_id, span_id, order_id in examples:
        if not out:
            out.append(EXAMPLES_VERSION)
        number = duration << 1 if duration >= 0 else (-duration << 1) - 1  # zigzag
        while number > 0x7F:  # put_varint, inline: this runs for every row ingest writes
            out.append(number & 0x7F | 0x80)
            number >>= 7
        out.append(number)
        raw_trace, raw_span = _is_hex(trace_id, 32), _is_hex(span_id, 16)
        out.append((_RAW_TRACE if raw_trace else 0) | (_RAW_SPAN if raw_span else 0))
        if raw_trace and raw_span:  # spans' ids as they come: one conversion (ingest's path)
            out += bytes.fromhex(trace_id + span_id)
        else:
            for text, raw in ((trace_id, raw_trace), (span_id, raw_span)):
                if raw:
                    out += bytes.fromhex(text)
                else:
                    _put_text(out, text)
        data = order_id.encode("utf-8", "surrogatepass")
        if len(data) < 0x80:  # _put_text, inline for a short order id
            out.append(len(data))
            out += data
        else:
            _put_text(out, order_id)
    return bytes(out)


def unpack_examples(data: bytes | memoryview) -> list[Example]:
    """pack_examples' examples back; ValueError on anything it did not write."""
    data = bytes(data)
    if not data:
        return []
    if data[0] != EXAMPLES_VERSION:
        raise ValueError(f"hourly examples: unknown format version {data[0]}")
    examples: list[Example] = []
    at = 1
    try:
        while at < len(data):
            zigzag, at = read_varint(data, at)
            flags = data[at]
            if flags == _RAW_TRACE | _RAW_SPAN:  # the usual: both ids hex
                trace_id, span_id = data[at + 1 : at + 17].hex(), data[at + 17 : at + 25].hex()
                at += 25
            else:
                trace_id, at = _get_text(data, at + 1, 16 if flags & _RAW_TRACE else 0)
                span_id, at = _get_text(data, at, 8 if flags & _RAW_SPAN else 0)
            if data[at] < 0x80:  # _get_text, inline for a short order id
                end = at + 1 + data[at]
                order_id, at = data[at + 1 : end].decode("utf-8", "surrogatepass"), end
            else:
                order_id, at = _get_text(data, at, 0)
            duration = zigzag >> 1 if not zigzag & 1 else -((zigzag + 1) >> 1)
            examples.append((duration, trace_id, span_id, order_id))
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"hourly examples: damaged at byte {at}: {exc}") from exc
    if at > len(data):
        raise ValueError(f"hourly examples: damaged, {at - len(data)} bytes missing at the end")
    return examples


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and _LOWER_HEX.issuperset(text)


def _put_text(out: bytearray, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    put_varint(out, len(data))
    out += data


def _get_text(data: bytes, at: int, raw: int) -> tuple[str, int]:
    """Raw bytes shown as lowercase hex (`raw` of them), or a length-prefixed UTF-8 text."""
    if raw:
        end = at + raw
        if end > len(data):
            raise IndexError("raw id cut short")
        return data[at:end].hex(), end
    size, at = read_varint(data, at)
    end = at + size
    if end > len(data):
        raise IndexError("text cut short")
    return data[at:end].decode("utf-8", "surrogatepass"), end


# An encoded sketch (Sketch.encode): b"" when it has no span; else one byte, the width of its
# counts (1, 2 or 4 bytes: the least its largest count fits in), then the indexes of its
# non-empty bins in increasing order as little-endian 16-bit numbers (a duration of 2**63 ns
# falls in bin 2,185), then their counts, little-endian, of that width. Migration 0013 wrote
# the sketches stored before in it (they had 32 bits for each index and each count).
_COUNT_TYPES = {1: "B", 2: "H", 4: "I"}


def _sketch_parts(data: bytes) -> tuple[int, bytes, bytes]:
    """(the counts' width, the indexes' bytes, the counts' bytes) of an encoded sketch;
    ValueError when its length does not fit the format."""
    width = data[0]
    bins, rest = divmod(len(data) - 1, 2 + width)
    if width not in _COUNT_TYPES or rest:
        raise ValueError(f"hourly sketch: {len(data)} bytes with counts of {width} bytes")
    return width, data[1 : 1 + 2 * bins], data[1 + 2 * bins :]


def _arrays(width: int, indexes: bytes, counts: bytes) -> tuple[array, array]:
    index_array, count_array = array("H"), array(_COUNT_TYPES[width])
    index_array.frombytes(indexes)
    count_array.frombytes(counts)
    if sys.byteorder != "little":
        index_array.byteswap()
        count_array.byteswap()
    return index_array, count_array


def encoded_bins(data: bytes) -> tuple[array, array]:
    """The bins' indexes (in increasing order) and counts of an encoded sketch."""
    if not data:
        return array("H"), array("B")
    return _arrays(*_sketch_parts(data))


def encode_bins(bins: dict[int, int]) -> bytes:
    """Counts by bin index (0 to 65,535) in the format of an encoded sketch, for any sparse
    histogram (the system map's hourly buckets too): the positive counts, each capped at 32
    bits; about 3 bytes a bin."""
    pairs = sorted(pair for pair in bins.items() if pair[1] > 0)
    if not pairs:
        return b""
    most = min(max(count for _, count in pairs), 0xFFFFFFFF)
    width = 1 if most <= 0xFF else 2 if most <= 0xFFFF else 4
    indexes = array("H", (index for index, _ in pairs))
    counts = array(_COUNT_TYPES[width], (min(count, most) for _, count in pairs))
    if sys.byteorder != "little":
        indexes.byteswap()
        counts.byteswap()
    return bytes((width,)) + indexes.tobytes() + counts.tobytes()


def decode_bins(data: bytes) -> dict[int, int]:
    """encode_bins' counts by bin index; ValueError when the length does not fit the format."""
    return dict(zip(*encoded_bins(data), strict=True))


@dataclass(slots=True)
class Sketch:
    """DDSketch's bins, sparse: index 0 holds durations of 0 or less (clock skew), index
    k + 1 the durations of DDSketch key k (k >= 0: 1 ns and more)."""

    bins: dict[int, int] = field(default_factory=dict)

    def add(self, duration_ns: int) -> None:
        index = bin_of(duration_ns)
        self.bins[index] = self.bins.get(index, 0) + 1

    def merge(self, other: Sketch) -> None:
        bins = self.bins
        for index, count in other.bins.items():
            total = bins.get(index, 0) + count
            if total:
                bins[index] = total
            else:
                del bins[index]  # spans withdrawn (Figures.withdrawn)

    @property
    def count(self) -> int:
        return sum(self.bins.values())

    def encode(self) -> bytes:
        """The non-empty bins as encode_bins writes them: about 3 bytes a bin (8 before), a
        few dozen bins for an hour of one operation."""
        return encode_bins(self.bins)

    @classmethod
    def decode(cls, data: bytes) -> Sketch:
        sketch = cls()
        sketch.add_encoded(data)
        return sketch

    def add_encoded(self, data: bytes) -> None:
        """Merge a sketch as encode() wrote it, without making an object of it."""
        bins = self.bins
        for index, count in zip(*encoded_bins(data), strict=True):
            bins[index] = bins.get(index, 0) + count

    @classmethod
    def summed(cls, encoded: Iterable[bytes]) -> Sketch:
        """The sum of sketches as encode() wrote them: their indexes and counts joined, by
        the counts' width, into a few arrays and added up in a list by bin index (a window's
        page merges ten thousand of them: 2 times faster than add_encoded() one by one)."""
        parts: dict[int, tuple[list[bytes], list[bytes]]] = {}
        for data in encoded:
            if data:
                width, indexes, counts = _sketch_parts(data)
                found = parts.setdefault(width, ([], []))
                found[0].append(indexes)
                found[1].append(counts)
        if not parts:
            return cls()
        columns = [_arrays(width, b"".join(i), b"".join(c)) for width, (i, c) in parts.items()]
        totals = [0] * (max(max(column[0]) for column in columns) + 1)
        for column_indexes, column_counts in columns:
            for index, count in zip(column_indexes, column_counts, strict=True):
                totals[index] += count
        return cls({index: count for index, count in enumerate(totals) if count})

    def ordered(self) -> Iterator[tuple[float, int]]:
        """(value of the bin in ns, spans in it), fastest first."""
        for index in sorted(self.bins):
            yield bin_value_ns(index), self.bins[index]

    def quantile_ns(self, quantile: float) -> float | None:
        """The value at this quantile, ranked as DDSketch.get_quantile_value ranks it (rank
        q * (n - 1)); within RELATIVE_ACCURACY of the exact value at that rank."""
        total = self.count
        if total == 0:
            return None
        rank = quantile * (total - 1)
        seen = 0
        value = 0.0
        for value, count in self.ordered():
            seen += count
            if seen > rank:
                return value
        return value

    def above(self, duration_ns: float) -> int:
        """Spans in bins whose value is above this duration (within the sketch's accuracy:
        a span within 1 % of it may be counted on either side)."""
        return sum(count for value, count in self.ordered() if value > duration_ns)

    def mad_ns(self, median_ns: float) -> float:
        """The median absolute deviation from `median_ns`, from the bins' values."""
        deviations = sorted((abs(value - median_ns), count) for value, count in self.ordered())
        half = self.count / 2
        seen = 0
        for deviation, count in deviations:
            seen += count
            if seen >= half:
                return deviation
        return 0.0


_NAMING_ORDER = tuple(sorted(NAMING_ATTRIBUTES))
_MULTIPLIER = MAPPING._multiplier  # what MAPPING.key() uses, without its call per span


def bin_of(duration_ns: int) -> int:
    """The sketch's bin of a duration: MAPPING.key(duration) + 1 (test_hourly_figures checks
    that they agree), 0 for durations of 0 or less."""
    if duration_ns < 1:
        return 0
    return math.ceil(math.log(float(duration_ns), 2) * _MULTIPLIER) + 1


def bin_value_ns(index: int) -> float:
    return 0.0 if index == 0 else MAPPING.value(index - 1)


@dataclass(slots=True)
class Figures:
    """One row's numbers: spans, errors, and for SERVER spans of an endpoint with an SLA
    limit (`limit_ms`, in effect when they were counted) how many took longer than it."""

    count: int = 0
    errors: int = 0
    limit_ms: float | None = None
    over_limit: int = 0
    sketch: Sketch = field(default_factory=Sketch)
    slowest: list[Example] = field(default_factory=list)  # slowest first
    # Traces whose examples merge() drops from the figures it adds to (see withdrawn()).
    forget: set[str] = field(default_factory=set)

    def merge(self, other: Figures) -> None:
        self.count += other.count
        self.errors += other.errors
        self.over_limit += other.over_limit
        if other.limit_ms is not None:
            self.limit_ms = other.limit_ms
        self.sketch.merge(other.sketch)
        if other.forget:
            self.slowest = [e for e in self.slowest if e[1] not in other.forget]
            self.forget |= other.forget
        self.keep_examples(other.slowest)

    def withdrawn(self, trace_id: str) -> Figures:
        """What takes these figures of one trace back out of a row: negative counts and bins,
        and the trace's examples dropped."""
        return Figures(
            -self.count,
            -self.errors,
            None,
            -self.over_limit,
            Sketch({index: -count for index, count in self.sketch.bins.items()}),
            forget={trace_id},
        )

    def keep_examples(self, more: Iterable[Example]) -> None:
        kept = {(e[1], e[2]): e for e in (*self.slowest, *more)}  # a span once
        self.slowest = sorted(kept.values(), key=lambda e: (-e[0], e[1], e[2]))[:EXAMPLES]


def contributions(
    trace_id: str,
    spans: Iterable[Span],
    business: dict[str, list[str]],
    mapping: Mapping,
    sla: Sla | None,
) -> dict[OpKey, Figures]:
    """What these spans of one trace add, keyed by hour, operation and customer type."""
    counting = Counting(mapping, sla)
    counting.add(trace_id, spans, business)
    return counting.figures()


def packed_contributions(
    trace_id: str,
    spans: Iterable[Span],
    business: dict[str, list[str]],
    mapping: Mapping,
    sla: Sla | None,
) -> Packed:
    """packed(contributions(...)) of one trace's spans (each once, as merge_spans leaves
    them), without a Figures object a row: ingest's worker processes run this for every
    trace."""
    counting = Counting(mapping, sla)
    counting.add(trace_id, spans, business)
    return counting.packed_one_trace()


class Counting:
    """The figures of the spans of one trace or many (a receiver's request), summed as they
    are counted.

    This runs for every span: what depends on a span's resource, name and kind alone
    (element, limit, whether the name is the operation) is found once for all the traces, rows
    are plain counters until figures(), and operation_of() is asked only of spans whose name
    may not be their operation (a generic name, or one an attribute of theirs repeats)."""

    def __init__(self, mapping: Mapping, sla: Sla | None) -> None:
        self.mapping = mapping
        self.sla = sla
        # by customer type, then (resource id, name, kind); `_resources` keeps the ids'
        # resources alive (no id is reused while it keys a group)
        self._groups: dict[str, dict[tuple, _Group]] = {}
        self._resources: list = []
        # each resource's first equal one, by its id (comparing resources costs two calls)
        self._equal: dict[int, object] = {}
        self._first_equal: dict[object, object] = {}
        # the same groups by (first equal resource's id, service, name, kind, customer
        # type): traces counted together (a batch, a request) share the groups and rows of
        # equal resources
        self._shared_groups: dict[tuple, _Group] = {}

    def add(self, trace_id: str, spans: Iterable[Span], business: dict[str, list[str]]) -> None:
        customer_type = _first(business, CUSTOMER_TYPE_KEY)[:CUSTOMER_TYPE_LENGTH]
        order_id = _first(business, ORDER_KEY)
        groups = self._groups.setdefault(customer_type, {})
        error = StatusCode.ERROR
        log, ceil, multiplier = math.log, math.ceil, _MULTIPLIER  # local: faster
        naming = NAMING_ATTRIBUTES
        for span in spans:
            group_key = (id(span.resource), span.name, span.kind)
            group = groups.get(group_key)
            if group is None:
                group = groups[group_key] = self._group(span, customer_type)
            start = span.start_ns
            hour = start - start % HOUR_NS
            attributes = span.attributes
            if group.plain and (naming.isdisjoint(attributes) or group.names_other(attributes)):
                key: int | tuple[int, str] = hour
            else:
                key = (hour, operation_of(span))
            row = group.rows.get(key)
            if row is None:
                row = group.rows[key] = _Row(group.limit)
            duration = span.end_ns - start
            # _Row.add, inline: this runs for every span
            row.count += 1
            if span.status_code is error:
                row.errors += 1
            if duration > 0:
                index = ceil(log(float(duration), 2) * multiplier) + 1
            else:
                duration = index = 0
            bins = row.bins
            bins[index] = bins.get(index, 0) + 1
            if row.limit_ms is not None and duration / 1e6 > row.limit_ms:  # as sla.breaches
                row.over += 1
            if duration >= row.least or len(row.slowest) < EXAMPLES:
                row.keep((-duration, trace_id, span.span_id, order_id))

    def _group(self, span: Span, customer_type: str) -> _Group:
        resource = span.resource
        equal = self._equal.get(id(resource))
        if equal is None:
            self._resources.append(resource)
            equal = self._equal[id(resource)] = self._first_equal.setdefault(resource, resource)
        key = (id(equal), span.service, span.name, span.kind, customer_type)
        group = self._shared_groups.get(key)
        if group is None:
            group = self._shared_groups[key] = _Group(span, self.mapping, self.sla, customer_type)
        return group

    def figures(self) -> dict[OpKey, Figures]:
        out: dict[OpKey, Figures] = {}
        for key, row in self._keyed_rows():
            add(out, {key: row.figures()})
        return out

    def packed_one_trace(self) -> Packed:
        """packed(self.figures()) when the spans counted are one trace's, each once: a row's
        candidates, sorted as Figures.keep_examples sorts examples, are then its examples (no
        span twice in a row: its kind is part of the key)."""
        rows: dict[OpKey, _Row] = {}
        for key, row in self._keyed_rows():
            found = rows.get(key)
            rows[key] = row if found is None else found.merged(row)
        return _pack(
            [
                [
                    *key,
                    row.count,
                    row.errors,
                    row.limit_ms,
                    row.over,
                    [*chain(*row.bins.items())],
                    [[-d, trace, span, order] for d, trace, span, order in row.slowest[:EXAMPLES]],
                ]
                for key, row in rows.items()
            ]
        )

    def _keyed_rows(self) -> Iterator[tuple[OpKey, _Row]]:
        for group in self._shared_groups.values():
            element, service, kind, customer_type = (
                group.element,
                group.service,
                group.kind,
                group.customer_type,
            )
            for key, row in group.rows.items():
                hour, operation = (key, group.name) if isinstance(key, int) else key
                yield (hour, element, service, operation, kind, customer_type), row


class _Group:
    """What spans of one resource, name and kind share (in traces of one customer type):
    element, service, SLA limit, whether the name can be their operation (`plain`: it is not
    generic), and their rows by hour (or by hour and operation when operation_of decided)."""

    __slots__ = (
        "element",
        "service",
        "name",
        "stripped",
        "kind",
        "customer_type",
        "limit",
        "plain",
        "rows",
        "_named",
    )

    def __init__(self, span: Span, mapping: Mapping, sla: Sla | None, customer_type: str) -> None:
        self.service = span.service
        self.name = span.name
        self.kind = int(span.kind)
        self.customer_type = customer_type
        self.element, self.stripped, self.limit, self.plain = _shared(mapping, sla, span)
        self.rows: dict[int | tuple[int, str], _Row] = {}
        self._named: dict[tuple, bool] = {}  # names_other() by the naming attributes' values

    def names_other(self, attributes: dict) -> bool:
        """Whether no naming attribute of a span of the group repeats its name (operation_of
        then keeps the name), remembered by those attributes' values."""
        values = tuple(map(attributes.get, _NAMING_ORDER))
        try:
            found = self._named.get(values)
        except TypeError:  # a value that cannot be a key (a list)
            return self.stripped not in {str(value) for value in values}
        if found is None:
            found = self._named[values] = self.stripped not in {str(value) for value in values}
        return found


# What a group's spans share that the mapping and SLA decide, by (resource, service, name,
# kind), kept across traces (each trace is counted apart, with resources of its own, equal
# to other traces'): element, stripped name, SLA limit, plain.
_Shared = tuple[str, str, float | None, bool]
_shared_of: tuple[Mapping | None, Sla | None, dict[tuple, _Shared]] = (None, None, {})
_SHARED_MAX = 10_000


def forget_span_names() -> None:
    """Empty the memo of what groups of spans share: it is keyed by span names and resources,
    which may carry personal data (a customer to forget)."""
    global _shared_of
    _shared_of = (None, None, {})


def _shared(mapping: Mapping, sla: Sla | None, span: Span) -> _Shared:
    global _shared_of
    known_mapping, known_sla, found = _shared_of
    if known_mapping is not mapping or known_sla is not sla or len(found) > _SHARED_MAX:
        found = {}
        _shared_of = (mapping, sla, found)
    key = (span.resource, span.service, span.name, span.kind)
    shared = found.get(key)
    if shared is None:
        element = mapping.service_element(span.resource) or ""
        limit = None
        if sla is not None and element and span.kind == SpanKind.SERVER:
            limit = sla.limit_ms(element, span.name)
        shared = found[key] = (element, span.name.strip(), limit, not generic_name(span.name))
    return shared


class _Row:
    """One row's figures while spans are counted: plain counters, bins and candidates."""

    __slots__ = ("limit_ms", "count", "errors", "over", "bins", "slowest", "least")

    def __init__(self, limit_ms: float | None) -> None:
        self.limit_ms = limit_ms
        self.count = self.errors = self.over = 0
        self.bins: dict[int, int] = {}
        # (-duration, trace id, span id, order id): the slowest, ties kept
        self.slowest: list[tuple[int, str, str, str]] = []
        self.least = 0  # the EXAMPLES-th longest duration so far

    def keep(self, candidate: tuple[int, str, str, str]) -> None:
        """Keep a span among the slowest (longest first; ties with the least are kept)."""
        slowest = self.slowest
        bisect.insort(slowest, candidate)
        if len(slowest) >= EXAMPLES:
            self.least = -slowest[EXAMPLES - 1][0]
            while -slowest[-1][0] < self.least:
                slowest.pop()

    def merged(self, other: _Row) -> _Row:
        """A row of both rows' spans (rows of one key: Figures.merge's limit rule)."""
        row = _Row(other.limit_ms if other.limit_ms is not None else self.limit_ms)
        row.count = self.count + other.count
        row.errors = self.errors + other.errors
        row.over = self.over + other.over
        row.bins = dict(self.bins)
        for index, count in other.bins.items():
            row.bins[index] = row.bins.get(index, 0) + count
        for candidate in (*self.slowest, *other.slowest):
            if -candidate[0] >= row.least or len(row.slowest) < EXAMPLES:
                row.keep(candidate)
        return row

    def figures(self) -> Figures:
        figures = Figures(self.count, self.errors, self.limit_ms, self.over, Sketch(self.bins))
        figures.keep_examples((-d, trace, span, order) for d, trace, span, order in self.slowest)
        return figures


# Figures as one JSON document a trace, to send from ingest's worker processes: pickling a
# few dozen objects a trace cost more than counting its spans. A row a key: its six parts,
# count, errors, limit_ms, over_limit, bins as [index, count, ...] and slowest.
Packed = bytes


def packed(figures: dict[OpKey, Figures]) -> Packed:
    return _pack(
        [
            [
                *key,
                f.count,
                f.errors,
                f.limit_ms,
                f.over_limit,
                [*chain(*f.sketch.bins.items())],
                f.slowest,
            ]
            for key, f in figures.items()
        ]
    )


def _pack(rows: list[list]) -> Packed:
    try:
        return orjson.dumps(rows)
    except orjson.JSONEncodeError:  # text JSON cannot hold (a lone surrogate): pickled
        return _PICKLED + pickle.dumps(rows)


_PICKLED = b"P"  # JSON never starts so


def _rows(data: Packed) -> Iterator[tuple[OpKey, list]]:
    # Pickles only from packed(), in ingest's own worker processes.
    found = pickle.loads(data[1:]) if data[:1] == _PICKLED else orjson.loads(data or b"[]")  # noqa: S301
    for row in found:
        yield tuple(row[:6]), row[6:]


class Tally:
    """A batch's figures, summed from the packed figures of its traces at the cost of a few
    additions each (no object a trace); figures() gives them as Figures."""

    def __init__(self) -> None:
        self._rows: dict[OpKey, list] = {}  # count, errors, limit, over, bins, examples
        self._figures: dict[OpKey, Figures] = {}  # what came as Figures (pieces, moves)

    def add_packed(self, more: Packed) -> None:
        rows = self._rows
        for key, (count, errors, limit_ms, over, bins, slowest) in _rows(more):
            row = rows.get(key)
            if row is None:
                row = rows[key] = [0, 0, None, 0, {}, []]
            row[0] += count
            row[1] += errors
            if limit_ms is not None:
                row[2] = limit_ms
            row[3] += over
            found = row[4]
            for index, n in zip(bins[::2], bins[1::2], strict=True):
                found[index] = found.get(index, 0) + n
            row[5].extend(tuple(e) for e in slowest)

    def add(self, more: dict[OpKey, Figures]) -> None:
        add(self._figures, more)

    def figures(self) -> dict[OpKey, Figures]:
        out: dict[OpKey, Figures] = {}
        for key, (count, errors, limit_ms, over, bins, slowest) in self._rows.items():
            figures = Figures(count, errors, limit_ms, over, Sketch(bins))
            figures.keep_examples(slowest)
            out[key] = figures
        add(out, self._figures)
        return out


def unpacked(data: Packed) -> dict[OpKey, Figures]:
    tally = Tally()
    tally.add_packed(data)
    return tally.figures()


def of_stored_trace(
    figures: dict[OpKey, Figures], attributes: dict[str, str]
) -> dict[OpKey, Figures]:
    """Figures of a piece of a stored trace, with the trace's customer type and order where
    the piece's own spans do not carry them (`attributes`: the stored trace's first value of
    each business attribute)."""
    customer_type = str(attributes.get(CUSTOMER_TYPE_KEY) or "")[:CUSTOMER_TYPE_LENGTH]
    order_id = str(attributes.get(ORDER_KEY) or "")
    if not customer_type and not order_id:
        return figures
    out: dict[OpKey, Figures] = {}
    for key, found in figures.items():
        if not key[5] and customer_type:
            key = (*key[:5], customer_type)
        if order_id:
            found.slowest = [e if e[3] else (*e[:3], order_id) for e in found.slowest]
        add(out, {key: found})
    return out


def add(totals: dict[OpKey, Figures], more: dict[OpKey, Figures]) -> None:
    """Sum `more` into `totals`, taking over (not copying) the figures of keys it lacks."""
    for key, figures in more.items():
        found = totals.get(key)
        if found is None:
            totals[key] = figures
        else:
            found.merge(figures)


def _first(business: dict[str, list[str]], key: str) -> str:
    values = business.get(key)
    return values[0] if values else ""
