"""The diff graph of /compare/ (as Jaeger UI's trace diff): the merged tree of operations
(explorer.analysis.compare), one box per path of service and span name, marked added (only
in B), removed (only in A), slower or faster (time changed by more than CHANGE_SHARE), or
unchanged; each by a colour, a border and a text mark, never by colour alone.

Drawn as nested HTML lists (templates/web/_diff_graph.html): each node's children hang under
it, joined by lines (static/web/graphs.css). The template escapes every name; the nodes come
redacted from the view.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.analysis.compare import BOTH, ONLY_A, DiffNode, TraceDiff

MAX_GRAPH_NODES = 500  # boxes drawn; the table below lists more
CHANGE_SHARE = 0.1  # slower / faster: the path's time changed by more than this share

ADDED, REMOVED, SLOWER, FASTER, SAME = "added", "removed", "slower", "faster", "same"
MARKS = {ADDED: "+", REMOVED: "−", SLOWER: "▲", FASTER: "▼", SAME: "="}


def kind_of(node: DiffNode) -> str:
    if node.status != BOTH:
        return REMOVED if node.status == ONLY_A else ADDED
    before = node.duration_a_ns
    change = node.change_ns
    if before and abs(change) <= before * CHANGE_SHARE:
        return SAME
    if change > 0:
        return SLOWER
    return FASTER if change < 0 else SAME


@dataclass(frozen=True)
class GraphNode:
    """One box, with the list tags to write before it (nested lists, in tree order)."""

    node: DiffNode
    kind: str
    mark: str
    close_item: bool  # the previous box's <li> ends here
    close_levels: range  # then this many </ul></li>
    open_level: bool  # a <ul> starts: this box is the first child of the previous one


def diff_graph(diff: TraceDiff) -> tuple[list[GraphNode], range, bool]:
    """The boxes of the graph, how many levels to close after the last, whether paths were
    left out."""
    boxes: list[GraphNode] = []
    previous = 0
    for node in diff.nodes[:MAX_GRAPH_NODES]:
        depth = node.depth
        kind = kind_of(node)
        boxes.append(
            GraphNode(
                node,
                kind,
                MARKS[kind],
                close_item=bool(boxes) and depth <= previous,
                close_levels=range(max(previous - depth, 0)),
                open_level=bool(boxes) and depth > previous,
            )
        )
        previous = depth
    return boxes, range(previous if boxes else 0), len(diff.nodes) > len(boxes)
