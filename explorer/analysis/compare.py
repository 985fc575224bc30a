"""The structure diff of two traces, as Jaeger UI's trace comparison. Framework-free.

Spans are matched by their path: the (service, span name) of every span from the root down to
them (a node is keyed by its parent node and its own pair, so paths are never copied). Each
path becomes one node with how many spans of A and of B follow it and how long they
took, so a node is only in A, only in B, or in both (with the change in time and count).
Nodes come in tree order: depth-first, children by their first start in either trace.
Iterative: a chain of a million spans cannot overflow the stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.analysis.tree import SpanTree
from explorer.traces.model import Trace

ONLY_A = "only_a"
ONLY_B = "only_b"
BOTH = "both"

Path = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class DiffNode:
    """One path of the merged tree. Durations are sums over the path's spans, in ns."""

    parent: DiffNode | None
    service: str
    name: str
    depth: int
    count_a: int = 0
    count_b: int = 0
    duration_a_ns: int = 0
    duration_b_ns: int = 0
    errors_a: int = 0
    errors_b: int = 0
    first_start_ns: int = 0  # offset from its trace's start, for the order of siblings

    @property
    def path(self) -> Path:
        """(service, name) from the root down to this node."""
        steps = []
        node: DiffNode | None = self
        while node is not None:
            steps.append((node.service, node.name))
            node = node.parent
        return tuple(reversed(steps))

    @property
    def status(self) -> str:
        if self.count_a and self.count_b:
            return BOTH
        return ONLY_A if self.count_a else ONLY_B

    @property
    def change_ns(self) -> int:
        """B's time minus A's time on this path (the sum over its spans)."""
        return self.duration_b_ns - self.duration_a_ns

    @property
    def change_ratio(self) -> float | None:
        """B's time / A's time; None when A spent none."""
        return self.duration_b_ns / self.duration_a_ns if self.duration_a_ns else None


@dataclass(slots=True)
class TraceDiff:
    nodes: list[DiffNode]  # tree order
    span_count_a: int
    span_count_b: int
    duration_a_ns: int
    duration_b_ns: int

    def count(self, status: str) -> int:
        return sum(1 for node in self.nodes if node.status == status)


Key = tuple[int, str, str]  # (id of the parent node or 0, service, name)


def _collect(trace: Trace, nodes: dict[Key, DiffNode], side: str) -> None:
    spans = trace.spans
    if not spans:
        return
    tree = SpanTree.build(spans)
    start = trace.start_ns
    stack: list[tuple[int, DiffNode | None]] = [(root, None) for root in reversed(tree.roots)]
    while stack:
        position, parent = stack.pop()
        span = spans[position]
        key = (id(parent) if parent is not None else 0, span.resource.service_name, span.name)
        node = nodes.get(key)
        offset = span.start_ns - start
        if node is None:
            node = nodes[key] = DiffNode(
                parent,
                key[1],
                key[2],
                parent.depth + 1 if parent is not None else 0,
                first_start_ns=offset,
            )
        else:
            node.first_start_ns = min(node.first_start_ns, offset)
        duration = max(span.end_ns - span.start_ns, 0)
        if side == "a":
            node.count_a += 1
            node.duration_a_ns += duration
            node.errors_a += span.is_error
        else:
            node.count_b += 1
            node.duration_b_ns += duration
            node.errors_b += span.is_error
        stack.extend((child, node) for child in reversed(tree.children[position]))


def compare_traces(a: Trace, b: Trace) -> TraceDiff:
    """The merged tree of A and B, node by node, in tree order."""
    nodes: dict[Key, DiffNode] = {}  # the nodes stay referenced: their id()s stay unique
    _collect(a, nodes, "a")
    _collect(b, nodes, "b")
    children: dict[int, list[DiffNode]] = {}
    for node in nodes.values():
        children.setdefault(id(node.parent) if node.parent is not None else 0, []).append(node)
    for siblings in children.values():
        siblings.sort(key=lambda n: (n.first_start_ns, n.service, n.name))
    ordered: list[DiffNode] = []
    stack = list(reversed(children.get(0, [])))
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(reversed(children.get(id(node), [])))
    return TraceDiff(ordered, len(a.spans), len(b.spans), _duration(a), _duration(b))


def _duration(trace: Trace) -> int:
    return max(trace.end_ns - trace.start_ns, 0) if trace.spans else 0
