"""What retention does to the embedded store (the policy, which traces go, is
explorer.orders.retention's): list old traces a batch at a time, remove a batch in one short
transaction with a record of each removed trace (RemovedTrace, which pages read to say
"removed by retention on ..."), drop old hourly figures and records, and give the space back.

Space: SQLite reuses freed pages but never shrinks the file unless the database is in
incremental auto-vacuum mode (`migrate` creates a new database so, explorer/store/apps.py; an
older database switches at its next VACUUM: `manage.py prune --vacuum`); then `PRAGMA
incremental_vacuum` after pruning returns freed pages to the file system. PostgreSQL's
autovacuum makes deleted rows' space reusable by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from django.db import connection, models, transaction
from django.db.models import Count, F, Max, Q

from explorer.store.attribute_keys import code_of, rows_of
from explorer.store.models import (
    HourlyOperation,
    HourlyTraffic,
    RemovedTrace,
    StoredTrace,
    TraceAttribute,
    insert_sql,
    select_rows,
)
from explorer.store.removal import delete_stored
from explorer.traces.vocabulary import ORDER_KEY

# Values per IN (...) list: under every database's limit on parameters.
IN_SLICE = 500
# Rows of hourly figures or removal records deleted per statement and transaction.
DELETE_BATCH = 5000
# SQLite's PRAGMA auto_vacuum value of incremental mode.
INCREMENTAL = 2


@dataclass(frozen=True, slots=True)
class OldTrace:
    """A stored trace as retention weighs it."""

    pk: int
    trace_id: str
    start_ns: int
    duration_ns: int
    span_count: int

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_ns  # as the summary has it (store 0017)


_RECORD = ("trace_id", "order_id", "start_ns", "removed_on")
Position = tuple[int, int]  # (start_ns, pk) of the last trace listed: the next batch follows it


def traces_started_before(
    cutoff_ns: int, after: Position | None = None, limit: int = 300
) -> list[OldTrace]:
    """Up to `limit` traces that started before cutoff_ns, oldest first, after `after`."""
    rows = StoredTrace.objects.filter(start_ns__lt=cutoff_ns)
    if after is not None:
        start, pk = after
        rows = rows.filter(Q(start_ns__gt=start) | Q(start_ns=start, pk__gt=pk))
    fields = ("pk", "trace_id", "start_ns", "duration_ns", "span_count")
    return [OldTrace(*row) for row in rows.order_by("start_ns", "pk").values_list(*fields)[:limit]]


def _slices(values: Sequence) -> Iterable[list]:
    for first in range(0, len(values), IN_SLICE):
        yield list(values[first : first + IN_SLICE])


def orders_of(trace_pks: Sequence[int]) -> dict[int, str]:
    """The order each trace belongs to (the least of its `order.id` values); traces of no
    order are left out."""
    found: dict[int, str] = {}
    order = code_of(ORDER_KEY)
    if order is None:
        return found  # no order id was ever stored
    for part in _slices(trace_pks):
        # By trace alone, the key checked here: with `key_code` in the query SQLite would walk
        # the (key, value) index through every order's row instead of the trace's index.
        for pk, code, order_id in select_rows(
            TraceAttribute, ("trace_id", "key_code", "value"), trace_id=part
        ):
            if code == order and (pk not in found or order_id < found[pk]):
                found[pk] = order_id
    return found


def newest_ends(order_ids: Iterable[str]) -> dict[str, int]:
    """The end of each order's newest stored trace: how old the order is."""
    found: dict[str, int] = {}
    orders = rows_of(ORDER_KEY)
    for part in _slices(sorted(order_ids)):
        rows = orders.filter(value__in=part)
        found.update(
            rows.values("value")
            .annotate(end=Max(F("trace__start_ns") + F("trace__duration_ns")))
            .values_list("value", "end")
        )
    return found


def traces_longer_than(order_ids: Iterable[str], duration_ns: int) -> dict[str, list[str]]:
    """Each order's stored traces that lasted longer than duration_ns (only they can hold a
    span that did)."""
    found: dict[str, list[str]] = {}
    orders = rows_of(ORDER_KEY)
    for part in _slices(sorted(order_ids)):
        rows = orders.filter(value__in=part, trace__duration_ns__gt=duration_ns).values_list(
            "value", "trace__trace_id"
        )
        for order_id, trace_id in rows:
            found.setdefault(order_id, []).append(trace_id)
    return found


def remove_traces(traces: Sequence[OldTrace], order_of: Mapping[int, str], on: date) -> int:
    """Remove these traces (their chunks, index rows and every other row that cascades from
    a trace) and record each in RemovedTrace, in one transaction; returns their spans. A
    trace whose span count changed since it was listed stays."""
    if not traces:
        return 0
    day = connection.ops.adapt_datefield_value(on)
    with transaction.atomic():
        # A trace that got spans since it was weighed is left for the next run: locked here
        # (PostgreSQL; SQLite's writers wait for this transaction anyway), so none come now.
        unchanged = set(
            StoredTrace.objects.select_for_update()
            .filter(pk__in=[t.pk for t in traces])
            .values_list("pk", "span_count")
        )
        traces = [t for t in traces if (t.pk, t.span_count) in unchanged]
        if not traces:
            return 0
        delete_stored([t.pk for t in traces])
        # Plain SQL: the ORM's bulk_create takes longer to build the rows than to write them.
        # A trace removed once before, then sent again and removed again, keeps its record.
        with connection.cursor() as cursor:
            cursor.executemany(
                insert_sql(RemovedTrace, _RECORD, " ON CONFLICT DO NOTHING"),
                [(t.trace_id, order_of.get(t.pk, "")[:200], t.start_ns, day) for t in traces],
            )
    return sum(t.span_count for t in traces)


def _delete_batched(rows: models.QuerySet, dry_run: bool) -> int:
    """Delete the rows DELETE_BATCH at a time, one short transaction each; how many."""
    if dry_run:
        return rows.count()
    deleted = 0
    while True:
        pks = list(rows.values_list("pk", flat=True)[:DELETE_BATCH])
        if not pks:
            return deleted
        with transaction.atomic():
            rows.model.objects.filter(pk__in=pks).delete()
        deleted += len(pks)


def remove_hourly_before(cutoff_ns: int, dry_run: bool = False) -> int:
    """Hourly figures (the system map's and those per operation, hours and days) of hours
    that started before cutoff_ns; how many rows."""
    return sum(
        (
            _delete_batched(HourlyTraffic.objects.filter(hour__lt=cutoff_ns), dry_run),
            # both values of `day`: the table's (day, hour) index then finds the hours
            _delete_batched(
                HourlyOperation.objects.filter(day__in=[False, True], hour__lt=cutoff_ns), dry_run
            ),
        )
    )


def remove_records_before(cutoff_ns: int, dry_run: bool = False) -> int:
    """Records of removed traces that started before cutoff_ns; how many."""
    return _delete_batched(RemovedTrace.objects.filter(start_ns__lt=cutoff_ns), dry_run)


def trace_removed_on(trace_id: str) -> date | None:
    """When retention removed the trace, or None when it did not."""
    return (
        RemovedTrace.objects.filter(trace_id=trace_id).values_list("removed_on", flat=True).first()
    )


@dataclass(frozen=True, slots=True)
class OrderRemoval:
    """An order's traces removed by retention: how many, and when the last went."""

    traces: int
    last_on: date


def order_removal(order_id: str) -> OrderRemoval | None:
    """What retention removed of the order, or None when nothing."""
    found = RemovedTrace.objects.filter(order_id=order_id).aggregate(
        traces=Count("pk"), last_on=Max("removed_on")
    )
    return OrderRemoval(found["traces"], found["last_on"]) if found["traces"] else None


def incremental_mode() -> bool | None:
    """Whether the SQLite database gives freed pages back (incremental auto-vacuum); None on
    other databases, which need no such mode."""
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA auto_vacuum")
        return cursor.fetchone()[0] == INCREMENTAL


def give_space_back(pages: int | None = None) -> int:
    """On SQLite in incremental mode, return up to `pages` free pages (None: all) to the file
    system; how many it returned (0 elsewhere, and inside a transaction)."""
    if not incremental_mode() or connection.in_atomic_block:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA freelist_count")
        before = cursor.fetchone()[0]
        # executescript(): Python's execute() steps the pragma once, which frees one page.
        connection.connection.executescript(
            "PRAGMA incremental_vacuum"
            if pages is None
            else f"PRAGMA incremental_vacuum({int(pages)})"
        )
        cursor.execute("PRAGMA freelist_count")
        return before - cursor.fetchone()[0]


def switch_to_incremental() -> None:
    """SQLite: put the database in incremental auto-vacuum mode with a full VACUUM (rewrites
    the whole file: needs about its size free on disk, and blocks writers meanwhile)."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("VACUUM")
