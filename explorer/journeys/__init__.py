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
- bulk: every trace of a source read once, answering the look-ups of many orders' assembly;
- status: one row per order for the order-status snapshot, with stuck decided at read time.

Also a Django app (label "journeys"): models.py holds the snapshot tables that
`manage.py orders --refresh` writes (OrderStatus, and BaselineSnapshot: the reference an order
is judged against, report.Reference); nothing above imports Django.
"""
