"""Check an order's states against the state graph: violations, dwell times and its status.

States come from `order.state_changed` events (names configured in states.json) on the spans
of the journey, in time order. Between two consecutive states A -> B the verdict is one of:
allowed; `state_repeated` (A == B); `state_skipped` (B is reachable from A only through other
states); `transition_backwards` (A is reachable from B: the order went back);
`transition_not_allowed` (anything else, including states the graph does not know). Each state
is also checked against the containers allowed to set it (`wrong_system`), and each event's
`previous` against the state the order was in (`systems_disagree`: the system that set B
believed the order was in another state than the one a system had set).
"""

from __future__ import annotations

from explorer.journeys.conformance import (
    COMPLETE,
    DESTINATION_KEY,
    IN_FLIGHT_NS,
    IN_PROGRESS,
    LOST,
    MESSAGE_ID_KEY,
    STUCK,
    Conformance,
    Dwell,
    Message,
    StateChange,
    Violation,
)
from explorer.journeys.journey import Journey
from explorer.journeys.state_graph import StateGraph
from explorer.traces.model import SpanKind


def state_changes(journey: Journey, graph: StateGraph, warnings: list[str]) -> list[StateChange]:
    """The order's state events in time order; exact duplicates (the same event delivered
    twice, or recorded by two spans at the same instant) are kept once, with a warning."""
    changes: list[StateChange] = []
    seen: set[tuple] = set()
    for span in journey.spans:
        for event in span.events:
            if event.name != graph.event_name:
                continue
            new = event.attributes.get(graph.new_key)
            if new is None or new == "":
                warnings.append(
                    f"a '{event.name}' event in span {span.span_id} has no "
                    f"'{graph.new_key}': ignored"
                )
                continue
            previous = event.attributes.get(graph.previous_key)
            change = StateChange(
                str(new),
                None if previous in (None, "") else str(previous),
                event.time_ns,
                journey.container(span),
                span.trace_id,
                span.span_id,
            )
            key = (change.state, change.previous, change.at_ns, change.container)
            if key in seen:
                warnings.append(
                    f"duplicate event: {change.state} set by {change.container} "
                    f"at the same instant was recorded twice; counted once"
                )
                continue
            seen.add(key)
            changes.append(change)
    changes.sort(key=lambda c: c.at_ns)
    return changes


def _transition_violation(
    graph: StateGraph, before: StateChange, after: StateChange, unknown: set[str]
) -> Violation | None:
    a, b = before.state, after.state
    if a == b:
        return Violation(
            "state_repeated",
            f"{b} was set again by {after.container} while the "
            f"order was already in {a} (set by {before.container})",
            after.at_ns,
            b,
            a,
            after.container,
        )
    if graph.is_allowed(a, b):
        return None
    if a in unknown or b in unknown:
        name = b if b in unknown else a
        return Violation(
            "transition_not_allowed",
            f"{a} -> {b} by {after.container}: {name} is not a state of the graph",
            after.at_ns,
            b,
            a,
            after.container,
        )
    skipped = graph.path_between(a, b)
    if skipped:
        return Violation(
            "state_skipped",
            f"{a} -> {b} by {after.container} skips {', '.join(skipped)}",
            after.at_ns,
            b,
            a,
            after.container,
            ", ".join(skipped),
        )
    if graph.path_between(b, a) is not None:
        return Violation(
            "transition_backwards",
            f"{a} -> {b} by {after.container} goes back to an earlier state",
            after.at_ns,
            b,
            a,
            after.container,
        )
    return Violation(
        "transition_not_allowed",
        f"{a} -> {b} by {after.container} is not a transition of the state graph",
        after.at_ns,
        b,
        a,
        after.container,
    )


def check_states(journey: Journey, graph: StateGraph, now_ns: int) -> Conformance:
    """Violations, dwell times and status of one journey; `now_ns` ends the current dwell."""
    result = Conformance()
    changes = state_changes(journey, graph, result.warnings)
    result.changes = changes
    unknown = {c.state for c in changes if not graph.knows(c.state)}
    for state in sorted(unknown):
        result.warnings.append(f"unknown state {state}: not in the state graph")
    if changes and changes[0].previous is not None:
        result.warnings.append(
            f"the first recorded state, {changes[0].state}, follows "
            f"{changes[0].previous}, which no trace recorded "
            f"(traces may be missing)"
        )
    for index, change in enumerate(changes):
        owners = graph.owners(change.state) if change.state not in unknown else []
        if owners and change.container not in owners:
            result.violations.append(
                Violation(
                    "wrong_system",
                    f"{change.state} was set by {change.container}, but only "
                    f"{', '.join(owners)} may set it",
                    change.at_ns,
                    change.state,
                    None,
                    change.container,
                    ", ".join(owners),
                )
            )
        if index == 0:
            continue
        before = changes[index - 1]
        if change.previous is not None and change.previous != before.state:
            result.violations.append(
                Violation(
                    "systems_disagree",
                    f"{change.container} moved the order from "
                    f"{change.previous} to {change.state}, but {before.container} had set "
                    f"{before.state}",
                    change.at_ns,
                    change.state,
                    before.state,
                    change.container,
                    change.previous,
                )
            )
        violation = _transition_violation(graph, before, change, unknown)
        if violation is not None:
            result.violations.append(violation)
    for index, change in enumerate(changes):
        current = index == len(changes) - 1
        end = now_ns if current else changes[index + 1].at_ns
        limit = None if change.state in unknown else graph.limit_ns(change.state)
        result.dwells.append(
            Dwell(change.state, change.at_ns, max(end - change.at_ns, 0), limit, current)
        )
    result.unconsumed = unconsumed_messages(journey, now_ns)
    result.status = _status(result, graph, unknown)
    return result


def _status(result: Conformance, graph: StateGraph, unknown: set[str]) -> str:
    state = result.state
    if state is not None and state not in unknown and graph.is_final(state):
        return COMPLETE
    if result.unconsumed:
        return LOST
    if result.dwells and result.dwells[-1].over_limit:
        return STUCK
    return IN_PROGRESS


def unconsumed_messages(journey: Journey, now_ns: int) -> list[Message]:
    """Messages the order's spans produced that no consumer span of the journey received
    (linked to the producer span, a child of it, or carrying its message id), except those sent
    within IN_FLIGHT_NS before `now_ns`."""
    consumed_spans: set[tuple[str, str]] = set()
    consumed_ids: set[str] = set()
    for span in journey.spans:
        if span.kind != SpanKind.CONSUMER:
            continue
        consumed_spans.update((link.trace_id, link.span_id) for link in span.links)
        if span.parent_id:
            consumed_spans.add((span.trace_id, span.parent_id))
        message_id = span.attributes.get(MESSAGE_ID_KEY)
        if message_id is not None:
            consumed_ids.add(str(message_id))
    lost = []
    for span in journey.spans:
        if (
            span.kind != SpanKind.PRODUCER
            or DESTINATION_KEY not in span.attributes
            or span.start_ns > now_ns - IN_FLIGHT_NS
        ):
            continue
        if (span.trace_id, span.span_id) in consumed_spans:
            continue
        message_id = span.attributes.get(MESSAGE_ID_KEY)
        if message_id is not None and str(message_id) in consumed_ids:
            continue
        lost.append(
            Message(
                str(span.attributes[DESTINATION_KEY]),
                journey.container(span),
                span.start_ns,
                span.trace_id,
                span.span_id,
            )
        )
    return lost
