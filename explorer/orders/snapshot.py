"""Store the order-status snapshot in one go (`manage.py orders --refresh [--since]`): every
order's row (or those of the orders whose spans arrived since a time) and the reference,
judged through the orders service; the live worker (explorer.orders.live) keeps it current
between two refreshes.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from explorer.journeys.now import Now
from explorer.orders.arrivals import collect_arrivals, orders_arrived_since, settle
from explorer.orders.models import BaselineSnapshot, OrderArrival, OrderStatus
from explorer.orders.service import JudgingConfig, judge_snapshot
from explorer.orders.status import Snapshot
from explorer.sources.base import TraceSource
from explorer.traces.gcpause import gc_paused


@dataclass(slots=True)
class Refreshed:
    """What a refresh stored: the snapshot judged and how many rows were written."""

    snapshot: Snapshot
    written: int


def refresh_snapshot(
    source: TraceSource, config: JudgingConfig, at: Now | None = None, since_ns: int | None = None
) -> Refreshed:
    """Judge every order (or, with since_ns, those whose spans arrived since then: the others'
    rows and typical-journey samples are kept) at `at` and store the rows and the reference.
    The orders stored are settled: the live worker need not compute them again (unless spans
    arrived meanwhile)."""
    collect_arrivals(source)  # so that the orders computed here are no longer pending
    arrived = orders_arrived_since(since_ns) if since_ns is not None else None
    previous = BaselineSnapshot.stored_samples(source.name) if since_ns is not None else None
    pending = dict(OrderArrival.objects.filter(pending=True).values_list("order_id", "arrived_ns"))
    # No cyclic collection while every trace of the source is held: the spans read are
    # millions of objects that live until the end, and each full collection walked them all
    # again (30 of them, a third of `orders --refresh` at 583,520 spans).
    with gc_paused():
        snapshot = judge_snapshot(source, config, at, orders=arrived, previous=previous)
    computed_at = timezone.now()
    written = OrderStatus.save_rows(snapshot.rows, computed_at, replace=since_ns is None)
    settle({r.order_id: pending[r.order_id] for r in snapshot.rows if r.order_id in pending})
    if snapshot.reference is not None:
        BaselineSnapshot.save_reference(source.name, snapshot.reference, computed_at)
    return Refreshed(snapshot, written)
