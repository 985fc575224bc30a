"""The critical path of a trace, with Jaeger UI's semantics (TracePage/CriticalPath).

Jaeger UI starts from the trace's first top-level span (the earliest-starting root) and:
1. drops FOLLOWS_FROM children with all their descendants (getChildOfSpans);
2. fits every remaining child into its (already fitted) parent: a child that starts before the
   parent is cut at the parent's start, one that ends after it is cut at the parent's end, and a
   child wholly outside the parent is dropped with all its descendants
   (sanitizeOverFlowingChildren);
3. walks from the end of the root backwards: the span is critical from the end of its last
   finishing child (LFC) to its own end; then the LFC is walked the same way; a span without
   (further) children is critical back to its own start, and its parent continues with the
   child that finished last before that start (computeCriticalPath,
   findLastFinishingChildSpan). Empty sections are left out.

Sections come out in Jaeger UI's order, from the end of the trace backwards, in the trace's own
microseconds (nanoseconds // 1000). Jaeger UI recurses; this walk is iterative with one cursor
per span over its children sorted by end time, so it is linear after one sort of each child
list and copes with traces 100,000 levels deep.

Where Jaeger UI fails rather than answers, this does something sensible instead: a top-level span
whose parent is absent is treated as a root (Jaeger UI drops it and returns no path), and a
section ending at time 0 is not mistaken for "no time given".
"""

from __future__ import annotations

from typing import NamedTuple

from explorer.analysis.tree import SpanTree
from explorer.traces.gcpause import gc_paused
from explorer.traces.model import RefType, Trace

FOLLOWS_FROM = RefType.FOLLOWS_FROM


class CriticalPathSection(NamedTuple):  # a tuple: tens of thousands are made per trace
    span_id: str
    start_us: int
    end_us: int


@gc_paused()
def critical_path(trace: Trace, tree: SpanTree | None = None) -> list[CriticalPathSection]:
    spans = trace.spans
    if tree is None:
        tree = SpanTree.of(trace)
    if not tree.roots:
        return []
    root = tree.roots[0]
    start, end, kept_children = _fit_children(tree, root)
    parent = tree.parent

    sections: list[CriticalPathSection] = []
    add = sections.append
    cursor = [0] * len(spans)  # per span: position in its sorted children to resume from
    node = root
    returning: int | None = None  # start of the child just walked, when coming back up
    while True:
        children = kept_children[node]
        at = cursor[node]
        if returning is None:
            section_end = end[node]
        else:
            section_end = returning
            if children:
                while at < len(children) and end[children[at]] >= returning:
                    at += 1
        if children and at < len(children):
            child = children[at]
            cursor[node] = at + 1
            if end[child] != section_end:
                add(CriticalPathSection(spans[node].span_id, end[child], section_end))
            node, returning = child, None
            continue
        if start[node] != section_end:
            add(CriticalPathSection(spans[node].span_id, start[node], section_end))
        if node == root:
            return sections
        node, returning = parent[node], start[node]


def _fit_children(
    tree: SpanTree, root: int
) -> tuple[list[int], list[int], list[list[int] | None]]:
    """Start and end (µs) of every span of the root's subtree that Jaeger UI keeps, fitted into
    its parent, and each kept span's kept children ordered as Jaeger UI orders them: by end
    time descending (before fitting), then start time, then position in the trace."""
    spans = tree.spans
    children_of = tree.children
    n = len(spans)
    start = [0] * n
    end = [0] * n
    raw_start = [0] * n
    raw_end = [0] * n
    start[root] = spans[root].start_ns // 1000
    end[root] = spans[root].end_ns // 1000
    kept_children: list[list[int] | None] = [None] * n
    stack = [root]
    while stack:
        p = stack.pop()
        p_start, p_end = start[p], end[p]
        kept = []
        for c in children_of[p]:
            span = spans[c]
            if span.parent_ref == FOLLOWS_FROM:
                continue
            c_start, c_end = span.start_ns // 1000, span.end_ns // 1000
            if c_start >= p_start:
                if c_start >= p_end:
                    continue
                start[c] = c_start
            else:
                if c_end <= p_start:
                    continue
                start[c] = p_start
            end[c] = c_end if c_end < p_end else p_end
            raw_start[c], raw_end[c] = c_start, c_end
            kept.append(c)
        if kept:
            if len(kept) > 1:
                kept.sort(key=raw_start.__getitem__)
                kept.sort(key=raw_end.__getitem__, reverse=True)  # stable, ties keep the above
            kept_children[p] = kept
            stack.extend(kept)
    return start, end, kept_children
