"""The parent/child index of one trace, built once and shared by the analyses.

Spans are addressed by their position in the list, not by id, so duplicate ids or parent
cycles in bad input cannot make a walk loop: every span has at most one parent position, and a
walk that starts at a root only ever meets each span once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from explorer.traces.gcpause import gc_paused
from explorer.traces.model import Span, Trace

NO_PARENT = -1


@dataclass(slots=True)
class SpanTree:
    spans: Sequence[Span]
    parent: list[int]  # position of the parent span, NO_PARENT for a root
    children: list[list[int]]  # positions of the direct children, in trace order
    roots: list[int]  # spans whose parent is absent from the trace, by start time then position

    @classmethod
    def of(cls, trace: Trace) -> SpanTree:
        """The tree of a trace, built anew: nothing is kept between calls, so threads never
        share a tree and a span list changed in place is never read through a stale one. A
        caller running several analyses of one trace builds the tree once and passes it
        (`analyse`, the stored layouts)."""
        return cls.build(trace.spans)

    @classmethod
    @gc_paused()
    def build(cls, spans: Sequence[Span]) -> SpanTree:
        n = len(spans)
        ids = [span.span_id for span in spans]
        # the first of equal ids wins, as in normalise: later entries overwrite earlier ones
        position: dict[str | None, int] = dict(
            zip(reversed(ids), range(n - 1, -1, -1), strict=True)
        )
        parent: list = list(map(position.get, [span.parent_id for span in spans]))
        children: list[list[int]] = [[] for _ in range(n)]
        roots = []
        for i, p in enumerate(parent):
            if p is None or p == i:  # no parent, an absent one, or itself
                parent[i] = NO_PARENT
                roots.append(i)
            else:
                children[p].append(i)
        roots.sort(key=lambda i: spans[i].start_ns)  # stable: equal starts keep trace order
        return cls(spans, parent, children, roots)
