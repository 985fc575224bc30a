"""An order's journey as a diagram overlay: its calls, the notes of each container (states,
errors, SLA breaches, anomalies, violations) and where the order is now (a lost message, the
container that must act next, or the one that finished it). Framework-free."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from explorer.c4.mapping import Mapping as TelemetryMapping
from explorer.c4.mapping import element_calls
from explorer.c4.model import Model
from explorer.diagrams.overlay import Note, Overlay, Stop, overlay_from_traces
from explorer.diagrams.words import milliseconds
from explorer.journeys.conformance import COMPLETE, LOST, Conformance
from explorer.journeys.journey import Journey
from explorer.journeys.report import JourneyReport
from explorer.journeys.state_graph import StateGraph
from explorer.journeys.story import duration_words
from explorer.traces.model import Trace

TYPICAL_PATH_SHARE = 0.5  # a relationship most typical orders use is on the typical path


def typical_path(
    journeys: Iterable[Journey], model: Model, mapping: TelemetryMapping
) -> set[tuple[str, str]]:
    """The (source, target) relationships of the model that at least half of `journeys` (the
    sample orders of a customer type's typical journey) used."""
    return typical_path_of_calls((element_calls(j.traces, mapping) for j in journeys), model)


def typical_path_of_calls(
    calls: Iterable[Iterable[tuple[str, str]]], model: Model
) -> set[tuple[str, str]]:
    """typical_path() from the calls of each sample order (as their samples record them)."""
    used: Counter[tuple[str, str]] = Counter()
    count = 0
    for pairs in calls:
        count += 1
        used.update(set(pairs))
    drawn = {
        pair
        for r in model.relationships
        for pair in [(r.source, r.target)] + ([(r.target, r.source)] if r.bidirectional else [])
    }
    return {
        pair
        for pair, n in used.items()
        if pair in drawn and count and n >= TYPICAL_PATH_SHARE * count
    }


_TEXT = {
    "en": {
        "lost": "%(destination)s: never consumed since %(at)s",
        "waiting": "waiting %(time)s in %(state)s (limit %(limit)s)",
        "waiting_no_limit": "waiting %(time)s in %(state)s",
        "finished": "finished: %(state)s, %(at)s",
        "anomaly": "anomaly: %(operation)s %(took)s (usually %(median)s)",
        "violation": "violation: %(kind)s %(state)s",
    },
    "ru": {
        "lost": "%(destination)s: не получено с %(at)s",
        "waiting": "ждёт %(time)s в %(state)s (лимит %(limit)s)",
        "waiting_no_limit": "ждёт %(time)s в %(state)s",
        "finished": "завершён: %(state)s, %(at)s",
        "anomaly": "аномалия: %(operation)s %(took)s (обычно %(median)s)",
        "violation": "нарушение: %(kind)s %(state)s",
    },
}


def utc_minute(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%d.%m %H:%M UTC")


def _text(lang: str, key: str, **values: str) -> str:
    return _TEXT.get(lang, _TEXT["en"])[key] % values


def _consumers(model: Model, queue: str, publisher: str) -> list[str]:
    """The elements that take messages out of `queue`, other than the one that sent it."""
    found = []
    for r in model.relationships:
        ends = [(r.source, r.target)] + ([(r.target, r.source)] if r.bidirectional else [])
        for a, b in ends:
            if a == queue and b != publisher and b not in found:
                found.append(b)
    return found


def journey_stops(
    journey: Journey,
    conformance: Conformance,
    model: Model,
    mapping: TelemetryMapping,
    graph: StateGraph,
    lang: str = "en",
    when: Callable[[int], str] = utc_minute,
) -> list[Stop]:
    """Where the order is now, as marks on the diagram."""
    if conformance.status == LOST and conformance.unconsumed:
        spans = {(s.trace_id, s.span_id): s for s in journey.spans}
        stops = []
        for message in conformance.unconsumed:
            span = spans.get((message.trace_id, message.span_id))
            queue = mapping.peer_element(span) if span is not None else None
            text = _text(lang, "lost", destination=message.destination, at=when(message.at_ns))
            if queue in model.elements:
                stops += [
                    Stop("lost", queue, text, consumer)
                    for consumer in _consumers(model, queue, message.container)
                ]
            elif message.container in model.elements:
                stops.append(Stop("lost", message.container, text))
        if stops:
            return stops
    state = conformance.state
    if state is None:
        return []
    if conformance.status == COMPLETE or graph.is_final(state):
        change = conformance.changes[-1]
        if change.container not in model.elements:
            return []
        return [
            Stop(
                "finished",
                change.container,
                _text(lang, "finished", state=state, at=when(change.at_ns)),
            )
        ]
    dwell = next((d for d in reversed(conformance.dwells) if d.current), None)
    following = [b for a, b in graph.transitions if a == state]
    owners = [o for b in following[:1] for o in graph.owners(b) if o in model.elements]
    # of several owners (a shop or a partner order), the one this order's states came from
    setters = [c.container for c in reversed(conformance.changes)]
    owners.sort(key=lambda o: setters.index(o) if o in setters else len(setters))
    if dwell is None or not owners:
        return []
    time = duration_words(dwell.duration_ns, lang)
    if dwell.limit_ns:
        text = _text(
            lang, "waiting", time=time, state=state, limit=duration_words(dwell.limit_ns, lang)
        )
    else:
        text = _text(lang, "waiting_no_limit", time=time, state=state)
    return [Stop("stuck" if dwell.over_limit else "waiting", owners[0], text)]


def journey_overlay(
    report: JourneyReport,
    traces: Iterable[Trace],
    model: Model,
    mapping: TelemetryMapping,
    graph: StateGraph,
    *,
    sla_limit_ms: Callable[[str, str], float | None] | None = None,
    title: str = "",
    lang: str = "en",
    step_url: Callable[[str, str], str | None] | None = None,
    when: Callable[[int], str] = utc_minute,
) -> Overlay:
    """The journey drawn from `traces` (the report's, redacted for the viewer)."""
    overlay = overlay_from_traces(
        traces, model, mapping, sla_limit_ms=sla_limit_ms, title=title, step_url=step_url, lang=lang
    )
    notes = overlay.element_notes
    for a in report.anomalies:
        if a.container in model.elements:
            notes.setdefault(a.container, []).append(
                Note(
                    _text(
                        lang,
                        "anomaly",
                        operation=a.operation,
                        took=milliseconds(a.duration_ns, lang),
                        median=milliseconds(int(a.median_ns), lang),
                    ),
                    "anomaly",
                )
            )
    for v in report.conformance.violations:
        if v.container in model.elements:
            notes.setdefault(v.container, []).append(
                Note(_text(lang, "violation", kind=v.kind, state=v.state), "violation")
            )
    overlay.stops = journey_stops(
        report.journey, report.conformance, model, mapping, graph, lang, when
    )
    return overlay
