"""The analysis core: pure functions over explorer.traces.model (no Django).

- critical_path(trace): Jaeger UI's critical path sections;
- ServiceGraph / service_graph(traces): Grafana Tempo's service-graph edges;
- self_times(tree), OperationStatistics / operation_stats(traces): self time and statistics per
  operation;
- SpanTree.build(spans): the parent/child index the analyses share (build it once per trace);
- explorer.analysis.layout: the waterfall layout (tree order, critical rows, minimap) that the
  embedded store keeps with a trace and the trace pages read.
"""

from explorer.analysis.critical_path import CriticalPathSection, critical_path
from explorer.analysis.service_graph import Edge, ServiceGraph, service_graph
from explorer.analysis.stats import OperationStatistics, OperationStats, operation_stats, self_times
from explorer.analysis.tree import SpanTree

__all__ = [
    "CriticalPathSection",
    "Edge",
    "OperationStatistics",
    "OperationStats",
    "ServiceGraph",
    "SpanTree",
    "critical_path",
    "operation_stats",
    "self_times",
    "service_graph",
]
