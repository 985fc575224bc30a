"""Order conditions of queries (`order.status = stuck`, `order.dwell(SUBMITTED) > 1d`)
answered from the order-status rows: explorer.sources.querying's OrderLookup. Reached through
explorer.orders.service.order_lookup (the door).

- `order.NAME`: the row's field: id, status (decided at "now", as the pages do),
  customer_type, customer_id, channel, state, anomalous; an order without a row knows nothing
  (the condition is false).
- `order.dwell(STATE)`: how long the order has been in its current state when that is STATE
  (from the row), else the total time it spent in STATE, from its journey (read once per
  order and query).

A trace belongs to the order named by its first `order.id` (span, then resource attribute).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

from explorer.journeys.assembly import journey_for_order
from explorer.journeys.checking import check_states
from explorer.journeys.conformance import COMPLETE, IN_PROGRESS, LOST, STUCK
from explorer.orders.models import OrderStatus
from explorer.query.nodes import Operator, OrderCondition, OrderDwell
from explorer.sources.base import TraceSource
from explorer.traces.model import Trace
from explorer.traces.vocabulary import ORDER_KEY

# order.NAME -> the row's column (status is decided at "now" instead).
COLUMNS = {
    "id": "order_id",
    "customer_type": "customer_type",
    "customer_id": "customer_id",
    "channel": "channel",
    "state": "state",
    "anomalous": "anomalous",
}
NAMES = ("status", *COLUMNS)
STATUSES = (COMPLETE, IN_PROGRESS, LOST, STUCK)


def order_of(trace: Trace) -> str | None:
    for span in trace.spans:
        for attributes in (span.attributes, span.resource.attributes):
            value = attributes.get(ORDER_KEY)
            if isinstance(value, str) and value:
                return value
    return None


# Facts that name a customer: a viewer who sees pseudonyms queries them as shown (`seen`).
IDENTIFYING = frozenset({"id", "customer_id"})


class StatusRowOrders:
    """OrderLookup over the order-status rows, judged at `now_ns`. `seen(name, value)`: a fact
    as the viewer sees it (their redaction), so a query cannot find what it hides; the rows
    are then not narrowed by identifying facts (they hold the raw values)."""

    def __init__(
        self,
        source: TraceSource,
        config,
        now_ns: int,
        seen: Callable[[str, object], object] | None = None,
    ) -> None:
        self.source, self.config, self.now_ns, self.seen = source, config, now_ns, seen
        self._rows: dict[str, OrderStatus | None] = {}
        self._dwells: dict[str, dict[str, int]] = {}

    def value(self, trace: Trace, name: str) -> object | None:
        row = self._row(order_of(trace))
        if row is None:
            return None
        if name == "status":
            return row.status_at(self.now_ns)
        column = COLUMNS.get(name)
        value = getattr(row, column) if column else None
        if value == "" or value is None:
            return None
        return self.seen(name, value) if self.seen is not None else value

    def dwell_ns(self, trace: Trace, state: str) -> int | None:
        order_id = order_of(trace)
        row = self._row(order_id)
        if row is None or order_id is None:
            return None
        if row.state == state and row.state_since_ns is not None:
            return max(0, self.now_ns - row.state_since_ns)
        if order_id not in self._dwells:
            container_of = self.config.container_of
            journey = journey_for_order(self.source, order_id, container_of=container_of)
            totals: dict[str, int] = {}
            for dwell in check_states(journey, self.config.graph, self.now_ns).dwells:
                totals[dwell.state] = totals.get(dwell.state, 0) + dwell.duration_ns
            self._dwells[order_id] = totals
        return self._dwells[order_id].get(state)

    def orders_where(self, conditions: list[OrderCondition | OrderDwell]) -> list[str] | None:
        rows: QuerySet[OrderStatus] = OrderStatus.objects.all()
        narrowed = False
        for condition in conditions:
            if not isinstance(condition, OrderCondition) or condition.op is not Operator.EQ:
                continue  # a dwell may be of a past state, which the row does not hold
            name, value = condition.name, condition.value
            if name not in NAMES:
                return []  # no order has such a fact
            if self.seen is not None and name in IDENTIFYING:
                continue
            typed = isinstance(value, bool) if name == "anomalous" else isinstance(value, str)
            if not typed:
                continue  # a number or bool matches text that spells it: evaluated here
            if name == "status":
                if value not in STATUSES:
                    return []
                rows = rows.with_status_at(value, self.now_ns)  # type: ignore[attr-defined]
            else:
                rows = rows.filter(**{COLUMNS[name]: value})
            narrowed = True
        return self._ids(rows) if narrowed else None

    def all_orders(self) -> list[str]:
        return self._ids(OrderStatus.objects.all())

    def _ids(self, rows: QuerySet[OrderStatus]) -> list[str]:
        return list(rows.newest_first().values_list("order_id", flat=True))  # type: ignore[attr-defined]

    def _row(self, order_id: str | None) -> OrderStatus | None:
        if order_id is None:
            return None
        if order_id not in self._rows:
            self._rows[order_id] = OrderStatus.objects.filter(order_id=order_id).first()
        return self._rows[order_id]
