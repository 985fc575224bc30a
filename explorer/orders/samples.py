"""Each order's typical-journey sample, kept with its status row (OrderStatus.sample), so
that the reference computed for an old order's time (explorer.journeys.reporting.reference_at)
takes the samples of the two hundred orders it samples from there instead of reading their
5,000 traces. A sample depends on the order's journey only, never on "now"
(explorer.journeys.typical.OrderSample): the stored one equals the one computed from the
traces while the order's traces received no spans since its row was computed.

So a stored sample is used only when the source notes arrivals (ListsArrivals: the embedded
store) and the live worker's marks say the order did not change since: it is not marked
pending (spans arrived and its row was not computed again), and none of its traces received
spans after the newest arrival the worker read (explorer.orders.arrivals). The others are
read from their traces, as before.
"""

from __future__ import annotations

from explorer.journeys.report import StoredSamples
from explorer.journeys.typical import OrderSample
from explorer.orders.arrivals import ARRIVALS_READ, IN_SLICE, get_mark, orders_not_collected
from explorer.orders.models import OrderArrival, OrderStatus
from explorer.sources.base import ListsArrivals, TraceSource


def current_samples(source: TraceSource) -> StoredSamples | None:
    """What gives the stored samples of orders that are still current (see the module), or
    None for a source whose arrivals are not noted (nothing would say a sample went stale)."""
    if not isinstance(source, ListsArrivals):
        return None
    return lambda order_ids: _current(source, order_ids)


def _current(source: TraceSource, order_ids: list[str]) -> dict[str, OrderSample]:
    if not order_ids or get_mark(ARRIVALS_READ) is None:
        return {}  # no arrival ever collected: nothing says which rows are current
    found = _stored(order_ids)
    if not found:
        return found
    ids = list(found)
    changed = orders_not_collected(source)
    for first in range(0, len(ids), IN_SLICE):
        pending = OrderArrival.objects.filter(
            order_id__in=ids[first : first + IN_SLICE], pending=True
        )
        changed.update(pending.values_list("order_id", flat=True))
    return {o: sample for o, sample in found.items() if o not in changed}


def _stored(order_ids: list[str]) -> dict[str, OrderSample]:
    """The samples stored with these orders' rows (a damaged one is left out)."""
    found: dict[str, OrderSample] = {}
    for first in range(0, len(order_ids), IN_SLICE):
        rows = OrderStatus.objects.filter(
            order_id__in=order_ids[first : first + IN_SLICE], sample__isnull=False
        ).values_list("order_id", "sample")
        for order_id, data in rows:
            try:
                sample = OrderSample.from_dict(data) if isinstance(data, dict) else None
            except (KeyError, TypeError, ValueError, AttributeError):
                sample = None  # damaged by hand: its traces answer
            if sample is not None and sample.order_id == order_id:
                found[order_id] = sample
    return found
