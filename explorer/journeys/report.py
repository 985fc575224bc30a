"""Everything the explorer says about an order, for one order or for every order in a source.

The `journey` and `orders` commands (and pages) call report_for_order() and report_orders();
both are deterministic: "now" is the newest span time in the source unless given, never the
wall clock. For many orders the latency baseline and the typical journeys are built once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from explorer.journeys.anomalies import Anomaly, AtypicalService, Baseline
from explorer.journeys.assembly import (
    CUSTOMER_TYPE_KEY,
    ORDER_KEY,
    ContainerOf,
    Journey,
    Window,
    journey_for_order,
    latest_time_ns,
    service_container,
)
from explorer.journeys.bulk import TraceSet
from explorer.journeys.conformance import Conformance, check_states
from explorer.journeys.sla import SlaBreach, breaches, stage_report
from explorer.journeys.state_graph import Sla, StateGraph
from explorer.journeys.story import tell
from explorer.journeys.typical import Difference, TypicalJourneys
from explorer.sources.base import SourceError, TraceQuery, TraceSource
from explorer.traces.model import Span

DAY_NS = 86_400 * 10**9
# Trailing window and sample size of the latency baseline for a single order's report.
BASELINE_WINDOW_NS = 7 * DAY_NS
BASELINE_MAX_TRACES = 5_000
# "Now" for the services that are atypical now: the last hour.
RECENT_NS = 3600 * 10**9
# Other orders of the customer type sampled for a single order's typical journey.
TYPICAL_MAX_ORDERS = 200


def iso(ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC with microseconds: 2025-03-01T10:00:00.5Z."""
    moment = datetime.fromtimestamp(ns // 10**9, tz=UTC).replace(microsecond=ns % 10**9 // 1000)
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class Context:
    """What the analysis of any order needs besides its journey."""

    graph: StateGraph
    sla: Sla | None
    baseline: Baseline
    now_ns: int
    typical: TypicalJourneys | None = None
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class JourneyReport:
    journey: Journey
    conformance: Conformance
    anomalies: list[Anomaly]
    sla_breaches: list[SlaBreach]
    differences: list[Difference]
    summary: dict[str, str]

    @property
    def status(self) -> str:
        return self.conformance.status

    @property
    def anomalous(self) -> bool:
        return bool(self.anomalies)

    @property
    def warnings(self) -> list[str]:
        return self.journey.warnings + self.conformance.warnings

    def as_dict(self) -> dict:
        journey, conformance = self.journey, self.conformance
        return {
            "order_id": journey.order_id,
            "customer_id": journey.customer_id,
            "customer_type": journey.customer_type,
            "status": conformance.status,
            "state": conformance.state,
            "traces": journey.trace_ids,
            "states": [{"state": c.state, "at": iso(c.at_ns), "container": c.container}
                       for c in conformance.changes],
            "violations": [v.as_dict() for v in conformance.violations],
            "steps": [{"container": s.container, "operation": s.operation,
                       "kind": s.kind.name.lower(), "start": iso(s.start_ns),
                       "duration_ms": round(s.duration_ns / 1e6, 3), "outcome": s.outcome,
                       "trace_id": s.trace_id, "span_id": s.span_id, "states": s.states}
                      for s in journey.steps],
            "anomalies": [a.as_dict() for a in self.anomalies],
            "stages": stage_report(conformance.dwells),
            "lost_messages": [{"destination": m.destination, "container": m.container,
                               "at": iso(m.at_ns), "trace_id": m.trace_id,
                               "span_id": m.span_id} for m in conformance.unconsumed],
            "sla_breaches": [b.as_dict() for b in self.sla_breaches],
            "comparison": [d.as_dict() for d in self.differences],
            "warnings": self.warnings,
            "summary": self.summary,
        }

    def as_row(self) -> dict:
        """One line of the order list."""
        return {
            "order_id": self.journey.order_id,
            "status": self.conformance.status,
            "state": self.conformance.state,
            "customer_id": self.journey.customer_id,
            "customer_type": self.journey.customer_type,
            "violations": [v.as_dict() for v in self.conformance.violations],
            "anomalous": self.anomalous,
        }


def _pairs(journey: Journey) -> Iterable[tuple[str, Span]]:
    return ((journey.container(s), s) for s in journey.spans)


def analyse(journey: Journey, context: Context, conformance: Conformance | None = None,
            typical_included: bool = False) -> JourneyReport:
    """The report of an assembled journey."""
    conformance = conformance or check_states(journey, context.graph, context.now_ns)
    anomalies = context.baseline.anomalies(_pairs(journey))
    sla_breaches = breaches(context.sla, _pairs(journey)) if context.sla else []
    differences = (context.typical.compare(journey, conformance, context.graph,
                                           typical_included) if context.typical else [])
    summary = tell(journey, conformance, anomalies, names=context.names)
    return JourneyReport(journey, conformance, anomalies, sla_breaches, differences, summary)


def spans_in_window(
    source: TraceSource, container_of: ContainerOf, window: Window,
    max_traces: int = BASELINE_MAX_TRACES,
) -> list[tuple[str, Span]]:
    """(container, span) of the newest traces starting in a window (at most max_traces)."""
    start_ns, end_ns = window
    found = source.search(TraceQuery(start_ns=start_ns, end_ns=end_ns, limit=max_traces))
    ids = [summary.trace_id for summary in found]
    bulk = getattr(source, "get_traces", None)
    if bulk is not None:
        traces = bulk(ids)
    else:
        traces = []
        for trace_id in ids:
            try:
                traces.append(source.get_trace(trace_id))
            except SourceError:
                continue  # a trace deleted meanwhile does not spoil the figures
    return [(container_of(s), s) for trace in traces for s in trace.spans]


def baseline_from_source(
    source: TraceSource, container_of: ContainerOf, window: Window,
    max_traces: int = BASELINE_MAX_TRACES,
) -> Baseline:
    """A baseline over the newest traces of a window (at most max_traces of them)."""
    return Baseline.from_spans(spans_in_window(source, container_of, window, max_traces))


def atypical_services_now(
    source: TraceSource, container_of: ContainerOf, now_ns: int | None = None,
    recent_ns: int = RECENT_NS,
) -> list[AtypicalService]:
    """Containers whose spans of the last `recent_ns` before now depart from their baseline
    over the trailing week before that."""
    now = now_ns if now_ns is not None else latest_time_ns(source)
    if now is None:
        return []
    baseline = baseline_from_source(source, container_of,
                                    (now - recent_ns - BASELINE_WINDOW_NS, now - recent_ns))
    recent = spans_in_window(source, container_of, (now - recent_ns, now + 1))
    return baseline.atypical_services(recent)


def report_for_order(
    source: TraceSource,
    order_id: str,
    graph: StateGraph,
    sla: Sla | None = None,
    container_of: ContainerOf = service_container,
    now_ns: int | None = None,
    window: Window = (None, None),
    names: Mapping[str, str] | None = None,
) -> JourneyReport:
    """One order's report; the baseline and the typical journey of its customer type come
    from the week before the order's last span (up to BASELINE_MAX_TRACES traces and
    TYPICAL_MAX_ORDERS other orders)."""
    journey = journey_for_order(source, order_id, window, container_of)
    now = now_ns if now_ns is not None else latest_time_ns(source, window)
    if now is None:
        now = max((s.end_ns for s in journey.spans), default=0)
    # The week before the order's last span: the order is judged against its own time.
    until = min(max((s.end_ns for s in journey.spans), default=now), now)
    trailing = (until - BASELINE_WINDOW_NS, until + 1)
    baseline = baseline_from_source(source, container_of, trailing)
    typical = TypicalJourneys()
    if journey.customer_type:
        others = [o for o in _orders_of_type(source, journey.customer_type, trailing)
                  if o != order_id][:TYPICAL_MAX_ORDERS]
        for other in others:
            other_journey = journey_for_order(source, other, window, container_of)
            typical.add(other_journey, check_states(other_journey, graph, now))
    context = Context(graph, sla, baseline, now, typical, names or {})
    return analyse(journey, context)


def _orders_of_type(source: TraceSource, customer_type: str, window: Window) -> list[str]:
    found = source.find_traces(CUSTOMER_TYPE_KEY, customer_type, *window,
                               limit=TYPICAL_MAX_ORDERS * 10)
    return list(dict.fromkeys(s.attributes[ORDER_KEY] for s in found
                              if s.attributes.get(ORDER_KEY)))


def order_ids(source: TraceSource, window: Window = (None, None),
              limit: int = 100_000) -> list[str]:
    """Every order id in the source (or window), where the source can list attribute values."""
    lister = getattr(source, "attribute_values", None)
    if lister is None:
        raise SourceError(f"{source.name}: cannot list orders (no attribute_values)")
    return list(lister(ORDER_KEY, *window, limit=limit))


# From this many orders on, every trace of the source is read once (TraceSet) rather than
# each order's traces and links asked for one by one.
BULK_MIN_ORDERS = 50


def assemble_journeys(
    source: TraceSource,
    orders: list[str],
    window: Window = (None, None),
    container_of: ContainerOf = service_container,
) -> list[Journey]:
    """The journeys of these orders, the same as journey_for_order() gives each; for many
    orders of a source that can read traces in bulk, from one read of all its traces."""
    lookups: TraceSource = source
    if len(orders) >= BULK_MIN_ORDERS and hasattr(source, "get_traces"):
        lookups = TraceSet.read(source)
    return [journey_for_order(lookups, order_id, window, container_of) for order_id in orders]


def journey_pairs(journeys: Iterable[Journey]) -> list[tuple[str, Span]]:
    """(container, span) of every span of these journeys, each span once."""
    seen: set[tuple[str, str]] = set()
    pairs = []
    for journey in journeys:
        for span in journey.spans:
            key = (span.trace_id, span.span_id)
            if key not in seen:
                seen.add(key)
                pairs.append((journey.container(span), span))
    return pairs


def report_orders(
    source: TraceSource,
    graph: StateGraph,
    sla: Sla | None = None,
    container_of: ContainerOf = service_container,
    now_ns: int | None = None,
    window: Window = (None, None),
    names: Mapping[str, str] | None = None,
    orders: Iterable[str] | None = None,
) -> list[JourneyReport]:
    """Reports of every order (or of `orders`): journeys assembled once, then one baseline
    over all their spans and the typical journeys of every customer type."""
    wanted = list(orders) if orders is not None else order_ids(source, window)
    now = now_ns if now_ns is not None else latest_time_ns(source, window)
    journeys = assemble_journeys(source, wanted, window, container_of)
    if now is None:
        now = max((s.end_ns for j in journeys for s in j.spans), default=0)
    baseline = Baseline.from_spans(journey_pairs(journeys))
    conformances = [check_states(j, graph, now) for j in journeys]
    typical = TypicalJourneys.from_journeys(zip(journeys, conformances, strict=True))
    context = Context(graph, sla, baseline, now, typical, names or {})
    return [analyse(j, context, c, typical_included=True)
            for j, c in zip(journeys, conformances, strict=True)]
