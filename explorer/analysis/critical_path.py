"""The critical path of a trace, with Jaeger UI's semantics (TracePage/CriticalPath, 2026).

Jaeger UI follows every span without a parent reference (a true root), in order of start
time in whole microseconds (a stable sort: trace order within one microsecond), and appends
each one's sections. An orphan, a span whose parent id names a span that is
not in the trace (or itself), is shown as a root in the waterfall but is not followed: Jaeger UI
drops a span whose parent is missing from its span map (sanitizeOverFlowingChildren), and with
it the orphan's whole subtree, so none of it is on the path; a trace of orphans only has none.
A cycle of parent links never gets here whole: normalise makes one of its spans a true root
(parent_id None), which is then followed, as Jaeger UI follows the span it takes the cyclic
parent reference from. Given a cycle directly, no span of it is followed.
For one true root it:
1. prunes CONSUMER children of PRODUCER spans with all their descendants (a message's consumer
   does not block its producer; createCPSpanMap). Any other child, FOLLOWS_FROM ones too, stays;
2. fits every remaining child into its (already fitted) parent: a child that starts before the
   parent is cut at the parent's start, one that ends after it is cut at the parent's end, and a
   child wholly outside the parent is dropped with all its descendants
   (sanitizeOverFlowingChildren);
3. walks from the end of the root backwards: the span is critical from the end of its last
   finishing child (LFC) to its own end; then the LFC is walked the same way; a span without
   (further) children is critical back to its own start, and its parent continues with the
   child that finished last before that start (computeCriticalPath,
   findLastFinishingChildSpan). Between children with the same (fitted) end the one met first
   wins, and Jaeger UI meets children by start time: of two children cut at their parent's
   end, the one starting first. Empty sections are left out.

Sections come out in Jaeger UI's order, from the end of each root backwards, in the trace's own
microseconds as Jaeger gives them to Jaeger UI: a span starts at start_ns // 1000 and ends its
duration later, (end_ns - start_ns) // 1000, which is 1 µs before end_ns // 1000 when the
sub-microsecond parts of start and duration add up to a microsecond or more (OTLP times in
nanoseconds, as in Grafana Tempo's test traces); that microsecond can decide which child
finishes last. Jaeger UI recurses; this walk is iterative with one cursor
per span over its children sorted by end time, so it is linear after one sort of each child
list and copes with traces 100,000 levels deep.

The one deviation, where Jaeger UI cannot draw a path: it takes a section ending at time 0 for
"no time given" (`returningChildStartTime || endTime`); here 0 is a time like any other.
"""

from __future__ import annotations

from typing import NamedTuple

from explorer.analysis.tree import SpanTree
from explorer.traces.gcpause import gc_paused
from explorer.traces.model import SpanKind, Trace

PRODUCER = SpanKind.PRODUCER
CONSUMER = SpanKind.CONSUMER


class CriticalPathSection(NamedTuple):  # a tuple: tens of thousands are made per trace
    span_id: str
    start_us: int
    end_us: int


@gc_paused()
def critical_path(trace: Trace, tree: SpanTree | None = None) -> list[CriticalPathSection]:
    spans = trace.spans
    if tree is None:
        tree = SpanTree.of(trace)
    n = len(spans)
    # Root subtrees are disjoint, so one set of arrays serves every root.
    start = [0] * n
    end = [0] * n
    kept_children: list[list[int] | None] = [None] * n
    cursor = [0] * n  # per span: position in its sorted children to resume from
    parent = tree.parent
    sections: list[CriticalPathSection] = []
    add = sections.append
    # Orphans (a parent id naming no span here) are left off the path with their subtrees;
    # true roots go by start in whole microseconds, then trace order, as Jaeger UI sorts them
    # (in nanoseconds, a span 0.9 µs later could come first).
    roots = [i for i in tree.roots if spans[i].parent_id is None]
    roots.sort(key=lambda i: (spans[i].start_ns // 1000, i))
    for root in roots:
        _fit_children(tree, root, start, end, kept_children)
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
                break
            node, returning = parent[node], start[node]
    return sections


def _fit_children(
    tree: SpanTree,
    root: int,
    start: list[int],
    end: list[int],
    kept_children: list[list[int] | None],
) -> None:
    """Fill in start and end (µs) of every span of the root's subtree that Jaeger UI keeps,
    fitted into its parent, and each kept span's kept children ordered as Jaeger UI's
    findLastFinishingChildSpan meets them: by fitted end time descending, then start time
    (Jaeger UI's child order), then position in the trace."""
    spans = tree.spans
    children_of = tree.children
    raw_start: dict[int, int] = {}
    start[root] = spans[root].start_ns // 1000
    end[root] = start[root] + (spans[root].end_ns - spans[root].start_ns) // 1000
    stack = [root]
    while stack:
        p = stack.pop()
        p_start, p_end = start[p], end[p]
        producer = spans[p].kind == PRODUCER
        kept = []
        for c in children_of[p]:
            span = spans[c]
            if producer and span.kind == CONSUMER:
                continue  # a message consumer does not block its producer
            c_start = span.start_ns // 1000
            c_end = c_start + (span.end_ns - span.start_ns) // 1000  # as Jaeger: start + duration
            if c_start >= p_start:
                if c_start >= p_end:
                    continue
                start[c] = c_start
            else:
                if c_end <= p_start:
                    continue
                start[c] = p_start
            end[c] = c_end if c_end < p_end else p_end
            raw_start[c] = c_start
            kept.append(c)
        if kept:
            if len(kept) > 1:
                kept.sort(key=raw_start.__getitem__)
                kept.sort(key=end.__getitem__, reverse=True)  # stable, ties keep the above
            kept_children[p] = kept
            stack.extend(kept)
