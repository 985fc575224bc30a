"""Keep the order-status snapshot current by itself (docs/live.md).

Spans that arrive mark their orders as changed, with the arrival time (OrderArrival): the
embedded store notes when spans last arrived for each trace (StoredTrace.arrived_ns, set by
`ingest`, uploads and the receiver alike) and collect_arrivals() turns that into the orders of
those traces (their own `order.id`, or the order of a trace they link to); a writer that keeps
no spans (the receiver's `index` mode) calls mark_changed() itself. A cycle of the worker then

1. collects the store's new arrivals,
2. computes the changed orders again in batches (refresh_changed_orders), judged against the
   stored reference, which it stores again on a schedule (refresh_reference_if_due),
3. re-judges the orders whose status changes only because time passes (rejudge: a state held
   over its limit becomes stuck, a message in flight for IN_FLIGHT_NS becomes lost),

and hands its CycleResult (every status change) to the steps that follow (run_worker's
`after_cycle`, e.g. alert rules). "Now" is the newest span in the source, as everywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from explorer.journeys.assembly import ORDER_KEY, latest_time_ns
from explorer.journeys.conformance import IN_PROGRESS, LOST, STUCK
from explorer.journeys.models import (
    _OPEN,
    BASELINE,
    BaselineSnapshot,
    LiveMark,
    OrderArrival,
    OrderStatus,
)
from explorer.journeys.report import Reference, reference_at
from explorer.journeys.state_graph import StateGraph
from explorer.journeys.status import customer_types, order_rows
from explorer.sources.base import SourceError, TraceSource
from explorer.store.ingest import LINKED_TRACE_KEY
from explorer.store.models import (
    INDEXED_VALUE_LENGTH,
    StoredTrace,
    TraceAttribute,
    insert_sql,
    quoted_names,
    storable,
)
from explorer.traces.model import Span, Trace

__all__ = [
    "CycleResult",
    "StatusChange",
    "collect_arrivals",
    "mark_changed",
    "pending_count",
    "orders_arrived_since",
    "refresh_changed_orders",
    "refresh_reference_if_due",
    "rejudge",
    "run_cycle",
    "run_worker",
]

log = logging.getLogger("explorer.live")

# LiveMark name: the newest store arrival read.
ARRIVALS_READ = "arrivals_read"
# A batch's arrival time is taken before its transaction commits: arrivals are read again
# this far back, so that one committed late is not missed (marking again changes nothing).
ARRIVAL_GRACE_NS = 60 * 10**9
# Rows per `IN (...)` query.
IN_SLICE = 500
# Woken by committed spans, the worker waits this long for more before its next cycle.
WAKE_GAP_S = 0.2
# A worker waiting for `wake` sees its stop event this often.
STOP_CHECK_S = 0.5


class Judging(Protocol):
    """What judging an order needs of the explorer's configuration (Configuration has it)."""

    graph: StateGraph
    names: dict[str, str]

    def container_of(self, span: Span) -> str: ...

    def calls_of(self, traces: Sequence[Trace]) -> set[tuple[str, str]]: ...


@dataclass(slots=True, frozen=True)
class StatusChange:
    """An order whose status changed: `before` None for an order not listed before."""

    order_id: str
    before: str | None
    after: str
    now_ns: int  # the newest span time it was judged at


@dataclass(slots=True)
class CycleResult:
    """What one cycle of the worker did."""

    now_ns: int | None = None  # None: the source holds no span
    marked: int = 0  # orders marked changed by the store's new arrivals
    recomputed: int = 0  # orders computed again
    rejudged: int = 0  # orders whose status changed only because time passed
    reference_stored: bool = False
    changes: list[StatusChange] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        """One log line."""
        return (
            f"{self.marked} orders marked, {self.recomputed} computed again, "
            f"{self.rejudged} re-judged, {len(self.changes)} status changes"
            f"{', reference stored' if self.reference_stored else ''} "
            f"in {self.seconds:.2f} s"
        )


# --- Marking ------------------------------------------------------------------------------


def mark_changed(order_ids: Iterable[str], arrived_ns: int) -> int:
    """Mark orders as changed by spans that arrived at `arrived_ns` (wall clock, ns), so that
    the worker computes them again and `orders --refresh --since` selects them. Returns how
    many ids were given; marking again with an older arrival changes nothing."""
    ids = sorted({_order_key(o) for o in order_ids if o})
    _mark(dict.fromkeys(ids, arrived_ns))
    return len(ids)


def _order_key(order_id: str) -> str:
    """An order id as OrderArrival and OrderStatus store it."""
    max_length = OrderArrival._meta.get_field("order_id").max_length
    return storable(order_id)[:max_length]


def _mark(arrivals: Mapping[str, int]) -> None:
    """Note each order's arrival (pending), unless a later one is already noted: one upsert
    per order, correct whoever else marks at the same time (SQLite and PostgreSQL alike)."""
    if not arrivals:
        return
    fields = ("order_id", "arrived_ns", "pending")
    table, (order, arrived, pending) = quoted_names(OrderArrival, fields)
    # Names come from the model, every value is a parameter.
    sql = insert_sql(
        OrderArrival,
        fields,
        f" ON CONFLICT ({order}) DO UPDATE SET {arrived} = excluded.{arrived}, "
        f"{pending} = excluded.{pending} WHERE {table}.{arrived} < excluded.{arrived}",
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(o, at, True) for o, at in sorted(arrivals.items())])


def collect_arrivals() -> int:
    """Mark the orders of the traces that received spans since the last call (the store's
    StoredTrace.arrived_ns); returns how many orders were marked."""
    read = _get_mark(ARRIVALS_READ)
    rows = StoredTrace.objects.filter(arrived_ns__isnull=False)
    if read is not None:
        rows = rows.filter(arrived_ns__gte=read - ARRIVAL_GRACE_NS)
    arrived = {pk: ns for pk, ns in rows.values_list("pk", "arrived_ns") if ns is not None}
    if not arrived:
        return 0
    orders = _orders_of_traces(arrived)
    _mark(_newer_than_marked(orders))
    _set_mark(ARRIVALS_READ, max(arrived.values()))
    return len(orders)


def _newer_than_marked(orders: dict[str, int]) -> dict[str, int]:
    """Of order -> arrival, those not already marked with that arrival or a later one."""
    ids = list(orders)
    for first in range(0, len(ids), IN_SLICE):
        known = OrderArrival.objects.filter(order_id__in=ids[first : first + IN_SLICE])
        for order_id, arrived in known.values_list("order_id", "arrived_ns"):
            if arrived >= orders[order_id]:
                del orders[order_id]
    return orders


def _orders_of_traces(arrived: Mapping[int, int]) -> dict[str, int]:
    """order id -> latest arrival, for the stored traces (pk -> arrival): the orders named on
    them, and those named on the traces they link to (a consumer without `order.id`)."""
    orders: dict[str, int] = {}

    def note(order_id: str, at: int) -> None:
        key = _order_key(order_id)
        if orders.get(key, -1) < at:
            orders[key] = at

    targets: dict[str, int] = {}
    pks = list(arrived)
    for first in range(0, len(pks), IN_SLICE):
        rows = TraceAttribute.objects.filter(
            trace_id__in=pks[first : first + IN_SLICE], key__in=[ORDER_KEY, LINKED_TRACE_KEY]
        )
        for pk, key, value in rows.values_list("trace_id", "key", "value"):
            if key == ORDER_KEY:
                note(value, arrived[pk])
            elif targets.get(value, -1) < arrived[pk]:
                targets[value] = arrived[pk]
    linked = list(targets)
    for first in range(0, len(linked), IN_SLICE):
        rows = TraceAttribute.objects.filter(
            trace__trace_id__in=linked[first : first + IN_SLICE], key=ORDER_KEY
        )
        for trace_id, value in rows.values_list("trace__trace_id", "value"):
            note(value, targets[trace_id[:INDEXED_VALUE_LENGTH]])
    return orders


def _get_mark(name: str) -> int | None:
    return LiveMark.objects.filter(name=name).values_list("value_ns", flat=True).first()


def _set_mark(name: str, value_ns: int) -> None:
    LiveMark.objects.update_or_create(name=name, defaults={"value_ns": value_ns})


def orders_arrived_since(since_ns: int) -> list[str]:
    """The orders with spans that arrived at or after `since_ns` (wall clock), as marked (see
    collect_arrivals): what `orders --refresh --since` computes again."""
    return list(
        OrderArrival.objects.filter(arrived_ns__gte=since_ns)
        .order_by("order_id")
        .values_list("order_id", flat=True)
    )


def settle(arrivals: Mapping[str, int]) -> None:
    """Orders (id -> the arrival read before computing them) whose rows are now stored: no
    longer pending, unless spans arrived for them meanwhile."""
    by_time: dict[int, list[str]] = {}
    for order_id, arrived in arrivals.items():
        by_time.setdefault(arrived, []).append(order_id)
    for arrived, ids in by_time.items():
        for first in range(0, len(ids), IN_SLICE):
            OrderArrival.objects.filter(
                order_id__in=ids[first : first + IN_SLICE], arrived_ns=arrived
            ).update(pending=False)


# --- Computing again ----------------------------------------------------------------------


def refresh_changed_orders(
    source: TraceSource,
    config: Judging,
    now_ns: int | None = None,
    batch: int | None = None,
    stop: threading.Event | None = None,
) -> CycleResult:
    """Compute the pending orders again, `batch` at a time (EXPLORER_LIVE_BATCH), each batch
    stored in one transaction, until none is pending (or `stop` is set); judged at `now_ns`
    (default: the newest span) against the stored reference, stored first if there is none
    that serves."""
    result = CycleResult(now_ns=now_ns if now_ns is not None else latest_time_ns(source))
    now = result.now_ns
    if now is None:
        return result
    size = batch or settings.EXPLORER_LIVE_BATCH
    reference: Reference | None = None
    while stop is None or not stop.is_set():
        pending = dict(
            OrderArrival.objects.filter(pending=True)
            .order_by("arrived_ns", "order_id")
            .values_list("order_id", "arrived_ns")[:size]
        )
        if not pending:
            break
        if reference is None:
            reference = _usable_reference(source, config, now)
            result.reference_stored = reference.stored_at is None
        rows = order_rows(
            source,
            config.graph,
            list(pending),
            reference.baseline,
            now,
            config.container_of,
            config.names,
        )
        before_at = {
            row.order_id: row.status_at(now)
            for row in OrderStatus.objects.filter(order_id__in=list(pending))
        }
        with transaction.atomic():
            OrderStatus.save_rows(rows, timezone.now())
            settle(pending)
        result.recomputed += len(rows)
        for row in rows:
            after = row.status_at(now)
            if before_at.get(row.order_id) != after:
                result.changes.append(
                    StatusChange(row.order_id, before_at.get(row.order_id), after, now)
                )
    return result


def _usable_reference(source: TraceSource, config: Judging, now_ns: int) -> Reference:
    """The stored reference if it serves at now_ns, else one computed and stored now."""
    stored = BaselineSnapshot.load_reference(source.name, "")
    if stored is not None and stored.serves(now_ns):
        return stored
    return store_reference(source, config, now_ns)


def store_reference(source: TraceSource, config: Judging, now_ns: int) -> Reference:
    """Compute the reference at now_ns and store it. The stored typical-journey samples of
    orders with no spans since the previous reference are reused; the others are judged
    again."""
    previous = BaselineSnapshot.stored_samples(source.name)
    stored_at = (
        BaselineSnapshot.objects.filter(source=source.name, kind=BASELINE)
        .values_list("computed_at", flat=True)
        .first()
    )
    if stored_at is not None and previous:
        since = int(stored_at.timestamp() * 10**9)
        for order_id in OrderArrival.objects.filter(
            order_id__in=list(previous), arrived_ns__gte=since
        ).values_list("order_id", flat=True):
            previous.pop(order_id, None)
    types = customer_types(source, now_ns)
    reference = reference_at(
        source,
        config.graph,
        now_ns,
        types,
        config.container_of,
        known=previous,
        calls_of=config.calls_of,
    )
    BaselineSnapshot.save_reference(source.name, reference, timezone.now())
    return reference


def refresh_reference_if_due(source: TraceSource, config: Judging, now_ns: int) -> bool:
    """Store the reference again when none is stored, it no longer serves now_ns, or it is
    older than EXPLORER_LIVE_REFERENCE_SECONDS (wall clock) and spans arrived since. Returns
    whether it was stored."""
    row = (
        BaselineSnapshot.objects.filter(source=source.name, kind=BASELINE)
        .values_list("as_of_ns", "computed_at")
        .first()
    )
    if row is not None:
        as_of, computed_at = row
        serves = Reference(None, {}, as_of).serves(now_ns)  # type: ignore[arg-type]
        age_s = (timezone.now() - computed_at).total_seconds()
        since = int(computed_at.timestamp() * 10**9)
        if serves and (
            age_s < settings.EXPLORER_LIVE_REFERENCE_SECONDS
            or not OrderArrival.objects.filter(arrived_ns__gte=since).exists()
        ):
            return False
    store_reference(source, config, now_ns)
    return True


def rejudge(now_ns: int) -> list[StatusChange]:
    """Orders whose stored status differs at now_ns only because time passed (a state over
    its limit: stuck; a message in flight for IN_FLIGHT_NS: lost): their rows now say so."""
    changes: list[StatusChange] = []
    stuck = OrderStatus.objects.stuck_at(now_ns).filter(status=IN_PROGRESS)
    lost = OrderStatus.objects.lost_at(now_ns).filter(status__in=_OPEN)
    for status, rows in ((LOST, lost), (STUCK, stuck)):
        found = list(rows.values_list("pk", "order_id", "status"))
        for first in range(0, len(found), IN_SLICE):
            part = found[first : first + IN_SLICE]
            OrderStatus.objects.filter(pk__in=[pk for pk, _, _ in part]).update(
                status=status, as_of_ns=now_ns
            )
        changes.extend(
            StatusChange(order_id, before, status, now_ns) for _, order_id, before in found
        )
    return changes


# --- The worker ---------------------------------------------------------------------------


def run_cycle(
    source: TraceSource,
    config: Judging,
    now_ns: int | None = None,
    stop: threading.Event | None = None,
) -> CycleResult:
    """One cycle: collect arrivals, store the reference if due, compute the changed orders
    again, re-judge the others at now."""
    started = time.perf_counter()
    # "Now" before the arrivals: every span it counts is then among the arrivals collected,
    # so an order is never judged at a now that includes a consumer it has not read.
    now = now_ns if now_ns is not None else latest_time_ns(source)
    marked = collect_arrivals()
    result = CycleResult(now_ns=now, marked=marked)
    if now is not None:
        result.reference_stored = refresh_reference_if_due(source, config, now)
        changed = refresh_changed_orders(source, config, now, stop=stop)
        result.recomputed = changed.recomputed
        result.reference_stored |= changed.reference_stored
        changes = rejudge(now)
        result.rejudged = len(changes)
        result.changes = changed.changes + changes
    result.seconds = time.perf_counter() - started
    return result


def run_worker(
    stop_event: threading.Event,
    interval_s: float | None,
    source: TraceSource,
    config: Judging,
    after_cycle: Sequence[Callable[[CycleResult], None]] = (),
    wake: threading.Event | None = None,
) -> None:
    """Run cycles until `stop_event` is set, `interval_s` (EXPLORER_LIVE_INTERVAL_SECONDS)
    apart (None: the setting), or sooner when `wake` is set (the receiver sets it when it
    committed spans; at most one cycle per WAKE_GAP_S then); each result goes to the
    `after_cycle` steps in order (e.g. alert rules). `source` and `config`: get_source() and
    explorer_config(). A cycle that fails on the database or the source is logged and the
    next one tries again. Runs in a thread as well (with its own database connections)."""
    interval = settings.EXPLORER_LIVE_INTERVAL_SECONDS if interval_s is None else interval_s
    try:
        while not stop_event.is_set():
            close_old_connections()
            try:
                result = run_cycle(source, config, stop=stop_event)
            except (DatabaseError, SourceError) as exc:
                log.warning("live worker: cycle failed, trying again: %s", exc)
            else:
                if result.recomputed or result.changes or result.reference_stored:
                    log.info("live worker: %s", result.line())
                for step in after_cycle:
                    step(result)
            _pause(stop_event, wake, interval)
    finally:
        close_old_connections()


def _pause(stop_event: threading.Event, wake: threading.Event | None, interval: float) -> None:
    """Until `interval` passed or `stop_event` is set; when `wake` is set first (spans were
    committed), WAKE_GAP_S more, to gather a few more spans before the next cycle."""
    if wake is None:
        stop_event.wait(interval)
        return
    deadline = time.monotonic() + interval
    while not stop_event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if wake.wait(min(left, STOP_CHECK_S)):
            wake.clear()
            stop_event.wait(WAKE_GAP_S)
            return


def pending_count() -> int:
    """Orders marked changed and not computed again yet."""
    return OrderArrival.objects.filter(pending=True).count()
