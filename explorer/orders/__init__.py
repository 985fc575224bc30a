"""Orders: the Django app that judges orders for everyone else and keeps their statuses.

- service: THE one door: pages, tours, alerts, commands and the receiver judge an order
  through it (and take "now" from it), never through explorer.journeys' judging modules;
- status: one row per order for the order-status snapshot, stuck decided at read time;
- models: the snapshot tables (OrderStatus, BaselineSnapshot: the reference an order is
  judged against, OrderArrival: orders changed by new spans, LiveMark);
- live: the live worker that keeps the snapshot current (docs/live.md).

The app label is "journeys" (see apps.py): the tables and the migration history carry it.
The judging itself (assembly, conformance, SLA, anomalies, typical journeys, story, report)
is framework-free in explorer.journeys.
"""
