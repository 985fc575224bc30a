"""Everything the explorer says about an order, for one order or for every order in a source.

The `journey` and `orders` commands (and pages) call report_for_order() and report_orders();
both are deterministic: "now" is the newest span time in the source unless given, never the
wall clock. For many orders the latency baseline and the typical journeys are built once.

One order is judged against a Reference: the latency baseline and the samples of the typical
journeys of the week before "now". `orders --refresh` stores one (see models.py); a report
uses the stored one when it is recent enough and computes it otherwise: the same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from explorer.journeys.anomalies import Anomaly, AtypicalService, Baseline
from explorer.journeys.assembly import (
    CUSTOMER_TYPE_KEY,
    ORDER_KEY,
    ContainerOf,
    Journey,
    Now,
    Window,
    journey_for_order,
    latest_time_ns,
    own_anomalies,
    service_container,
)
from explorer.journeys.bulk import TraceSet
from explorer.journeys.conformance import Conformance, check_states
from explorer.journeys.intake import order_id_problem
from explorer.journeys.sla import SlaBreach, breaches, stage_report
from explorer.journeys.state_graph import Sla, StateGraph
from explorer.journeys.story import tell
from explorer.journeys.typical import Call, CallsOf, Difference, OrderSample, TypicalJourneys
from explorer.sources.base import (
    ListsAttributeValues,
    ReadsTracesInBulk,
    SourceError,
    TraceQuery,
    TraceSource,
)
from explorer.traces.model import Span

DAY_NS = 86_400 * 10**9
# Trailing window and sample size of the latency baseline for a single order's report.
BASELINE_WINDOW_NS = 7 * DAY_NS
BASELINE_MAX_TRACES = 5_000
# "Now" for the services that are atypical now: the last hour.
RECENT_NS = 3600 * 10**9
# Other orders of the customer type sampled for a single order's typical journey.
TYPICAL_MAX_ORDERS = 200
# A stored reference serves while the source's newest span is at most this much newer.
REFERENCE_MAX_LAG_NS = 3600 * 10**9


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


def reference_window(now_ns: int) -> tuple[int, int]:
    """The week before now (now included): what an order is judged against."""
    return (now_ns - BASELINE_WINDOW_NS, now_ns + 1)


@dataclass(slots=True)
class Reference:
    """What one order is judged against: the latency baseline over the newest traces (up to
    BASELINE_MAX_TRACES) and samples of the newest orders of each customer type (up to
    TYPICAL_MAX_ORDERS + 1, newest first, so that any order has TYPICAL_MAX_ORDERS others)
    of reference_window(as_of_ns)."""

    baseline: Baseline
    samples: dict[str, list[OrderSample]]  # customer type -> samples, newest first
    as_of_ns: int
    stored_at: datetime | None = None  # when `orders --refresh` stored it; None: just computed

    @property
    def window(self) -> Window:
        return reference_window(self.as_of_ns)

    def serves(self, now_ns: int) -> bool:
        """Whether it may stand for the reference computed at now_ns."""
        return now_ns - REFERENCE_MAX_LAG_NS <= self.as_of_ns <= now_ns

    def typical_for(self, order_id: str, customer_type: str) -> TypicalJourneys:
        """The typical journeys of the other orders of the type (the order itself left out)."""
        others = [s for s in self.samples.get(customer_type, []) if s.order_id != order_id]
        return TypicalJourneys.from_samples(others[:TYPICAL_MAX_ORDERS])


# The stored reference for a customer type (its baseline and that type's samples), or None.
LoadReference = Callable[[str], Reference | None]


@dataclass(slots=True, frozen=True)
class ReferenceNote:
    """Which reference a report used: stored (and when) or computed for it, and the as-of of
    a stored one that was computed from older data than the report's."""

    as_of_ns: int
    stored_at: datetime | None
    outdated_as_of_ns: int | None = None

    def as_dict(self) -> dict:
        start, _ = reference_window(self.as_of_ns)
        return {
            "from": iso(start),
            "to": iso(self.as_of_ns),
            "stored_at": (
                self.stored_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
                if self.stored_at
                else None
            ),
            "outdated": (
                iso(self.outdated_as_of_ns) if self.outdated_as_of_ns is not None else None
            ),
        }


@dataclass(slots=True)
class JourneyReport:
    journey: Journey
    conformance: Conformance
    anomalies: list[Anomaly]
    sla_breaches: list[SlaBreach]
    differences: list[Difference]
    summary: dict[str, str]
    reference: ReferenceNote | None = None  # None: judged with every order (report_orders)
    # the other orders of its customer type its typical journey was built from (none: no
    # comparison); the order page draws their usual path under this order's
    typical_orders: list[str] = field(default_factory=list)
    # the calls of those orders (by id) where their samples recorded them: the typical path
    typical_calls: dict[str, frozenset[Call]] = field(default_factory=dict)

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
            "states": [
                {"state": c.state, "at": iso(c.at_ns), "container": c.container}
                for c in conformance.changes
            ],
            "violations": [v.as_dict() for v in conformance.violations],
            "steps": [
                {
                    "container": s.container,
                    "operation": s.operation,
                    "kind": s.kind.name.lower(),
                    "start": iso(s.start_ns),
                    "duration_ms": round(s.duration_ns / 1e6, 3),
                    "outcome": s.outcome,
                    "trace_id": s.trace_id,
                    "span_id": s.span_id,
                    "states": s.states,
                }
                for s in journey.steps
            ],
            "anomalies": [a.as_dict() for a in self.anomalies],
            "stages": stage_report(conformance.dwells),
            "lost_messages": [
                {
                    "destination": m.destination,
                    "container": m.container,
                    "at": iso(m.at_ns),
                    "trace_id": m.trace_id,
                    "span_id": m.span_id,
                }
                for m in conformance.unconsumed
            ],
            "sla_breaches": [b.as_dict() for b in self.sla_breaches],
            "comparison": [d.as_dict() for d in self.differences],
            "reference": self.reference.as_dict() if self.reference else None,
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


def judge_journey(
    journey: Journey,
    context: Context,
    conformance: Conformance | None = None,
    typical_included: bool = False,
) -> JourneyReport:
    """The report of an assembled journey."""
    conformance = conformance or check_states(journey, context.graph, context.now_ns)
    anomalies = own_anomalies(journey, context.baseline.anomalies(_pairs(journey)))
    sla_breaches = breaches(context.sla, _pairs(journey)) if context.sla else []
    differences = (
        context.typical.compare(journey, conformance, context.graph, typical_included)
        if context.typical
        else []
    )
    summary = tell(journey, conformance, anomalies, names=context.names)
    customer_type = journey.customer_type or ""
    typical_orders = (
        context.typical.sample_orders(customer_type, journey.order_id) if context.typical else []
    )
    return JourneyReport(
        journey,
        conformance,
        anomalies,
        sla_breaches,
        differences,
        summary,
        typical_orders=typical_orders,
        typical_calls=(
            context.typical.recorded_calls(customer_type, typical_orders) if context.typical else {}
        ),
    )


def spans_in_window(
    source: TraceSource,
    container_of: ContainerOf,
    window: Window,
    max_traces: int = BASELINE_MAX_TRACES,
) -> list[tuple[str, Span]]:
    """(container, span) of the newest traces starting in a window (at most max_traces)."""
    start_ns, end_ns = window
    found = source.search(TraceQuery(start_ns=start_ns, end_ns=end_ns, limit=max_traces))
    ids = [summary.trace_id for summary in found]
    if isinstance(source, ReadsTracesInBulk):
        traces = source.get_traces(ids)
    else:
        traces = []
        for trace_id in ids:
            try:
                traces.append(source.get_trace(trace_id))
            except SourceError:
                continue  # a trace deleted meanwhile does not spoil the figures
    return [(container_of(s), s) for trace in traces for s in trace.spans]


def baseline_from_source(
    source: TraceSource,
    container_of: ContainerOf,
    window: Window,
    max_traces: int = BASELINE_MAX_TRACES,
) -> Baseline:
    """A baseline over the newest traces of a window (at most max_traces of them)."""
    return Baseline.from_spans(spans_in_window(source, container_of, window, max_traces))


def atypical_services_now(
    source: TraceSource,
    container_of: ContainerOf,
    now_ns: int | None = None,
    recent_ns: int = RECENT_NS,
) -> list[AtypicalService]:
    """Containers whose spans of the last `recent_ns` before now depart from their baseline
    over the trailing week before that."""
    now = now_ns if now_ns is not None else latest_time_ns(source)
    if now is None:
        return []
    baseline = baseline_from_source(
        source, container_of, (now - recent_ns - BASELINE_WINDOW_NS, now - recent_ns)
    )
    recent = spans_in_window(source, container_of, (now - recent_ns, now + 1))
    return baseline.atypical_services(recent)


def reference_at(
    source: TraceSource,
    graph: StateGraph,
    now_ns: int,
    customer_types: Iterable[str],
    container_of: ContainerOf = service_container,
    assemble: Callable[[list[str]], list[Journey]] | None = None,
    known: Mapping[str, OrderSample] | None = None,
    calls_of: CallsOf | None = None,
) -> Reference:
    """The reference at now_ns for these customer types. Samples in `known` (by order id) are
    reused; the journeys of the other sampled orders come from `assemble` (default: one by
    one, so that one order's report never reads the whole source); their samples record
    their calls with `calls_of` when given."""
    trailing = reference_window(now_ns)
    baseline = baseline_from_source(source, container_of, trailing)

    def one_by_one(ids: list[str]) -> list[Journey]:
        return [journey_for_order(source, o, container_of=container_of) for o in ids]

    assemble = assemble or one_by_one
    known = known or {}
    samples: dict[str, list[OrderSample]] = {}
    for customer_type in customer_types:
        wanted = _orders_of_type(source, customer_type, trailing)[: TYPICAL_MAX_ORDERS + 1]
        found = {o: known[o] for o in wanted if o in known}
        for journey in assemble([o for o in wanted if o not in found]):
            found[journey.order_id] = OrderSample.of(
                journey, check_states(journey, graph, now_ns), calls_of
            )
        samples[customer_type] = [found[o] for o in wanted]
    return Reference(baseline, samples, now_ns)


def report_for_order(
    source: TraceSource,
    order_id: str,
    graph: StateGraph,
    sla: Sla | None = None,
    container_of: ContainerOf = service_container,
    now_ns: int | None = None,
    window: Window = (None, None),
    names: Mapping[str, str] | None = None,
    load_reference: LoadReference | None = None,
) -> JourneyReport:
    """One order's report (see report_for_journey); "now" is now_ns, else the end of the newest
    trace in the source (or window), else the order's newest span. Pages and commands call
    explorer.journeys.service.judge_order(), which takes these from the configuration."""
    journey = journey_for_order(source, order_id, window, container_of)
    now = Now(now_ns).resolve(source, [journey], window)
    return report_for_journey(source, journey, graph, sla, container_of, now, names, load_reference)


def report_for_journey(
    source: TraceSource,
    journey: Journey,
    graph: StateGraph,
    sla: Sla | None,
    container_of: ContainerOf,
    now: int,
    names: Mapping[str, str] | None = None,
    load_reference: LoadReference | None = None,
    calls_of: CallsOf | None = None,
) -> JourneyReport:
    """An assembled order's report, judged at `now` against the reference (the latency
    baseline and the typical journey of its customer type) of the week before now, or of the
    week before the order's last span when that is older: an old order is judged against its
    own time. The stored reference from `load_reference` is used when it serves at that time,
    else it is computed here (reading only the traces it needs; its samples record their
    calls with `calls_of` when given)."""
    order_id = journey.order_id
    last = max((s.end_ns for s in journey.spans), default=now)
    at = now if last > now - BASELINE_WINDOW_NS else last
    customer_type = journey.customer_type or ""
    stored = load_reference(customer_type) if load_reference is not None else None
    if stored is not None and stored.serves(at):
        reference = stored
    else:
        reference = reference_at(
            source,
            graph,
            at,
            [customer_type] if customer_type else [],
            container_of,
            calls_of=calls_of,
        )
    typical = reference.typical_for(order_id, customer_type)
    context = Context(graph, sla, reference.baseline, now, typical, names or {})
    result = judge_journey(journey, context)
    # A stored reference that does not serve now was computed from older data (else: an old
    # order, judged against its own time).
    outdated = stored.as_of_ns if stored is not None and not stored.serves(now) else None
    result.reference = ReferenceNote(reference.as_of_ns, reference.stored_at, outdated)
    return result


def _orders_of_type(source: TraceSource, customer_type: str, window: Window) -> list[str]:
    """The orders of the type with a trace starting in the window, newest trace first."""
    found = source.find_traces(
        CUSTOMER_TYPE_KEY, customer_type, *window, limit=TYPICAL_MAX_ORDERS * 10
    )
    return list(
        dict.fromkeys(s.attributes[ORDER_KEY] for s in found if s.attributes.get(ORDER_KEY))
    )


def order_ids(
    source: TraceSource, window: Window = (None, None), limit: int = 100_000
) -> list[str]:
    """Every order id in the source (or window), where the source can list attribute values;
    values that name no order (explorer.journeys.intake) are left out."""
    if not isinstance(source, ListsAttributeValues):
        raise SourceError(f"{source.name}: cannot list orders (no attribute_values)")
    values = source.attribute_values(ORDER_KEY, *window, limit=limit)
    return [v for v in values if order_id_problem(v) is None]


# From this many orders on, every trace of the source is read once (TraceSet) rather than
# each order's traces and links asked for one by one.
BULK_MIN_ORDERS = 50


def lookups_for(source: TraceSource, orders: int) -> TraceSource:
    """What to assemble this many orders' journeys from: for many orders of a source that can
    read traces in bulk, every trace read once (a TraceSet); else the source itself."""
    if (
        orders < BULK_MIN_ORDERS
        or isinstance(source, TraceSet)
        or not isinstance(source, ReadsTracesInBulk)
    ):
        return source
    # A TraceSet answers everything assembling journeys asks of a source.
    return cast(TraceSource, TraceSet.read(source))


def assemble_journeys(
    source: TraceSource,
    orders: list[str],
    window: Window = (None, None),
    container_of: ContainerOf = service_container,
) -> list[Journey]:
    """The journeys of these orders, the same as journey_for_order() gives each (from one
    read of every trace for many orders, see lookups_for)."""
    lookups = lookups_for(source, len(orders))
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
    journeys = assemble_journeys(source, wanted, window, container_of)
    now = Now(now_ns).resolve(source, journeys, window)
    baseline = Baseline.from_spans(journey_pairs(journeys))
    conformances = [check_states(j, graph, now) for j in journeys]
    typical = TypicalJourneys.from_journeys(zip(journeys, conformances, strict=True))
    context = Context(graph, sla, baseline, now, typical, names or {})
    return [
        judge_journey(j, context, c, typical_included=True)
        for j, c in zip(journeys, conformances, strict=True)
    ]
