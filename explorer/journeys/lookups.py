"""Which orders there are: every order id in a source, the orders of one customer. Look-ups,
not judging: pages and commands list orders with them and judge each through
explorer.orders.service.
"""

from __future__ import annotations

from explorer.journeys.assembly import own_value
from explorer.journeys.intake import order_id_problem
from explorer.journeys.journey import Window
from explorer.sources.base import ListsAttributeValues, SourceError, TraceSource
from explorer.traces.vocabulary import CUSTOMER_KEY, ORDER_KEY


def order_ids(
    source: TraceSource, window: Window = (None, None), limit: int = 100_000
) -> list[str]:
    """Every order id in the source (or window), where the source can list attribute values;
    values that name no order (explorer.journeys.intake) are left out."""
    if not isinstance(source, ListsAttributeValues):
        raise SourceError(f"{source.name}: cannot list orders (no attribute_values)")
    values = source.attribute_values(ORDER_KEY, *window, limit=limit)
    return [v for v in values if order_id_problem(v) is None]


def customer_orders(
    source: TraceSource, customer_id: str, window: Window = (None, None), limit: int = 1000
) -> list[str]:
    """The orders of one customer, oldest first."""
    start_ns, end_ns = window
    first_seen: dict[str, int] = {}
    for summary in source.find_traces(CUSTOMER_KEY, customer_id, start_ns, end_ns, limit=limit):
        order_ids = [summary.attributes[ORDER_KEY]] if summary.attributes.get(ORDER_KEY) else []
        if not order_ids:
            try:
                trace = source.get_trace(summary.trace_id)
            except SourceError:
                continue
            order_ids = sorted(
                {
                    v
                    for s in trace.spans
                    if own_value(s, CUSTOMER_KEY) in (customer_id, None)
                    and (v := own_value(s, ORDER_KEY)) is not None
                }
            )
        for order_id in order_ids:
            if summary.start_ns < first_seen.get(order_id, summary.start_ns + 1):
                first_seen[order_id] = summary.start_ns
    return sorted(first_seen, key=lambda o: (first_seen[o], o))
