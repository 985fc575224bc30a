"""Order journeys: one order across many traces, checked against the state graph.

Framework-free. The modules, in the order the analysis runs:

- now: the "now" an order is judged at (never the wall clock);
- assembly: find every trace of an order (business attributes and span links) and merge them
  into one Journey (journey: the types, a timeline of steps);
- checking: the order's states against the StateGraph (conformance: the verdict's types,
  violations, dwell, status);
- sla: response times of container endpoints against sla.json;
- anomalies: robust latency baselines per (container, operation) and atypical spans;
- typical: the typical journey of a customer type and how one journey differs from it;
- story: the journey told in English and Russian;
- reporting: all of the above for one order or for every order in a source (report: the
  JourneyReport and the Reference it is judged against);
- bulk: every trace of a source read once, answering the look-ups of many orders' assembly;
- lookups: which orders there are (every order id, a customer's orders);
- intake: which `order.id` values name an order.

Nothing here imports Django or accounts (an import-linter contract holds it). Pages, tours,
alerts, commands and the receiver judge orders through explorer.orders.service, which takes
the configuration and "now" and calls these; explorer.orders also stores the snapshot.
"""
