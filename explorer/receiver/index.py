"""The receiver's `index` mode: writing the index, and a remote source answering from it.

Tempo and Jaeger keep the spans; what they cannot answer is kept here: which traces carry a
business-attribute value (every order id: `orders`; an order's traces), which traces link to
a trace (consumer traces without order.id), with a summary row per trace. `IndexedSource`
wraps a remote source so that journeys, `orders` and lost messages work as on the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

import orjson
from django.conf import settings
from django.db import DatabaseError, connection

from explorer.c4.mapping import Mapping
from explorer.journeys.now import newest_before_wall_clock
from explorer.orders.arrivals import mark_changed
from explorer.receiver import calls as pairing
from explorer.receiver.facts import IndexFacts, index_facts
from explorer.receiver.models import IndexedTrace, IndexedValue
from explorer.sources.base import SourceError, TraceSource, TraceSummary
from explorer.sources.wrapper import WrappedSource
from explorer.store import hourly, hourly_operations
from explorer.store.clock import INGEST, DataClock, Lead, reading, record, tolerance_ns
from explorer.store.hourly_figures import Counting, Figures, OpKey, contributions
from explorer.store.ingest import IN_SLICE, LINKED_TRACE_KEY, store_settings
from explorer.store.models import (
    HourlyOperation,
    HourlyTraffic,
    code_point_order,
    insert_sql,
    quoted_names,
    select_rows,
    storable,
    storable_cut,
)
from explorer.store.prepare import INDEXED_VALUE_LENGTH, Settings, keys_bytes, read_keys, span_key
from explorer.store.traffic import Key, Traffic
from explorer.traces.gcpause import gc_paused
from explorer.traces.model import Trace
from explorer.traces.vocabulary import CUSTOMER_TYPE_KEY, ORDER_KEY


@dataclass(slots=True)
class _Row:
    """An IndexedTrace row, stored or new, as the writer merges into it (fields in the order
    of _TRACE_FIELDS)."""

    trace_id: str
    start_ns: int
    end_ns: int
    span_count: int = 0
    error_count: int = 0
    root_service: str = ""
    root_name: str = ""
    has_root: bool = False
    services: set[str] = field(default_factory=set)
    attributes: dict[str, str] = field(default_factory=dict)
    arrived_ns: int = 0
    keys: bytes = b""
    values: set[tuple[str, str]] = field(default_factory=set)
    clock_ahead: bool = False
    calls: bytes = b""  # explorer.receiver.calls: its spans' parents and elements

    def params(self) -> list:
        """The row's values as the database takes them."""
        return [
            self.trace_id,
            self.start_ns,
            self.end_ns,
            self.span_count,
            self.error_count,
            self.root_service,
            self.root_name,
            self.has_root,
            _json(sorted(self.services)),
            orjson.dumps(self.attributes).decode(),
            self.arrived_ns,
            self.keys,
            orjson.dumps(sorted(self.values)).decode(),
            self.clock_ahead,
            self.calls,
        ]


_TRACE_FIELDS = tuple(f.name for f in fields(_Row))
_ARRIVED = _TRACE_FIELDS.index("arrived_ns")
_AHEAD = _TRACE_FIELDS.index("clock_ahead")
# The data clocks of this process's index writes (explorer.store.clock): the receiver's,
# fitted to the recent live arrivals, and the wall clock.
_LIVE_CLOCK = DataClock(live=True)
_WALL_CLOCK = DataClock(live=False)


def _json(value: object) -> str:
    """JSON text without NUL characters (see storable()), which orjson writes as \\u0000."""
    text = orjson.dumps(value).decode()
    return orjson.dumps(storable(value)).decode() if "\\u0000" in text else text


@dataclass(slots=True)
class _Piece:
    """A request's spans of one trace as the index row they would make alone: inserted as it
    is when the trace is new, merged into the trace's row when not."""

    row: _Row  # its values: the [key, value] pairs of these spans
    error_keys: frozenset[int]  # span keys of the spans that are errors
    params: list  # row.params() (arrived_ns set when written)
    spans: Sequence  # as IndexFacts.spans: to count the hourly figures of some of them again
    business: dict[str, list[str]]  # their business values
    # The system map's figures of these spans as a new trace's (explorer.receiver.calls)
    traffic: dict[Key, Traffic] = field(default_factory=dict)


@dataclass(slots=True)
class Pieces:
    """A request's pieces in trace-id order, and the hourly figures of all their spans
    (explorer.store.hourly_operations) counted as if every span were new to its trace, with
    `rules`' mapping and SLA (None: no figures are kept)."""

    pieces: list[_Piece]
    figures: dict[OpKey, Figures] = field(default_factory=dict)
    rules: Settings | None = None
    paired: bool = False  # the pieces' calls are paired (pairs_calls())

    def __iter__(self) -> Iterator[_Piece]:
        return iter(self.pieces)


def write(traces: list[Trace]) -> None:
    """Index these traces (inside the caller's transaction), judged by the wall clock only
    (as `ingest`)."""
    config = store_settings()
    with gc_paused():
        write_pieces(pieces_of(index_facts(traces, config.business_keys), config))


def pieces_of(found: list[IndexFacts], config: Settings | None = None) -> Pieces:
    """What decoders found (one IndexFacts per trace id, as index_facts() and index_facts_of()
    give them) as pieces, in trace-id order: rows locked in different orders by two receivers
    would deadlock. With `config`'s mapping, their spans' hourly figures are counted at once
    for the whole request (a few additions a span). Made before the writer's turn (SQLite's
    writers take turns), which is then spent on the database."""
    ordered = sorted(found, key=lambda item: item.trace_id)
    mapping = None if config is None or not pairs_calls() else config.mapping
    pieces = [_piece(item, mapping) for item in ordered]
    if len({piece.row.trace_id for piece in pieces}) != len(pieces):
        raise ValueError("pieces_of() takes one IndexFacts per trace id")
    if config is None or config.mapping is None:
        return Pieces(pieces)
    counting = Counting(config.mapping, config.sla)
    for item in ordered:
        counting.add(item.trace_id, item.spans, item.facts.business)
    return Pieces(pieces, counting.figures(), config, mapping is not None)


def pairs_calls() -> bool:
    """Whether index mode keeps the system map's hourly figures
    (settings.EXPLORER_RECEIVER_INDEX_TRAFFIC; explorer.receiver.calls)."""
    return bool(settings.EXPLORER_RECEIVER_INDEX_TRAFFIC)


def _piece(item: IndexFacts, mapping: Mapping | None) -> _Piece:
    """With `mapping`, its spans' calls paired among themselves (explorer.receiver.calls)."""
    f = item.facts
    attributes: dict[str, str] = {}
    for key, texts in f.business.items():
        attributes.setdefault(storable(key), storable(texts[0]))
    pairs = {(storable_cut(key), text) for key, texts in f.business.items() for text in _cut(texts)}
    pairs.update((LINKED_TRACE_KEY, text) for text in _cut(item.links))
    row = _Row(
        item.trace_id,
        f.start_ns,
        f.end_ns,
        len(read_keys(item.keys)),  # a request has each span once
        len(item.error_keys),
        storable_cut(f.root_service),
        storable(f.root_name),
        item.has_root,
        set(f.operations),
        attributes,
        0,
        item.keys,
        pairs,
    )
    traffic: dict[Key, Traffic] = {}
    if mapping is not None:
        calls = pairing.Calls()
        traffic = pairing.pair(calls, read_keys(item.keys), item.spans, mapping)
        row.calls = pairing.encode(calls)
    return _Piece(row, item.error_keys, row.params(), item.spans, f.business, traffic)


def _cut(texts: Iterable[str]) -> set[str]:
    """Values as the index keeps them."""
    return {storable_cut(text, INDEXED_VALUE_LENGTH) for text in texts}


def write_pieces(
    pieces: Pieces, sender: str = INGEST, live: bool = False, arrived_ns: int | None = None
) -> None:
    """Index these pieces (inside the caller's transaction), merged with what is indexed.
    Idempotent: a resent batch adds no value, link or count twice. Plain executemany:
    Django's bulk_create costs more than the database does here. A piece whose spans end
    ahead of the data clock (`live`: the line through the recent arrivals, else the wall
    clock; explorer.store.clock) flags its trace and is counted for `sender`, for each of its
    services (the index keeps no span's own end). `arrived_ns`: the arrival time (a test),
    else the wall clock."""
    rows = _indexed_rows([piece.row.trace_id for piece in pieces], for_update=True)
    now = time.time_ns() if arrived_ns is None else arrived_ns
    clock_ns = (_LIVE_CLOCK if live else _WALL_CLOCK).at(now)
    ahead: dict[str, Lead] = {}
    ahead_traces: list[str] = []
    inserts, updates, values = [], [], []
    figures = _sum_into({}, pieces.figures)
    traffic: dict[Key, Traffic] = {}
    orders: dict[str, str] = {}  # of merged traces whose pieces did not name theirs
    for piece in pieces:
        trace_id = piece.row.trace_id
        row = rows.get(trace_id)
        if piece.row.end_ns > clock_ns + tolerance_ns():
            ahead_traces.append(trace_id)
            for service in piece.row.services:
                lead = ahead.setdefault(service, Lead())
                lead.spans += piece.row.span_count
                lead.largest_ns = max(lead.largest_ns, piece.row.end_ns - clock_ns)
            if row is None:
                piece.row.clock_ahead = True
                piece.params[_AHEAD] = True
            else:
                row.clock_ahead = True
        if row is None:
            piece.params[_ARRIVED] = now
            inserts.append(piece.params)
            pairs = piece.row.values
            rows[trace_id] = piece.row
            _add_traffic(traffic, piece.traffic)
        else:
            known = len(row.keys) // 8
            pairs, fresh = _merge(row, piece)
            if pieces.rules is not None:
                _correct(figures, piece, row, fresh, pieces.rules, orders)
                if pieces.paired:
                    _add_traffic(traffic, _paired(row, piece, fresh, known, pieces.rules))
            row.arrived_ns = now
            updates.append([*row.params()[1:], trace_id])
        values += [(trace_id, key, value) for key, value in sorted(pairs)]
    if pieces:
        ends = [piece.row.end_ns for piece in pieces]
        (_LIVE_CLOCK if live else _WALL_CLOCK).note(now, reading(ends, clock_ns + tolerance_ns()))
    if ahead_traces:
        record(sender, ahead, f"{len(ahead_traces)} traces, e.g. {ahead_traces[0]}")
    table, columns = quoted_names(IndexedTrace, _TRACE_FIELDS)
    # Table and column names come from the model; every value is a parameter.
    update = (
        f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in columns[1:])} "  # noqa: S608
        f"WHERE {columns[0]} = %s"
    )
    with connection.cursor() as cursor:
        if inserts:
            cursor.executemany(insert_sql(IndexedTrace, _TRACE_FIELDS), inserts)
        if updates:
            cursor.executemany(update, updates)
        if values:
            cursor.executemany(insert_sql(IndexedValue, ("trace_id", "key", "value")), values)
    if orders:
        for found in figures.values():
            found.slowest = [e if e[3] else (*e[:3], orders.get(e[1], "")) for e in found.slowest]
    hourly_operations.record(figures)
    hourly.record(traffic)
    # In the same transaction: an order whose spans are committed is marked changed, so the
    # live worker computes it again (the store does this itself for stored spans).
    mark_changed(_orders_reached(list(rows.values())), now)


def _sum_into(totals: dict[OpKey, Figures], more: dict[OpKey, Figures]) -> dict[OpKey, Figures]:
    """Add `more` to `totals` (and return them), leaving `more` as it was: a write retried
    after a rollback (storing.store_request) adds the same pieces' figures again."""
    for key, found in more.items():
        total = totals.get(key)
        if total is None:
            total = totals[key] = Figures(limit_ms=found.limit_ms)
        total.merge(found)
    return totals


def _add_traffic(totals: dict[Key, Traffic], more: dict[Key, Traffic]) -> None:
    """Add `more` to `totals`, leaving `more` as it was (a write may be retried)."""
    for key, found in more.items():
        total = totals.get(key)
        if total is None:
            total = totals[key] = Traffic()
        total.merge(found)


def _paired(
    row: _Row, piece: _Piece, fresh: list[int], known: int, rules: Settings
) -> dict[Key, Traffic]:
    """The system map's figures a piece merged into its trace's row adds (`fresh`: the keys
    of its spans new to the trace, now the last of row.keys; `known`: how many it had): its
    new spans paired with each other and with those received before, whose record
    (row.calls) is updated."""
    assert rules.mapping is not None  # pieces_of() pairs with a mapping only
    if not fresh:
        return {}
    calls = pairing.decode(row.calls, known)
    wanted = set(fresh)
    spans = [
        s for s, key in zip(piece.spans, read_keys(piece.row.keys), strict=True) if key in wanted
    ]
    traffic = pairing.pair(calls, read_keys(row.keys), spans, rules.mapping)
    row.calls = pairing.encode(calls)
    return traffic


def _correct(
    figures: dict[OpKey, Figures],
    piece: _Piece,
    row: _Row,
    fresh: list[int],
    rules: Settings,
    orders: dict[str, str],
) -> None:
    """Correct the request's figures for a piece merged into its trace's row (`fresh`: the
    keys of its spans new to the trace). pieces_of() counted every span of it, under its own
    customer type: spans the trace had already (an exporter's retry, another receiver) are
    taken back out, and when the trace's type came in an earlier piece the new spans are
    counted under it instead (as the store does: explorer.store.hourly_figures
    .of_stored_trace). Examples stay (a page merges an operation's customer types, and a span
    is one example once); those of a trace whose order came earlier are given it."""
    trace_id = piece.row.trace_id
    business = piece.business
    stored = row.attributes
    if not business.get(ORDER_KEY) and stored.get(ORDER_KEY):
        orders[trace_id] = stored[ORDER_KEY]
    moved = not business.get(CUSTOMER_TYPE_KEY) and bool(stored.get(CUSTOMER_TYPE_KEY))
    if len(fresh) == piece.row.span_count and not moved:
        return  # the common case: counted right
    mapping, sla = rules.mapping, rules.sla
    assert mapping is not None  # pieces_of() counts with a mapping only
    counted = contributions(trace_id, piece.spans, business, mapping, sla)
    withdrawn = {key: found.withdrawn(trace_id) for key, found in counted.items()}
    for found in withdrawn.values():
        found.forget.clear()
    _sum_into(figures, withdrawn)
    if fresh:
        keys = set(fresh)
        spans = [s for s in piece.spans if span_key(s.span_id, s.kind) in keys]
        filled = business
        if moved:
            filled = {**business, CUSTOMER_TYPE_KEY: [stored[CUSTOMER_TYPE_KEY]]}
        _sum_into(figures, contributions(trace_id, spans, filled, mapping, sla))


def _merge(row: _Row, piece: _Piece) -> tuple[set[tuple[str, str]], list[int]]:
    """Merge a piece of the trace into its row; only spans not received before count, so
    that a resent batch changes no figure. Returns the pairs new to the row, and the keys of
    the spans new to it."""
    new = piece.row
    seen = set(read_keys(row.keys))
    fresh = [key for key in read_keys(new.keys) if key not in seen]
    row.keys += keys_bytes(fresh)
    row.error_count += len(piece.error_keys.intersection(fresh))
    row.span_count += len(fresh)
    row.start_ns = min(row.start_ns, new.start_ns)
    row.end_ns = max(row.end_ns, new.end_ns)
    if new.has_root or not (row.has_root or row.root_service):
        row.root_service, row.root_name = new.root_service, new.root_name
        row.has_root = row.has_root or new.has_root
    row.services.update(new.services)
    for key, text in new.attributes.items():
        row.attributes.setdefault(key, text)
    pairs = new.values - row.values
    row.values.update(pairs)
    return pairs, fresh


def _orders_reached(rows: list[_Row]) -> set[str]:
    """The orders of these traces: those they name, and those of the traces they link to (a
    consumer trace without order.id belongs to its producer's order). A trace's every piece
    marks them, also one without the order's id in it."""
    orders = {value for row in rows for key, value in row.values if key == ORDER_KEY}
    targets = {value for row in rows for key, value in row.values if key == LINKED_TRACE_KEY}
    known = {row.trace_id: row for row in rows if row.trace_id in targets}
    known.update(_indexed_rows(sorted(targets - set(known))))
    orders.update(value for row in known.values() for key, value in row.values if key == ORDER_KEY)
    return orders


def _indexed_rows(ids: list[str], for_update: bool = False) -> dict[str, _Row]:
    """The index rows of these traces that are stored. `for_update`: locked until the
    transaction ends, where the database can (two receivers merging into one row on
    PostgreSQL: the second waits and reads the first's row; SQLite's writers take turns)."""
    lock = " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""
    rows = {}
    for first in range(0, len(ids), IN_SLICE):
        part = ids[first : first + IN_SLICE]
        for found in select_rows(IndexedTrace, _TRACE_FIELDS, lock, trace_id=part):
            stored = dict(zip(_TRACE_FIELDS, found, strict=True))
            stored["services"] = set(stored["services"])
            stored["keys"] = bytes(stored["keys"])
            stored["calls"] = bytes(stored["calls"])
            stored["values"] = {(key, value) for key, value in stored["values"]}
            rows[found[0]] = _Row(**stored)
    return rows


class IndexedSource(WrappedSource):
    """A remote source that answers business-attribute look-ups, attribute values, linking
    traces, "now" and the operations' hourly figures from the index; everything else (the
    spans) from the backend. Its capabilities: those of its own and the backend's others
    (explorer.sources.wrapper)."""

    def find_traces(
        self,
        attribute: str,
        value: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 1000,
    ) -> list[TraceSummary]:
        if attribute not in settings.EXPLORER_BUSINESS_ATTRIBUTES:
            return self.source.find_traces(attribute, value, start_ns, end_ns, limit)
        rows = IndexedTrace.objects.filter(
            trace_id__in=IndexedValue.objects.filter(
                key=attribute, value=value[:INDEXED_VALUE_LENGTH]
            ).values("trace_id")
        )
        rows = _in_window(rows, start_ns, end_ns, "start_ns")
        rows = rows.order_by("-start_ns", code_point_order("trace_id"))[:limit]
        with self._answering():
            return [_summary(row) for row in rows]

    def attribute_values(
        self, key: str, start_ns: int | None = None, end_ns: int | None = None, limit: int = 100_000
    ) -> list[str]:
        rows = IndexedValue.objects.filter(key=key)
        if start_ns is not None or end_ns is not None:
            traces = _in_window(IndexedTrace.objects.all(), start_ns, end_ns, "start_ns")
            rows = rows.filter(trace_id__in=traces.values("trace_id"))
        values = rows.order_by(code_point_order("value")).values_list("value", flat=True)
        with self._answering():
            return list(values.distinct()[:limit])

    def newest_end_ns(self, start_ns: int | None = None, end_ns: int | None = None) -> int | None:
        """From the index, leaving out traces flagged as ahead of the data clock; the
        backend's newest before the wall clock while nothing is indexed."""
        with self._answering():
            if not IndexedTrace.objects.exists():
                return newest_before_wall_clock(
                    self.source, (start_ns, end_ns), settings.EXPLORER_CLOCK_TOLERANCE_SECONDS
                )
            rows = _in_window(
                IndexedTrace.objects.filter(clock_ahead=False), start_ns, end_ns, "start_ns"
            )
            newest = rows.order_by("-start_ns", code_point_order("trace_id"))
            return newest.values_list("end_ns", flat=True).first()

    def operations_counted_from(self) -> int | None:
        """The start of the oldest trace in the first hour the receiver counted spans of
        (the backend may hold older ones); now, when it has counted none yet."""
        return self._counted_from(HourlyOperation.objects.filter(day=False))

    def _counted_from(self, hours) -> int:
        with self._answering():
            first = hours.order_by("hour").values_list("hour", flat=True).first()
            if first is None:
                return time.time_ns()
            oldest = IndexedTrace.objects.filter(start_ns__gte=first).order_by("start_ns")
            return oldest.values_list("start_ns", flat=True).first() or first

    def count_between(self, start_ns: int, end_ns: int) -> int:
        """How many indexed traces start in [start_ns, end_ns)."""
        with self._answering():
            return IndexedTrace.objects.filter(start_ns__gte=start_ns, start_ns__lt=end_ns).count()

    def linking_traces(self, trace_id: str) -> list[str]:
        rows = IndexedValue.objects.filter(
            key=LINKED_TRACE_KEY, value=trace_id[:INDEXED_VALUE_LENGTH]
        )
        with self._answering():
            return sorted(rows.values_list("trace_id", flat=True).distinct())

    @contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except DatabaseError as exc:
            raise SourceError(f"{self.name}: the receiver's index did not answer: {exc}") from exc


class IndexedTrafficSource(IndexedSource):
    """With the system map's hourly figures too, when the receiver keeps them
    (EXPLORER_RECEIVER_INDEX_TRAFFIC): the map and drift read whole hours."""

    def hourly_traffic(
        self, start_ns: int, end_ns: int
    ) -> tuple[int, dict[tuple[str, str, str], Traffic]]:
        """The system map's figures the receiver kept (explorer.receiver.calls)."""
        with self._answering():
            return hourly.window_traffic(start_ns, end_ns)

    def traffic_counted_from(self) -> int | None:
        """As operations_counted_from(), for the system map's figures (which a receiver
        older than them, or one with them turned off, did not keep)."""
        return self._counted_from(HourlyTraffic.objects.all())


def _in_window(rows, start_ns: int | None, end_ns: int | None, field: str):
    if start_ns is not None:
        rows = rows.filter(**{f"{field}__gte": start_ns})
    if end_ns is not None:
        rows = rows.filter(**{f"{field}__lt": end_ns})
    return rows


def _summary(row: IndexedTrace) -> TraceSummary:
    return TraceSummary(
        row.trace_id,
        row.start_ns,
        row.end_ns - row.start_ns,
        row.span_count,
        row.root_service,
        row.root_name,
        list(row.services),
        row.error_count,
        dict(row.attributes),
    )


def with_index(name: str, options: dict, source: TraceSource) -> TraceSource:
    """What explorer.composition wraps every source in: in index mode, remote backends answer
    look-ups from the index."""
    if settings.EXPLORER_RECEIVER_MODE != "index" or options.get("kind") == "store":
        return source
    return IndexedTrafficSource(source) if pairs_calls() else IndexedSource(source)
