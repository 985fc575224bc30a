"""The figures of explorer.store.hourly_figures, kept per hour as spans arrive (the
HourlyOperation table), and summed over any window of whole hours for the SLA, anomaly and
drift pages (explorer.web.analytics).

Ingest and the receiver's full mode add each batch's figures inside the batch's transaction
(explorer.store.ingest). Spans merged into a stored trace add their own figures alone: a span
already stored is dropped before (its key is known), so a trace ingested in pieces, or the same
spans ingested twice, counts each span once. A piece whose spans carry no customer type or
order takes the stored trace's. What cannot be corrected as spans arrive, and a recount
(`manage.py ingest --recount-hourly`) corrects: spans counted before their trace's customer
type arrived stay under no type; a changed mapping or SLA applies to spans ingested afterwards
(the pages then estimate breaches from the sketch, and say so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from explorer.c4.mapping import Mapping
from explorer.caching import CONFIGURATION_SECONDS, LocalCache, configuration_version, on_reset
from explorer.journeys.anomalies import forget_operation_names
from explorer.journeys.state_graph import ConfigError, Sla, load_sla
from explorer.store import codec, hourly_keys
from explorer.store.hourly_figures import (
    HOUR_NS,
    Example,
    Figures,
    OpKey,
    Sketch,
    add,
    contributions,
    forget_span_names,
    of_stored_trace,
    pack_examples,
    unpack_examples,
    unpacked,
)
from explorer.store.models import (
    HourlyKey,
    HourlyOperation,
    HourlyTraffic,
    StoredTrace,
    TraceChunk,
    insert_sql,
    quoted_names,
    select_rows,
    storable,
    storable_cut,
)
from explorer.store.prepare import EncodedTrace, Settings
from explorer.store.traffic import PAIR
from explorer.traces.vocabulary import CUSTOMER_TYPE_KEY

_FIGURES = ("count", "errors", "limit_ms", "over_limit", "sketch", "slowest")
_KEY = ("hour", "key", "day")
DAY_NS = 24 * HOUR_NS
# record() names the rows it reads by hour and key while these stay few (SQLite takes at most
# 32,766 parameters in one statement).
MAX_KEY_PARAMETERS = 10_000

# The figures name spans' operations through these memos; erasure empties them (reset_caches).
on_reset(forget_operation_names)
on_reset(forget_span_names)

_sla: LocalCache[tuple[Sla | None]] = LocalCache("SLA for hourly figures", 2, CONFIGURATION_SECONDS)


def current_sla() -> Sla | None:
    """The SLA in effect (EXPLORER_SLA_FILE), or None when it cannot be read: ingest goes on
    and counts no breaches (the configuration's own loading reports the problem)."""

    def load() -> tuple[Sla | None]:
        try:
            return (load_sla(Path(settings.EXPLORER_SLA_FILE)),)
        except ConfigError:
            return (None,)

    return _sla.get_or_compute(configuration_version(), load)[0]


def piece_figures(
    pk: int, attributes: dict, piece: EncodedTrace, config: Settings
) -> dict[OpKey, Figures]:
    """What spans merged into the stored trace `pk` add (`piece`: its new spans alone;
    `attributes`: the stored trace's first value of each business attribute). When the piece
    brings the trace's first customer type, the spans stored before, counted under none, are
    moved under it: read and counted again, once in a trace's life."""
    figures = of_stored_trace(unpacked(piece.operations), attributes)
    customer_type = piece.facts.business.get(CUSTOMER_TYPE_KEY)
    if attributes.get(CUSTOMER_TYPE_KEY) or not customer_type or config.mapping is None:
        return figures
    trace_id = piece.trace_id
    spans = [span for data in _chunks(pk) for span in codec.decode_spans(data, trace_id)]
    business = {key: [str(value)] for key, value in attributes.items()}
    before = contributions(trace_id, spans, business, config.mapping, config.sla)
    business[CUSTOMER_TYPE_KEY] = customer_type
    add(figures, {key: found.withdrawn(trace_id) for key, found in before.items()})
    add(figures, contributions(trace_id, spans, business, config.mapping, config.sla))
    return figures


def storable_key(key: OpKey) -> OpKey:
    hour, element, service, operation, kind, customer_type = key
    cut = storable_cut
    return (hour, cut(element), cut(service), cut(operation), kind, storable(customer_type))


def record(figures: dict[OpKey, Figures]) -> None:
    """Add to the table, inside the caller's transaction: each hour's row and its day's."""
    if not figures:
        return
    deltas = _numbered(_with_days(figures))
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    # Only the rows of these hours and keys: reading every row of the hour (each a sketch)
    # inside the write lock grew with the number of operations and kept the live worker from
    # its turn under a receiver's load (test_fuzz_receiver).
    among: dict[str, list] = {
        "day": [False, True],  # so that the (day, hour) index finds the hours
        "hour": sorted({key[0] for key in deltas}),
        "key": sorted({key[1] for key in deltas}),
    }
    if sum(map(len, among.values())) > MAX_KEY_PARAMETERS:  # under the database's limit
        del among["key"]
    rows = select_rows(HourlyOperation, (*_KEY, "id", *_FIGURES), lock, **among)
    stored: dict[tuple, tuple] = {}
    for row in rows:
        stored.setdefault(tuple(row[:3]), row[3:])  # a second row of a key is left alone
    changed: list[tuple] = []
    new: list[tuple] = []
    for key, delta in deltas.items():
        found = stored.get(key)
        if found is None:
            new.append((*key, *_values(delta)))
            continue
        pk, *values = found
        total = _figures(values)
        total.merge(delta)
        changed.append((*_values(total), pk))
    # Plain SQL: the ORM takes longer to build these statements than the database to run
    # them. Names come from the model, values are parameters.
    with connection.cursor() as cursor:
        if changed:
            table, (*columns, pk_column) = quoted_names(HourlyOperation, (*_FIGURES, "id"))
            assignments = ", ".join(f"{column} = %s" for column in columns)
            sql = f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s"  # noqa: S608
            cursor.executemany(sql, changed)
        if new:
            cursor.executemany(insert_sql(HourlyOperation, (*_KEY, *_FIGURES)), new)


def _numbered(figures: dict[tuple, Figures]) -> dict[tuple[int, int, bool], Figures]:
    """These figures by (hour, HourlyKey number, day), the keys the table lacks added."""
    ids = hourly_keys.ids_for_writing(key[1:6] for key in figures)
    return {(key[0], ids[key[1:6]], key[6]): found for key, found in figures.items()}


def _with_days(figures: dict[OpKey, Figures]) -> dict[tuple, Figures]:
    """The rows these figures add to: their hour's (day False) and their UTC day's (day
    True), which a window's whole days are read from (a 90-day window reads 90 rows per
    operation and customer type, not 2,160)."""
    hours: dict[OpKey, Figures] = {}
    for key, more in figures.items():
        add(hours, {storable_key(key): more})
    out: dict[tuple, Figures] = {}
    for key, found in hours.items():
        day_key = (key[0] - key[0] % DAY_NS, *key[1:], True)
        day = out.get(day_key)
        if day is None:
            day = out[day_key] = Figures(limit_ms=found.limit_ms)
        day.merge(found)  # a copy: the hour's figures stay as they are
        out[(*key, False)] = found
    return out


def _figures(values: Iterable) -> Figures:
    count, errors, limit_ms, over_limit, sketch, slowest = values
    return Figures(
        count,
        errors,
        limit_ms,
        over_limit,
        Sketch.decode(bytes(sketch)),
        unpack_examples(slowest),
    )


def _values(figures: Figures) -> tuple:
    return (
        figures.count,
        figures.errors,
        figures.limit_ms,
        figures.over_limit,
        figures.sketch.encode(),
        pack_examples(figures.slowest),
    )


def _row(key: tuple[int, int, bool], figures: Figures) -> HourlyOperation:
    hour, key_id, day = key
    return HourlyOperation(
        hour=hour,
        day=day,
        key_id=key_id,
        count=figures.count,
        errors=figures.errors,
        limit_ms=figures.limit_ms,
        over_limit=figures.over_limit,
        sketch=figures.sketch.encode(),
        slowest=pack_examples(figures.slowest),
    )


# element, service, operation, span kind
Operation = tuple[str, str, str, int]


@dataclass(slots=True)
class WindowFigures:
    """An operation's figures summed over the hours of a window (all customer types)."""

    count: int = 0
    errors: int = 0
    over_limit: int = 0
    limits: set[float | None] = field(default_factory=set)  # the limits over_limit counted
    sketch: Sketch = field(default_factory=Sketch)
    by_customer_type: dict[str, int] = field(default_factory=dict)
    _examples: list = field(default_factory=list)  # the rows' slowest, as stored

    def add_counts(self, count: int, errors: int, over_limit: int, limit_ms: float | None) -> None:
        """A row's counts added (its sketch and examples are the caller's to add)."""
        self.count += count
        self.errors += errors
        self.over_limit += over_limit
        self.limits.add(limit_ms)

    def examples(self) -> list[Example]:
        """The slowest spans of each hour, or of each whole day of the window (at most
        hourly_figures.EXAMPLES each), slowest first."""
        found: dict[tuple[str, str], Example] = {
            (e[1], e[2]): e for raw in self._examples for e in unpack_examples(raw)
        }
        return sorted(found.values(), key=lambda e: (-e[0], e[1], e[2]))


def window(
    start_ns: int, end_ns: int, keep_rows: list[tuple] | None = None
) -> tuple[int, dict[Operation, WindowFigures]]:
    """The figures of the whole hours from the one holding start_ns up to end_ns, per
    operation; and where those hours begin. Whole UTC days inside are read from their day
    rows, the hours before and after them from hour rows. `keep_rows` receives each row read,
    (hour, operation, count, errors, limit_ms, over_limit, sketch), for the charts per day of
    the same pages (explorer.store.hourly_series): one read of the rows for both."""
    first, where, parameters = _rows_of(start_ns, end_ns)
    table, columns = quoted_names(HourlyOperation, ("hour", "key", *_FIGURES))
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"  # noqa: S608
    totals: dict[Operation, WindowFigures] = {}
    sketches: dict[Operation, list[bytes]] = {}  # summed at once per operation
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    keys = hourly_keys.keys_of({row[1] for row in rows})
    for hour, key_id, *values in rows:
        count, errors, limit_ms, over_limit, sketch, slowest = values
        element, service, operation, kind, customer_type = keys[key_id]
        key = (element, service, operation, kind)
        if keep_rows is not None:
            keep_rows.append((hour, key, count, errors, limit_ms, over_limit, sketch))
        total = totals.get(key)
        if total is None:
            total = totals[key] = WindowFigures()
        total.add_counts(count, errors, over_limit, limit_ms)
        sketches.setdefault(key, []).append(bytes(sketch))
        total.by_customer_type[customer_type] = total.by_customer_type.get(customer_type, 0) + count
        total._examples.append(slowest)
    for key, total in totals.items():
        total.sketch = Sketch.summed(sketches[key])
    return first, {key: total for key, total in totals.items() if total.count > 0}


def _rows_of(start_ns: int, end_ns: int) -> tuple[int, str, list]:
    """Where the whole hours from the one holding start_ns begin, and the condition (SQL and
    its parameters) on the rows of those hours up to end_ns: day rows for whole UTC days,
    hour rows for the hours before and after them."""
    first = start_ns - start_ns % HOUR_NS
    first_day = -(-first // DAY_NS) * DAY_NS
    last_day = max(end_ns - end_ns % DAY_NS, first_day)
    if first_day == last_day:  # no whole day: hours alone
        first_day = last_day = end_ns
    hour, day = quoted_names(HourlyOperation, ("hour", "day"))[1]
    part = f"({day} = %s AND {hour} >= %s AND {hour} < %s)"
    parameters = [True, first_day, last_day, False, first, first_day, False, last_day, end_ns]
    return first, f"({part} OR {part} OR {part})", parameters


def operation_counts(start_ns: int, end_ns: int) -> dict[tuple[str, str, str], tuple[int, int]]:
    """Spans and errors per (element, service, operation), all kinds and customer types, in
    the window's whole hours (as window() reads them, without its sketches)."""
    out: dict[tuple[str, str, str], tuple[int, int]] = {}
    for key, spans, failed in _sums_per_key(start_ns, end_ns):
        name = key[:3]
        before = out.get(name, (0, 0))
        out[name] = (before[0] + spans, before[1] + failed)
    return {name: figures for name, figures in out.items() if figures[0]}


def unmapped_spans(start_ns: int, end_ns: int) -> dict[str, int]:
    """Spans of services the mapping gave no element, per service, in the window's hours."""
    out: dict[str, int] = {}
    for (element, service, *_), spans, _failed in _sums_per_key(start_ns, end_ns):
        if not element:
            out[service] = out.get(service, 0) + spans
    return {service: spans for service, spans in out.items() if spans}


def _sums_per_key(start_ns: int, end_ns: int) -> list[tuple[hourly_keys.Key, int, int]]:
    """(key, spans, errors) of each key in the window's whole hours, summed by the database."""
    _first, where, parameters = _rows_of(start_ns, end_ns)
    table, (key, count, errors) = quoted_names(HourlyOperation, ("key", "count", "errors"))
    sql = (
        f"SELECT {key}, SUM({count}), SUM({errors}) FROM {table} "  # noqa: S608
        f"WHERE {where} GROUP BY {key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        sums = cursor.fetchall()
    keys = hourly_keys.keys_of(row[0] for row in sums)
    return [(keys[key_id], int(spans or 0), int(failed or 0)) for key_id, spans, failed in sums]


def services_of(element: str) -> list[str]:
    """The services whose spans were counted under this element."""
    found = HourlyKey.objects.filter(element=element).values_list("service", flat=True)
    return sorted(set(found.distinct()))


def pair_calls(start_ns: int, end_ns: int) -> dict[tuple[str, str], tuple[int, int]]:
    """Calls and errors between elements (the system map's PAIR figures, explorer.store.hourly)
    in the whole hours from the one holding start_ns up to end_ns, summed by the database:
    the drift page needs no latency histogram."""
    first = start_ns - start_ns % HOUR_NS
    rows = (
        HourlyTraffic.objects.filter(kind=PAIR, hour__gte=first, hour__lt=end_ns)
        .values_list("source", "target")
        .annotate(Sum("calls"), Sum("errors"))
    )
    return {(source, target): (calls, errors) for source, target, calls, errors in rows}


def recount(mapping: Mapping, sla: Sla | None) -> int:
    """The table computed anew from every stored trace with this mapping and SLA (after they
    changed, or for traces stored before the table existed); returns the traces read."""
    totals: dict[OpKey, Figures] = {}
    count = 0
    traces = StoredTrace.objects.order_by("pk").values_list("pk", "trace_id", "attributes")
    for pk, trace_id, attributes in traces.iterator():
        spans = [span for data in _chunks(pk) for span in codec.decode_spans(data, trace_id)]
        # KeyedJSONField: a dict, which django-stubs types as a BinaryField's bytes.
        business = {key: [str(value)] for key, value in cast(dict, attributes).items()}
        for key, figures in contributions(trace_id, spans, business, mapping, sla).items():
            add(totals, {key: figures})
        count += 1
    with transaction.atomic():
        HourlyOperation.objects.all().delete()
        HourlyOperation.objects.bulk_create(
            [_row(key, figures) for key, figures in _numbered(_with_days(totals)).items()],
            batch_size=1000,
        )
    return count


def _chunks(pk: int) -> list[bytes]:
    return [bytes(d) for d in TraceChunk.objects.filter(trace_id=pk).values_list("data", flat=True)]
