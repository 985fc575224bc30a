"""Group spans into traces and repair what real trace data gets wrong.

Every repair leaves a warning on Trace.warnings, so a page can say what was changed:
- the same span id twice: an identical copy is dropped silently (exporters retry), a different
  span with the same id is dropped with a warning (the first one wins);
- a span that ends before it starts: its end is set to its start;
- a cycle of parent links: the earliest span of the cycle becomes a root;
- a parent that is not in the trace: parent_id is kept as given, so spans of the same trace
  that arrive later (another file, another batch) still attach; until then Trace.roots()
  treats the span as a root.

Framework-free; the store calls normalise() again on merged spans of one trace id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from explorer.traces.model import Span, Trace


def normalise(spans: Iterable[Span]) -> list[Trace]:
    """Spans grouped by trace id (in order of first appearance), each trace repaired."""
    groups: dict[str, list[Span]] = {}
    last_id: str | None = None
    group: list[Span] = []
    for span in spans:
        trace_id = span.trace_id
        if trace_id != last_id:  # spans mostly come in runs of one trace: look up once per run
            found = groups.get(trace_id)
            if found is None:
                found = groups[trace_id] = []
            group = found
            last_id = trace_id
        group.append(span)
    return [repair(trace_id, group) for trace_id, group in groups.items()]


def repair(trace_id: str, spans: list[Span]) -> Trace:
    """One trace from spans that all carry `trace_id`."""
    warnings: list[str] = []
    by_id = {span.span_id: span for span in reversed(spans)}  # the first of equal ids wins
    kept = spans if len(by_id) == len(spans) else _drop_duplicates(spans, by_id, warnings)
    for span in [span for span in kept if span.end_ns < span.start_ns]:
        warnings.append(
            f"span {span.span_id} ({span.name!r}) ends before it starts; end set to start"
        )
        span.end_ns = span.start_ns
    parent_of = {span.span_id: span.parent_id for span in kept}
    _break_cycles(parent_of, by_id, warnings)
    _note_absent_parents(parent_of, warnings)
    return Trace(trace_id, list(kept), warnings)


def _drop_duplicates(spans: list[Span], by_id: dict[str, Span], warnings: list[str]) -> list[Span]:
    kept = []
    for span in spans:
        first = by_id[span.span_id]
        if first is span:
            kept.append(span)
        elif first != span:
            warnings.append(
                f"span id {span.span_id} is used by two different spans "
                f"({first.name!r} and {span.name!r}); kept the first"
            )
    return kept


def _break_cycles(
    parent_of: dict[str, str | None], by_id: dict[str, Span], warnings: list[str]
) -> None:
    # Walk up from every span, stamping each span with the number of the walk that reached it
    # first: meeting a stamp of an earlier walk means "reaches a root", meeting the current
    # walk's stamp means a cycle. Each span is stamped once, so this stays linear.
    walk_of: dict[str, int] = {}
    for walk, span_id in enumerate(parent_of):
        current: str | None = span_id
        while current is not None:
            stamp = walk_of.get(current)
            if stamp is not None:
                if stamp == walk:
                    _break_cycle_at(current, parent_of, by_id, warnings)
                break
            walk_of[current] = walk
            current = parent_of.get(current)


def _break_cycle_at(
    member: str, parent_of: dict[str, str | None], by_id: dict[str, Span], warnings: list[str]
) -> None:
    cycle = [by_id[member]]
    current = parent_of[member]
    while current != member:
        assert current is not None  # a cycle: every member has a parent
        cycle.append(by_id[current])
        current = parent_of[current]
    root = min(cycle, key=lambda s: (s.start_ns, s.span_id))
    names = ", ".join(s.span_id for s in cycle)
    warnings.append(f"cycle of parent links through spans {names}; span {root.span_id} made a root")
    root.parent_id = None
    parent_of[root.span_id] = None


def _note_absent_parents(parent_of: dict[str, str | None], warnings: list[str]) -> None:
    orphans: dict[str, int] = {}
    for parent in parent_of.values():
        if parent is not None and parent not in parent_of:
            orphans[parent] = orphans.get(parent, 0) + 1
    warnings.extend(absent_parent_warning(parent, count) for parent, count in orphans.items())


def absent_parent_warning(parent: str, count: int) -> str:
    who = "1 span" if count == 1 else f"{count} spans"
    return f"parent {parent} absent ({who} shown as roots until it arrives)"


_ABSENT = re.compile(r"parent (.*) absent \((\d+) spans? shown as roots until it arrives\)")


def absent_parent(warning: str) -> tuple[str, int] | None:
    """(parent id, spans waiting for it) of an absent-parent warning, else None."""
    found = _ABSENT.fullmatch(warning)
    return (found[1], int(found[2])) if found else None


def with_absent_parents(
    warnings: Iterable[str], present: Callable[[str], bool], more: Iterable[str] = ()
) -> list[str]:
    """Warnings of a trace that spans were merged into: absent-parent warnings (of `warnings`
    and `more`) whose parent is now `present` are gone, counts of one parent add up; the
    others are kept once, in order, absent parents last (as repair() writes them)."""
    kept: list[str] = []
    waiting: dict[str, int] = {}
    for warning in [*warnings, *more]:
        absent = absent_parent(warning)
        if absent is None:
            if warning not in kept:
                kept.append(warning)
        elif not present(absent[0]):
            waiting[absent[0]] = waiting.get(absent[0], 0) + absent[1]
    return kept + [absent_parent_warning(p, n) for p, n in waiting.items()]


def recount_absent_parents(spans: Iterable[Span], warnings: Iterable[str]) -> list[str]:
    """The warnings of merged spans with their absent-parent warnings computed again from the
    spans (as repair() would); the other warnings are kept once, in order."""
    parent_of = {span.span_id: span.parent_id for span in spans}
    kept = [w for w in dict.fromkeys(warnings) if absent_parent(w) is None]
    _note_absent_parents(parent_of, kept)
    return kept
