"""Order journeys: one order across many traces, checked against the state graph.

Framework-free. The modules, in the order the analysis runs:

- assembly: find every trace of an order (business attributes and span links) and merge them
  into one Journey (a timeline of steps);
- conformance: the order's states against the StateGraph (violations, dwell, status);
- sla: response times of container endpoints against sla.json;
- anomalies: robust latency baselines per (container, operation) and atypical spans;
- typical: the typical journey of a customer type and how one journey differs from it;
- story: the journey told in English and Russian;
- report: all of the above for one order or for every order in a source;
- bulk: every trace of a source read once, answering the look-ups of many orders' assembly.

Nothing here imports Django or accounts (an import-linter contract holds it). Pages, tours,
alerts, commands and the receiver judge orders through explorer.orders.service, which takes
the configuration and "now" and calls these; explorer.orders also stores the snapshot.
"""
