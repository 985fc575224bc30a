"""What is drawn on top of a model diagram, as plain data, and builders for it.

Journeys, single traces and the system map all become an Overlay; the renderer knows nothing
about where the overlay came from.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from explorer.c4.drift import Documentation
from explorer.c4.mapping import Mapping, interactions
from explorer.c4.model import Model
from explorer.diagrams.words import milliseconds, word
from explorer.traces.model import SpanKind, Trace
from explorer.traces.vocabulary import NEW_STATE_KEY, PREVIOUS_STATE_KEY, STATE_EVENT

SEVERITIES = ("info", "state", "warning", "sla", "anomaly", "error", "violation", "stop")


@dataclass(slots=True)
class DiagramStep:
    """A numbered call drawn between two elements: an interaction of a trace, or a tour's
    illustration (a journey's own steps are explorer.journeys.assembly.Step)."""

    number: int
    source: str
    target: str
    label: str  # the operation
    duration_ns: int = 0
    outcome: str = "ok"  # "ok", "error" or a status such as "HTTP 503"
    undocumented: bool = False
    url: str | None = None
    start_ns: int = 0
    timed: bool = True  # False: an illustration (a tour's step), drawn without time or count


@dataclass(slots=True)
class Note:
    text: str
    severity: str = "info"  # one of SEVERITIES


@dataclass(slots=True)
class Stop:
    """Where the order is now: a lost message (`element` is the queue, `target` the element
    that should have consumed it), or the element that must act next or finished it."""

    kind: str  # "lost", "stuck", "waiting" or "finished"
    element: str
    text: str
    target: str | None = None


@dataclass(slots=True)
class Metric:
    rate: float  # per second
    error_rate: float  # 0..1
    p95_ms: float
    count: int = 0


@dataclass
class Overlay:
    steps: list[DiagramStep] = field(default_factory=list)
    element_notes: dict[str, list[Note]] = field(default_factory=dict)
    # element id or (source id, target id) -> metric
    metrics: dict[str | tuple[str, str], Metric] = field(default_factory=dict)
    highlight: str | None = None
    dimmed: bool = False
    title: str = ""
    stops: list[Stop] = field(default_factory=list)
    lang: str = "en"  # the language of the diagram's fixed words (explorer.diagrams.words)
    rate_unit: str = "min"  # rates are drawn per "min" or per "h" (Metric.rate is per second)
    # (source, target) relationships of the typical path of the order's customer type: marked
    # c4-typical, drawn faintly under the order's own when the page's comparison is on
    typical: set[tuple[str, str]] = field(default_factory=set)

    def fingerprint(self) -> str:
        """A digest of everything drawn (orjson serialises the dataclasses itself: a
        million-step trace's overlay in about a second, not half a minute)."""
        data = {
            "rate_unit": self.rate_unit,
            "steps": self.steps,
            "notes": self.element_notes,
            "metrics": sorted((json.dumps(k), v) for k, v in self.metrics.items()),
            "highlight": self.highlight,
            "dimmed": self.dimmed,
            "title": self.title,
            "stops": self.stops,
            "lang": self.lang,
            "typical": sorted(self.typical),
        }
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _outcome(span) -> str:
    status = span.attributes.get(
        "http.response.status_code", span.attributes.get("http.status_code")
    )
    if span.is_error:
        return f"error {status}" if status else "error"
    return f"HTTP {status}" if status else "ok"


def overlay_from_traces(
    traces: Iterable[Trace],
    model: Model,
    mapping: Mapping,
    *,
    sla_limit_ms: Callable[[str, str], float | None] | None = None,
    title: str = "",
    step_url: Callable[[str, str], str | None] | None = None,
    lang: str = "en",
) -> Overlay:
    """A dynamic diagram: the traces' interactions as numbered steps in time order, with state
    changes, errors and SLA breaches noted on the elements where they happened.
    `sla_limit_ms(element, endpoint)` is the response-time limit (journeys' Sla.limit_ms)."""
    traces = list(traces)
    found = [
        (trace, i)
        for trace in traces
        for i in interactions(trace, mapping)
        if i.source in model.elements and i.target in model.elements
    ]
    found.sort(key=lambda ti: (ti[1].span.start_ns, ti[1].span.span_id))
    docs = Documentation(model, {(i.source, i.target) for _, i in found})
    overlay = Overlay(title=title, dimmed=True, lang=lang)
    for number, (trace, i) in enumerate(found, start=1):
        overlay.steps.append(
            DiagramStep(
                number=number,
                source=i.source,
                target=i.target,
                label=i.span.name,
                duration_ns=i.span.duration_ns,
                outcome=_outcome(i.span),
                undocumented=not docs.documents(i.source, i.target),
                url=step_url(trace.trace_id, i.span.span_id) if step_url else None,
                start_ns=i.span.start_ns,
            )
        )
    notes: dict[str, list[tuple[int, Note]]] = defaultdict(list)
    for trace in traces:
        for span in trace.spans:
            element = mapping.service_element(span.resource)
            if element is None or element not in model.elements:
                continue
            for event in span.events:
                if event.name == STATE_EVENT:
                    previous = event.attributes.get(PREVIOUS_STATE_KEY)
                    new = event.attributes.get(NEW_STATE_KEY, "?")
                    text = f"{previous} → {new}" if previous else f"→ {new}"
                    notes[element].append((event.time_ns, Note(text, "state")))
            if span.is_error:
                text = word("error: %s", lang) % span.name + (
                    f": {span.status_message}" if span.status_message else ""
                )
                notes[element].append((span.start_ns, Note(text, "error")))
            limit = (
                sla_limit_ms(element, span.name)
                if sla_limit_ms is not None and span.kind == SpanKind.SERVER
                else None
            )
            if limit is not None and span.duration_ns / 1e6 > limit:
                took = milliseconds(span.duration_ns, lang)
                text = word("SLA: %s", lang) % (
                    f"{span.name} {took} > {milliseconds(int(limit * 1e6), lang)}"
                )
                notes[element].append((span.start_ns, Note(text, "sla")))
    overlay.element_notes = {
        k: [n for _, n in sorted(v, key=lambda tn: tn[0])] for k, v in notes.items()
    }
    return overlay


def _p95(durations: list[int]) -> float:
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] / 1e6


def system_map(
    traces: Iterable[Trace],
    mapping: Mapping,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Overlay:
    """Rate, error rate and p95 latency per element and per relationship over a window.

    An element is measured on the requests it serves (its SERVER and CONSUMER spans), or, if it
    emits no telemetry of its own (databases, queues, storage), on the calls made to it.
    """
    served: dict[str, list] = defaultdict(lambda: [[], 0])  # element -> [durations, errors]
    called: dict[str, list] = defaultdict(lambda: [[], 0])
    pairs: dict[tuple[str, str], list] = defaultdict(lambda: [[], 0])
    first, last = None, None
    entry_kinds = (SpanKind.SERVER, SpanKind.CONSUMER)
    for trace in traces:
        for span in trace.spans:
            t = span.start_ns
            if (start_ns is not None and t < start_ns) or (end_ns is not None and t >= end_ns):
                continue
            first = t if first is None or t < first else first
            last = span.end_ns if last is None or span.end_ns > last else last
            if span.kind in entry_kinds:
                element = mapping.service_element(span.resource)
                if element is not None:
                    bucket = served[element]
                    bucket[0].append(span.duration_ns)
                    bucket[1] += span.is_error
        for i in interactions(trace, mapping):
            t = i.span.start_ns
            if (start_ns is not None and t < start_ns) or (end_ns is not None and t >= end_ns):
                continue
            for bucket in (pairs[(i.source, i.target)], called[i.target]):
                bucket[0].append(i.span.duration_ns)
                bucket[1] += i.span.is_error
    if start_ns is not None and end_ns is not None:
        seconds = (end_ns - start_ns) / 1e9
    else:
        seconds = ((last or 0) - (first or 0)) / 1e9
    seconds = max(seconds, 1.0)

    def metric(durations: list[int], errors: int) -> Metric:
        return Metric(
            rate=len(durations) / seconds,
            error_rate=errors / len(durations),
            p95_ms=_p95(durations),
            count=len(durations),
        )

    overlay = Overlay(title="System map")
    for element, (durations, errors) in called.items():
        overlay.metrics[element] = metric(durations, errors)
    for element, (durations, errors) in served.items():
        overlay.metrics[element] = metric(durations, errors)
    for pair, (durations, errors) in pairs.items():
        overlay.metrics[pair] = metric(durations, errors)
    return overlay
