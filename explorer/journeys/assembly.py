"""Assemble one order's journey from every trace that touches it.

Traces are found through the business attribute `order.id` and then through span links, both
ways (a consumer trace links to the producer span of the order's trace even when the consumer
carries no `order.id`). Spans that belong to another order (their own `order.id`, or their
nearest ancestor's, names a different order) are left out, so a batch job that handles many
orders does not mix them. A span with no `order.id` of its own or above it belongs to the order
when its trace holds spans of the order, or when it (or an ancestor) links to a span that
belongs to the order: a producer span of another order in a shared trace does not bring its
consumers in. A span without `order.id` in a trace that also holds other orders' spans (a
carrier's webhook batch) is shared: its slowness counts for an order only when that order's own
spans under it are slow too (own_anomalies). Nothing here raises on odd data: it becomes a
warning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from explorer.journeys.anomalies import Anomaly
from explorer.journeys.journey import ContainerOf, Journey, Step, Window, service_container
from explorer.sources.base import (
    FindsLinkingTraces,
    ReadsTracesInBulk,
    SourceError,
    TraceNotFound,
    TraceSource,
)
from explorer.traces.model import Span, SpanKind, Trace
from explorer.traces.vocabulary import (
    CUSTOMER_KEY,
    CUSTOMER_TYPE_KEY,
    NEW_STATE_KEY,
    ORDER_KEY,
    STATE_EVENT,
)

# Spans that make a step of the timeline: where a container starts work, sends or receives.
_STEP_KINDS = {SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.PRODUCER}
# Levels of links journey_for_order follows from an order's own traces.
MAX_LINK_DEPTH = 3
# Warnings of one kind beyond this many are summarised, so a broken trace cannot flood a page.
_MAX_WARNINGS_PER_KIND = 5


class _Warnings:
    """Collects warnings, at most a few of each kind, and says how many more there were."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._counts: Counter[str] = Counter()

    def add(self, kind: str, text: str) -> None:
        self._counts[kind] += 1
        if self._counts[kind] <= _MAX_WARNINGS_PER_KIND:
            self.lines.append(text)

    def result(self) -> list[str]:
        extra = [
            f"{n - _MAX_WARNINGS_PER_KIND} more warnings like '{kind}' were left out"
            for kind, n in self._counts.items()
            if n > _MAX_WARNINGS_PER_KIND
        ]
        return self.lines + extra


def own_value(span: Span, key: str) -> str | None:
    value = span.attributes.get(key, span.resource.attributes.get(key))
    return None if value is None else str(value)


def _span_orders(trace: Trace) -> dict[str, str | None]:
    """span id -> the order the span works for: its own order.id, else its nearest ancestor's."""
    by_id = {s.span_id: s for s in trace.spans}
    result: dict[str, str | None] = {}
    for span in trace.spans:
        chain: list[str] = []
        on_chain: set[str] = set()
        current: Span | None = span
        while current is not None and current.span_id not in result:
            own = own_value(current, ORDER_KEY)
            if own is not None:
                result[current.span_id] = own
                break
            chain.append(current.span_id)
            on_chain.add(current.span_id)
            current = by_id.get(current.parent_id) if current.parent_id else None
            if current is not None and current.span_id in on_chain:
                current = None  # a parent cycle: treat the span as a root
        value = result[current.span_id] if current is not None else None
        for span_id in chain:
            result[span_id] = value
    return result


def linking_trace_ids(source: TraceSource, trace_id: str) -> list[str]:
    """Traces with a span that links to a span of this trace, where the source can tell."""
    if not isinstance(source, FindsLinkingTraces):
        return []
    return list(source.linking_traces(trace_id))


def _fetch(source: TraceSource, trace_ids: list[str], warnings: _Warnings) -> list[Trace]:
    """The traces of these ids, in one round trip where the source can (get_traces)."""
    found: list[Trace] = []
    unreadable: set[str] = set()
    if isinstance(source, ReadsTracesInBulk):
        try:
            found = list(source.get_traces(trace_ids))
        except SourceError as exc:
            warnings.add("source", f"{len(trace_ids)} traces could not be read: {exc}")
            return []
    else:
        for trace_id in trace_ids:
            try:
                found.append(source.get_trace(trace_id))
            except TraceNotFound:
                pass
            except SourceError as exc:
                warnings.add("source", f"trace {trace_id} could not be read: {exc}")
                unreadable.add(trace_id)
    have = {t.trace_id for t in found} | unreadable
    for trace_id in trace_ids:
        if trace_id not in have:
            warnings.add("missing", f"trace {trace_id} is referred to but not in the source")
    return found


def _collect_traces(
    source: TraceSource,
    order_id: str,
    window: Window,
    max_traces: int,
    max_link_depth: int,
    warnings: _Warnings,
) -> list[Trace]:
    """The order's traces, then the traces linked to or from them, a level at a time."""
    start_ns, end_ns = window
    try:
        found = source.find_traces(ORDER_KEY, order_id, start_ns, end_ns, limit=max_traces)
    except SourceError as exc:
        warnings.add("source", f"the trace source could not list the order's traces: {exc}")
        return []
    level = list(dict.fromkeys(summary.trace_id for summary in found))
    tried: set[str] = set()
    traces: list[Trace] = []
    for depth in range(max_link_depth + 1):
        level = [t for t in level if t not in tried]
        if not level:
            break
        room = max_traces - len(tried)
        if len(level) > room:
            warnings.add("too many", f"more than {max_traces} traces: the rest were left out")
            level = level[:room]
        tried.update(level)
        fetched = _fetch(source, level, warnings)
        traces.extend(fetched)
        if depth == max_link_depth:
            break
        linked: list[str] = []
        for trace in fetched:
            orders = _span_orders(trace)
            for span in trace.spans:
                if orders.get(span.span_id) in (None, order_id):
                    linked.extend(link.trace_id for link in span.links)
            try:
                linked.extend(linking_trace_ids(source, trace.trace_id))
            except SourceError as exc:
                warnings.add("source", f"links to trace {trace.trace_id} could not be read: {exc}")
        level = list(dict.fromkeys(linked))
    return traces


def _most_common(values: Iterable[str], what: str, warnings: _Warnings) -> str | None:
    counts = Counter(values)
    if not counts:
        return None
    if len(counts) > 1:
        listed = ", ".join(sorted(counts))
        warnings.add("conflict", f"the order's spans disagree about the {what}: {listed}")
    return counts.most_common(1)[0][0]


def assemble(
    order_id: str,
    traces: Iterable[Trace],
    container_of: ContainerOf = service_container,
    warnings: _Warnings | None = None,
    state_event: str = STATE_EVENT,
    new_state_key: str = NEW_STATE_KEY,
) -> Journey:
    """Merge already fetched traces into the journey of one order."""
    warnings = warnings or _Warnings()
    journey = Journey(order_id=order_id)
    traces = list(traces)
    members = _members(order_id, traces)
    for trace in traces:
        orders = _span_orders(trace)
        mine = [s for s in trace.spans if (s.trace_id, s.span_id) in members]
        if not mine:
            continue
        if set(orders.values()) - {None, order_id}:
            journey.shared.update(
                (s.trace_id, s.span_id) for s in mine if orders.get(s.span_id) is None
            )
        journey.traces.append(trace)
        for text in trace.warnings:
            warnings.add("trace", f"trace {trace.trace_id}: {text}")
        _add_spans(journey, trace, mine, container_of, warnings)
    if not journey.traces:
        warnings.add("no traces", f"no trace in the source mentions order {order_id}")
    journey.traces.sort(key=lambda t: (t.start_ns, t.trace_id))
    journey.spans.sort(key=lambda s: (s.start_ns, s.trace_id, s.span_id))
    journey.customer_id = _most_common(
        (v for s in journey.spans if (v := own_value(s, CUSTOMER_KEY)) is not None),
        "customer id",
        warnings,
    )
    journey.customer_type = _most_common(
        (v for s in journey.spans if (v := own_value(s, CUSTOMER_TYPE_KEY)) is not None),
        "customer type",
        warnings,
    )
    journey.steps = _steps(journey, state_event, new_state_key)
    journey.warnings = warnings.result()
    return journey


def _add_spans(
    journey: Journey,
    trace: Trace,
    mine: list[Span],
    container_of: ContainerOf,
    warnings: _Warnings,
) -> None:
    """Add the order's spans of one trace to the journey, each span once (by trace and span
    id), with their containers; a span that starts before its parent is a warning."""
    by_id = {s.span_id: s for s in trace.spans}
    for span in mine:
        key = (span.trace_id, span.span_id)
        if key in journey.containers:
            warnings.add(
                "duplicate span",
                f"span {span.span_id} of trace "
                f"{span.trace_id} appears more than once; kept the first",
            )
            continue
        journey.spans.append(span)
        journey.containers[key] = container_of(span)
        parent = by_id.get(span.parent_id) if span.parent_id else None
        if parent is not None and span.start_ns < parent.start_ns:
            skew_ms = (parent.start_ns - span.start_ns) / 1e6
            warnings.add(
                "clock skew",
                f"clock skew: span '{span.name}' ({span.service}) "
                f"starts {skew_ms:.1f} ms before its parent '{parent.name}' "
                f"({parent.service}) in trace {span.trace_id}",
            )


def _steps(journey: Journey, state_event: str, new_state_key: str) -> list[Step]:
    """The timeline: the spans where a container starts work, sends or receives, sets a
    state, or whose parent is not the order's (a root of the journey)."""
    steps = []
    for span in journey.spans:
        states = [
            str(e.attributes.get(new_state_key))
            for e in span.events
            if e.name == state_event and e.attributes.get(new_state_key) is not None
        ]
        is_root = (
            span.parent_id is None or (span.trace_id, span.parent_id) not in journey.containers
        )
        if span.kind in _STEP_KINDS or states or is_root:
            steps.append(
                Step(
                    container=journey.container(span),
                    operation=span.name,
                    kind=span.kind,
                    start_ns=span.start_ns,
                    duration_ns=max(span.duration_ns, 0),
                    outcome="error" if span.is_error else "ok",
                    trace_id=span.trace_id,
                    span_id=span.span_id,
                    states=states,
                )
            )
    return steps


def _members(order_id: str, traces: list[Trace]) -> set[tuple[str, str]]:
    """(trace, span) of every span that works for the order: its own or ancestor's order.id
    names it; or it has none and its trace holds spans of the order; or it has none and it
    (or an ancestor) links to a span that works for the order, or such a span links to it.
    A trace without any order.id joins whole when linked either way. Followed until nothing
    changes."""
    members: set[tuple[str, str]] = set()
    unclaimed: list[tuple[Trace, list[Span], bool]] = []  # spans with none, trace has no order
    for trace in traces:
        orders = _span_orders(trace)
        # a span's own order.id wins over the look-up by id (ids may repeat in bad data)
        found = [
            own if (own := own_value(s, ORDER_KEY)) is not None else orders.get(s.span_id)
            for s in trace.spans
        ]
        values = set(found)
        for span, order in zip(trace.spans, found, strict=True):
            if order == order_id or (order is None and order_id in values):
                members.add((span.trace_id, span.span_id))
        if order_id not in values:
            unclaimed.append(
                (
                    trace,
                    [s for s, o in zip(trace.spans, found, strict=True) if o is None],
                    values == {None},
                )
            )
    by_key = {(s.trace_id, s.span_id): s for t in traces for s in t.spans}
    changed = True
    while changed:
        changed = False
        targets = {
            (link.trace_id, link.span_id)
            for key in members
            if (member := by_key.get(key)) is not None
            for link in member.links
        }
        for trace, spans, anonymous in unclaimed:
            by_id = {s.span_id: s for s in trace.spans}
            joined = [
                s
                for s in spans
                if (s.trace_id, s.span_id) not in members
                and ((s.trace_id, s.span_id) in targets or _links_into(s, by_id, members))
            ]
            if joined and anonymous:
                joined = spans
            for span in joined:
                if (span.trace_id, span.span_id) not in members:
                    members.add((span.trace_id, span.span_id))
                    changed = True
    return members


def _links_into(span: Span, by_id: dict[str, Span], members: set[tuple[str, str]]) -> bool:
    """Whether the span or one of its ancestors links to one of `members`."""
    seen: set[str] = set()
    current: Span | None = span
    while current is not None and current.span_id not in seen:
        if any((link.trace_id, link.span_id) in members for link in current.links):
            return True
        seen.add(current.span_id)
        current = by_id.get(current.parent_id) if current.parent_id else None
    return False


def own_anomalies(journey: Journey, anomalies: list[Anomaly]) -> list[Anomaly]:
    """The anomalies that are the order's: a slow shared span (see the module docstring) only
    when one of the order's own spans under it is anomalous too."""
    shared = [a for a in anomalies if (a.trace_id, a.span_id) in journey.shared]
    if not shared:
        return anomalies
    own = {
        (a.trace_id, a.span_id) for a in anomalies if (a.trace_id, a.span_id) not in journey.shared
    }
    parent_of = {(s.trace_id, s.span_id): s.parent_id for s in journey.spans}
    slow_ancestors: set[tuple[str, str]] = set()
    for trace_id, span_id in own:  # every ancestor of a slow span of the order's own
        seen: set[str] = set()
        parent = parent_of.get((trace_id, span_id))
        while parent is not None and parent not in seen:
            seen.add(parent)
            slow_ancestors.add((trace_id, parent))
            parent = parent_of.get((trace_id, parent))
    return [
        a
        for a in anomalies
        if (a.trace_id, a.span_id) not in journey.shared
        or (a.trace_id, a.span_id) in slow_ancestors
    ]


def journey_for_order(
    source: TraceSource,
    order_id: str,
    window: Window = (None, None),
    container_of: ContainerOf = service_container,
    max_traces: int = 500,
    max_link_depth: int = MAX_LINK_DEPTH,
) -> Journey:
    """The journey of one order: its traces found by `order.id` and by links, merged."""
    warnings = _Warnings()
    traces = _collect_traces(source, order_id, window, max_traces, max_link_depth, warnings)
    return assemble(order_id, traces, container_of, warnings)
