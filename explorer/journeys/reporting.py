"""Everything the explorer says about an order, for one order or for every order in a source.

report_order() and report_orders() (through explorer.orders.service.judge_order() and
judge_orders(), which pages and commands call) are deterministic: "now" is the newest span
time in the source unless given, never the wall clock. For many orders the latency baseline
and the typical journeys are built once.

One order is judged against a Reference (explorer.journeys.report): the latency baseline and
the samples of the typical journeys of the week before "now". `orders --refresh` stores one
(explorer.orders.models); a report uses the stored one when it is recent enough and computes
it otherwise: the same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import cast

from explorer.journeys.anomalies import AtypicalService, Baseline
from explorer.journeys.assembly import MAX_LINK_DEPTH, journey_for_order, own_anomalies
from explorer.journeys.bulk import TraceSet
from explorer.journeys.checking import check_states
from explorer.journeys.conformance import Conformance
from explorer.journeys.journey import ContainerOf, Journey, Window, service_container
from explorer.journeys.lookups import order_ids
from explorer.journeys.now import NEWEST_SPAN, Now
from explorer.journeys.report import (
    BASELINE_WINDOW_NS,
    RECENT_NS,
    TYPICAL_MAX_ORDERS,
    BaselineOf,
    Context,
    JourneyReport,
    LoadReference,
    Reference,
    ReferenceNote,
    StoredSamples,
    baseline_from_source,
    reference_window,
    spans_in_window,
    window_baseline,
)
from explorer.journeys.sla import breaches
from explorer.journeys.state_graph import Sla, StateGraph
from explorer.journeys.story import NamesByLanguage, tell, violation_said
from explorer.journeys.typical import CallsOf, OrderSample, TypicalJourneys
from explorer.sources.base import FindsJourneyTracesInBulk, ReadsTracesInBulk, TraceSource
from explorer.traces.model import Span
from explorer.traces.vocabulary import CUSTOMER_TYPE_KEY, ORDER_KEY


def _pairs(journey: Journey) -> Iterable[tuple[str, Span]]:
    return ((journey.container(s), s) for s in journey.spans)


def report_in_context(
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
        violations_said=[violation_said(v, context.names) for v in conformance.violations],
        typical_orders=typical_orders,
        typical_calls=(
            context.typical.recorded_calls(customer_type, typical_orders) if context.typical else {}
        ),
    )


def atypical_services_now(
    source: TraceSource,
    container_of: ContainerOf,
    now: Now = NEWEST_SPAN,
    recent_ns: int = RECENT_NS,
) -> list[AtypicalService]:
    """Containers whose spans of the last `recent_ns` before now depart from their baseline
    over the trailing week before that."""
    at = now.in_source(source)
    if at is None:
        return []
    baseline = baseline_from_source(
        source, container_of, (at - recent_ns - BASELINE_WINDOW_NS, at - recent_ns)
    )
    recent = spans_in_window(source, container_of, (at - recent_ns, at + 1))
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
    baseline_of: BaselineOf | None = None,
    stored: StoredSamples | None = None,
) -> Reference:
    """The reference at now_ns for these customer types. Samples in `known` (by order id),
    then those `stored` gives (still current: the same as computed here, none of a sample
    depends on now), are reused; the journeys of the other sampled orders come from
    `assemble` (default: their
    own traces, read in bulk where the source can, see sampled_journeys; so that one order's
    report never reads the whole source); their samples record their calls with `calls_of`
    when given. The baseline comes from `baseline_of` (figures) where it gives one, else from
    the newest traces of the week (window_baseline)."""
    trailing = reference_window(now_ns)
    baseline = window_baseline(source, container_of, trailing, baseline_of)
    assemble = assemble or (lambda ids: sampled_journeys(source, ids, container_of))
    known = known or {}
    samples: dict[str, list[OrderSample]] = {}
    for customer_type in customer_types:
        wanted = _orders_of_type(source, customer_type, trailing)[: TYPICAL_MAX_ORDERS + 1]
        found = {o: known[o] for o in wanted if o in known}
        if stored is not None:
            found.update(stored([o for o in wanted if o not in found]))
        for journey in assemble([o for o in wanted if o not in found]):
            found[journey.order_id] = OrderSample.of(
                journey, check_states(journey, graph, now_ns), calls_of
            )
        samples[customer_type] = [found[o] for o in wanted]
    return Reference(baseline, samples, now_ns)


def sampled_journeys(
    source: TraceSource, orders: list[str], container_of: ContainerOf = service_container
) -> list[Journey]:
    """The journeys of these orders as journey_for_order() assembles each, their traces and
    links read in a few bulk round trips where the source can (TraceSet.read_for_orders):
    one by one, a reference's two hundred sampled orders took 6,000 queries."""
    lookups = source
    bulk = isinstance(source, FindsJourneyTracesInBulk) and isinstance(source, ReadsTracesInBulk)
    if orders and bulk:
        read = TraceSet.read_for_orders(
            cast(FindsJourneyTracesInBulk, source), orders, MAX_LINK_DEPTH
        )
        lookups = cast(TraceSource, read)
    return [journey_for_order(lookups, o, container_of=container_of) for o in orders]


def report_order(
    source: TraceSource,
    order_id: str,
    graph: StateGraph,
    sla: Sla | None = None,
    container_of: ContainerOf = service_container,
    now: Now = NEWEST_SPAN,
    window: Window = (None, None),
    names: NamesByLanguage | None = None,
    load_reference: LoadReference | None = None,
    baseline_of: BaselineOf | None = None,
) -> JourneyReport:
    """One order's report (see report_journey) at `now` (Now.resolve: the order's newest
    span for an empty source). Pages and commands call explorer.orders.service.judge_order(),
    which takes these from the configuration."""
    journey = journey_for_order(source, order_id, window, container_of)
    at = now.resolve(source, [journey], window)
    return report_journey(
        source,
        journey,
        graph,
        sla,
        container_of,
        at,
        names,
        load_reference,
        baseline_of=baseline_of,
    )


def report_journey(
    source: TraceSource,
    journey: Journey,
    graph: StateGraph,
    sla: Sla | None,
    container_of: ContainerOf,
    now: int,
    names: NamesByLanguage | None = None,
    load_reference: LoadReference | None = None,
    calls_of: CallsOf | None = None,
    baseline_of: BaselineOf | None = None,
    stored_samples: StoredSamples | None = None,
) -> JourneyReport:
    """An assembled order's report, judged at `now` against the reference (the latency
    baseline and the typical journey of its customer type) of the week before now, or of the
    week before the order's last span when that is older: an old order is judged against its
    own time. The stored reference from `load_reference` is used when it serves at that time,
    else it is computed here (reading only the traces it needs; its samples record their
    calls with `calls_of` when given; its baseline from `baseline_of` where it gives one;
    the samples `stored_samples` still has, so that an old order's page reads no other
    order's traces)."""
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
            baseline_of=baseline_of,
            stored=stored_samples,
        )
    typical = reference.typical_for(order_id, customer_type)
    context = Context(graph, sla, reference.baseline, now, typical, names or {})
    result = report_in_context(journey, context)
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
    now: Now = NEWEST_SPAN,
    window: Window = (None, None),
    names: NamesByLanguage | None = None,
    orders: Iterable[str] | None = None,
) -> list[JourneyReport]:
    """Reports of every order (or of `orders`): journeys assembled once, then one baseline
    over all their spans and the typical journeys of every customer type."""
    wanted = list(orders) if orders is not None else order_ids(source, window)
    journeys = assemble_journeys(source, wanted, window, container_of)
    at = now.resolve(source, journeys, window)
    baseline = Baseline.from_spans(journey_pairs(journeys))
    conformances = [check_states(j, graph, at) for j in journeys]
    typical = TypicalJourneys.from_journeys(zip(journeys, conformances, strict=True))
    context = Context(graph, sla, baseline, at, typical, names or {})
    return [
        report_in_context(j, context, c, typical_included=True)
        for j, c in zip(journeys, conformances, strict=True)
    ]
