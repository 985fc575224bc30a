"""Which orders changed: spans that arrive mark their orders (OrderArrival, with the arrival
time) for the live worker (explorer.orders.live) and `orders --refresh --since`.

A source that stores spans notes when they arrived for each trace (the ListsArrivals
capability, explorer/sources/base.py: the embedded store's StoredTrace.arrived_ns, set by
`ingest`, uploads and the receiver alike); collect_arrivals() turns that into the orders of
those traces (their own `order.id`, or the order of a trace they link to). A writer that keeps
no spans (the receiver's `index` mode) calls mark_changed() itself. An `order.id` that names
no order (explorer.journeys.intake) is logged with where it came from and not marked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from explorer.caching import LocalCache
from explorer.journeys.intake import order_id_problem, shown_id
from explorer.orders.models import LiveMark, OrderArrival
from explorer.sources.base import Arrival, ListsArrivals, TraceSource
from explorer.store.models import insert_sql, quoted_names
from explorer.traces.vocabulary import ORDER_KEY

log = logging.getLogger("explorer.live")

# LiveMark name: the newest arrival read.
ARRIVALS_READ = "arrivals_read"
# A batch's arrival time is taken before its transaction commits: arrivals are read again
# this far back, so that one committed late is not missed (marking again changes nothing).
ARRIVAL_GRACE_NS = 60 * 10**9
# Ids refused lately (id, where): arrivals are read again for ARRIVAL_GRACE_NS, and a refused
# id is said once, not at every cycle of that time.
_refused: LocalCache[bool] = LocalCache(
    "refused order ids", max_weight=10_000, seconds=2 * ARRIVAL_GRACE_NS / 1e9
)
# Rows per `IN (...)` query.
IN_SLICE = 500


class Refusals:
    """Order ids that name no order: each is said once in a warning (which id, why, and where
    from) while the same id from the same place is refused again; `count` counts those said."""

    def __init__(self) -> None:
        self.count = 0

    def usable(self, order_id: str, where: str) -> bool:
        """Whether the id names an order; if not, it is refused."""
        problem = order_id_problem(order_id)
        if problem is not None:
            self.refuse(order_id, problem, where)
        return problem is None

    def refuse(self, order_id: str, problem: str, where: str) -> None:
        if _refused.get((order_id, where)) is not None:
            return
        _refused.put((order_id, where), True)
        log.warning(
            "live worker: order.id %s in %s refused (%s): its spans are stored, "
            "but it is not judged as an order",
            shown_id(order_id),
            where,
            problem,
        )
        self.count += 1


def mark_changed(order_ids: Iterable[str], arrived_ns: int) -> int:
    """Mark orders as changed by spans that arrived at `arrived_ns` (wall clock, ns), so that
    the worker computes them again and `orders --refresh --since` selects them. Returns how
    many were marked; marking again with an older arrival changes nothing. An id that names
    no order (explorer.journeys.intake) is logged and left out."""
    refusals = Refusals()
    ids = sorted({o for o in order_ids if o and refusals.usable(o, "the receiver's index")})
    _mark(dict.fromkeys(ids, arrived_ns))
    return len(ids)


def _mark(arrivals: Mapping[str, int]) -> None:
    """Note each order's arrival (pending), unless a later one is already noted: one upsert
    per order, correct whoever else marks at the same time (SQLite and PostgreSQL alike)."""
    if not arrivals:
        return
    fields = ("order_id", "arrived_ns", "pending", "failures")
    table, (order, arrived, pending, _) = quoted_names(OrderArrival, fields)
    # Names come from the model, every value is a parameter. A new arrival leaves the retry
    # schedule of a failing order as it is: spans arriving every second must not make it
    # tried every cycle.
    sql = insert_sql(
        OrderArrival,
        fields,
        f" ON CONFLICT ({order}) DO UPDATE SET {arrived} = excluded.{arrived}, "
        f"{pending} = excluded.{pending} WHERE {table}.{arrived} < excluded.{arrived}",
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(o, at, True, 0) for o, at in sorted(arrivals.items())])


def collect_arrivals(source: TraceSource, refusals: Refusals | None = None) -> int:
    """Mark the orders of the traces that received spans since the last call (a source that
    ListsArrivals; any other has none to read: its writer marks); returns how many orders
    were marked (ids refused are counted in `refusals`)."""
    if not isinstance(source, ListsArrivals):
        return 0
    read = get_mark(ARRIVALS_READ)
    arrived = source.arrivals_since(None if read is None else read - ARRIVAL_GRACE_NS, ORDER_KEY)
    if not arrived:
        return 0
    orders = _orders_of_traces(source, arrived, refusals or Refusals())
    _mark(_newer_than_marked(orders))
    set_mark(ARRIVALS_READ, max(a.arrived_ns for a in arrived))
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


def _orders_of_traces(
    source: ListsArrivals, arrived: list[Arrival], refusals: Refusals
) -> dict[str, int]:
    """order id -> latest arrival, for the traces that received spans: the orders named on
    them, and those named on the traces they link to (a consumer without `order.id`). An id
    that names no order is refused with its trace."""
    orders: dict[str, int] = {}
    refused: set[str] = set()

    def note(order_id: str, at: int, trace_id: str) -> None:
        if order_id in refused:
            return
        problem = order_id_problem(order_id) if order_id not in orders else None
        if problem is not None:
            refused.add(order_id)
            refusals.refuse(order_id, problem, f"trace {shown_id(trace_id)}")
        elif orders.get(order_id, -1) < at:
            orders[order_id] = at

    targets: dict[str, int] = {}
    for arrival in arrived:
        for value in arrival.values:
            note(value, arrival.arrived_ns, arrival.trace_id)
        for linked in arrival.links:
            targets[linked] = max(targets.get(linked, -1), arrival.arrived_ns)
    for trace_id, value in source.values_of_traces(list(targets), ORDER_KEY):
        note(value, targets[trace_id], trace_id)
    return orders


def get_mark(name: str) -> int | None:
    """A LiveMark's value (None: never set)."""
    return LiveMark.objects.filter(name=name).values_list("value_ns", flat=True).first()


def set_mark(name: str, value_ns: int) -> None:
    LiveMark.objects.update_or_create(name=name, defaults={"value_ns": value_ns})


def add_to_mark(name: str, n: int) -> None:
    """Add n to a LiveMark that keeps a count (created at n; another process creating it at
    the same moment: added to theirs)."""
    if LiveMark.objects.filter(name=name).update(value_ns=F("value_ns") + n):
        return
    try:
        with transaction.atomic():
            LiveMark.objects.create(name=name, value_ns=n)
    except IntegrityError:
        LiveMark.objects.filter(name=name).update(value_ns=F("value_ns") + n)


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


def pending_count() -> int:
    """Orders marked changed and not computed again yet."""
    return OrderArrival.objects.filter(pending=True).count()


def orders_not_collected(source: TraceSource) -> set[str]:
    """The orders of traces that received spans after the newest arrival collect_arrivals()
    read (not marked yet: the live worker's next cycle marks them); nothing for a source that
    does not list arrivals. Read only: nothing is marked."""
    read = get_mark(ARRIVALS_READ)
    if not isinstance(source, ListsArrivals) or read is None:
        return set()
    arrived = source.arrivals_since(read + 1, ORDER_KEY)
    return set(_orders_of_traces(source, arrived, Refusals())) if arrived else set()
