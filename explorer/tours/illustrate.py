"""What a tour step shows of its example order: the spans at that step, the state graph with
the current state, and the diagram overlay. Framework-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.c4.mapping import Mapping, interactions
from explorer.diagrams.overlay import DiagramStep, Overlay, Stop
from explorer.journeys.conformance import Conformance
from explorer.journeys.journey import Journey
from explorer.journeys.state_graph import StateGraph
from explorer.tours.tourfile import StepSpec
from explorer.traces.model import Span, SpanKind

_CALLS = (SpanKind.CLIENT, SpanKind.PRODUCER)
_ENTRIES = (SpanKind.SERVER, SpanKind.CONSUMER)


def step_overlay(
    step: StepSpec, title: str = "", lang: str = "en", stops: list[Stop] | None = None
) -> Overlay:
    """The step's element highlighted, its relationship drawn as a step (its title, no time:
    it is an illustration), the rest dimmed; `stops` marks where the example order is now."""
    steps = []
    if step.relationship:
        source, target = step.relationship
        steps.append(
            DiagramStep(number=1, source=source, target=target, label=title[:60], timed=False)
        )
    return Overlay(
        steps=steps, highlight=step.focus, dimmed=True, lang=lang, stops=list(stops or [])
    )


def _state_traces(step: StepSpec, conformance: Conformance) -> set[str] | None:
    if not step.state:
        return None
    return {c.trace_id for c in conformance.changes if c.state == step.state}


def _touches(journey: Journey, mapping: Mapping, span: Span, element: str) -> bool:
    """The span ran in the element, or called it."""
    return journey.container(span) == element or (
        span.kind in _CALLS and mapping.peer_element(span) == element
    )


def _observed(journey: Journey, mapping: Mapping, element: str) -> bool:
    """Whether telemetry shows the element at all (people and unmapped systems have none)."""
    return any(_touches(journey, mapping, span, element) for span in journey.spans)


def spans_at_step(
    journey: Journey, conformance: Conformance, step: StepSpec, mapping: Mapping
) -> list[Span]:
    """The example order's spans that illustrate the step, in time order.

    A relationship step shows the calls or messages from its source to its target (and the
    spans that received them); an element step the spans that ran in the element or called
    it (databases, queues and storage have only callers). A step that enters a state keeps
    only the traces in which the order entered that state. A relationship from something
    telemetry cannot see (a person) shows the element's spans instead."""
    traces = _state_traces(step, conformance)
    mine = {(s.trace_id, s.span_id) for s in journey.spans}
    chosen: dict[tuple[str, str], Span] = {}
    if step.relationship and _observed(journey, mapping, step.relationship[0]):
        source, target = step.relationship
        for trace in journey.traces:
            if traces is not None and trace.trace_id not in traces:
                continue
            found = [
                i.span
                for i in interactions(trace, mapping)
                if (i.source, i.target) == (source, target)
            ]
            ids = {s.span_id for s in found}
            found += [
                s
                for s in trace.spans
                if s.parent_id in ids
                and s.kind in _ENTRIES
                and mapping.service_element(s.resource) == target
            ]
            for span in found:
                if (span.trace_id, span.span_id) in mine:
                    chosen[(span.trace_id, span.span_id)] = span
    elif step.element:
        for span in journey.spans:
            if traces is not None and span.trace_id not in traces:
                continue
            if _touches(journey, mapping, span, step.element):
                chosen[(span.trace_id, span.span_id)] = span
    return sorted(chosen.values(), key=lambda s: (s.start_ns, s.trace_id, s.span_id))


@dataclass(slots=True)
class StateMark:
    name: str
    description: str
    reached: bool  # the example order had reached it by this step
    current: bool
    final: bool


def current_state(steps: list[StepSpec], index: int) -> str | None:
    """The state the tour is in at step `index` (0-based): the latest state a step so far
    entered."""
    return next((s.state for s in reversed(steps[: index + 1]) if s.state), None)


def state_marks(
    graph: StateGraph, conformance: Conformance | None, current: str | None
) -> list[StateMark]:
    """The states in their declared order, marked with how far the example order got by the
    current state (every state it entered up to and including the current one)."""
    path = [c.state for c in conformance.changes] if conformance else []
    if current in path:
        path = path[: path.index(current) + 1]
    elif current is not None:
        path = []
    reached = set(path) | ({current} if current else set())
    return [
        StateMark(s.name, s.description, s.name in reached, s.name == current, s.final)
        for s in graph.states
    ]
