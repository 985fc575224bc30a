"""Order statuses for a stored snapshot: what pages list without assembling any journey.

compute_snapshot() computes, for every order (or the ones asked for), what report_orders()
says about it, reduced to one row, and the Reference (baseline and typical journeys) that
one order's report would compute at the same "now", so that pages need not. Whether an order
is stuck depends on "now", so a row keeps what decides it (current state, since when, its
limit, and the oldest message still in flight) and status_at() decides at read time, exactly
as checking._status would at that "now".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from explorer.journeys.anomalies import Baseline
from explorer.journeys.assembly import journey_for_order, own_anomalies
from explorer.journeys.checking import check_states, unconsumed_messages
from explorer.journeys.conformance import (
    COMPLETE,
    IN_FLIGHT_NS,
    IN_PROGRESS,
    LOST,
    STUCK,
    Conformance,
)
from explorer.journeys.journey import ContainerOf, Journey, channel_of, service_container
from explorer.journeys.lookups import order_ids
from explorer.journeys.report import BaselineOf, Reference, reference_window
from explorer.journeys.reporting import assemble_journeys, journey_pairs, lookups_for, reference_at
from explorer.journeys.state_graph import StateGraph
from explorer.journeys.typical import CallsOf, OrderSample
from explorer.sources.base import ListsAttributeValues, TraceSource
from explorer.traces.vocabulary import CUSTOMER_TYPE_KEY

# A row keeps at most this many of an order's atypically slow operations (the lists name them).
SUMMARY_OPERATIONS = 3


@dataclass(slots=True, frozen=True)
class OrderStatusRow:
    order_id: str
    customer_id: str
    customer_type: str
    channel: str
    status: str  # at as_of_ns
    state: str
    state_since_ns: int | None  # when the current state was set
    state_limit_ns: int | None  # how long it may last (None: final or unknown state)
    in_flight_since_ns: int | None  # oldest unconsumed message not yet lost at as_of_ns
    violations: list[dict] = field(default_factory=list)  # [{"kind", "detail"}]
    anomalous: bool = False
    # The first SUMMARY_OPERATIONS atypically slow operations, [container id, operation], and
    # how many there are: the pages name the containers in their language.
    anomalous_operations: list[list[str]] = field(default_factory=list)
    anomalous_operation_count: int = 0
    first_seen_ns: int | None = None
    last_seen_ns: int | None = None
    as_of_ns: int = 0  # the "now" the row was computed against
    # [[state, ns], ...]: how long the order stayed in each state it has left, in order (the
    # dwell histograms and step breaches of /metrics read them, explorer/web/metrics.py).
    finished_dwells: list[list] = field(default_factory=list)
    # Step figures (explorer.orders.models.OrderStep; not a column of the row): each finished
    # dwell as [state, next state, entered ns, left ns, limit ns or None], in order.
    steps: list[list] = field(default_factory=list)
    # OrderSample.as_dict(): what the typical journey of its type takes from the order (none
    # of it depends on now), kept so that a reference reads no trace of a sampled order
    # (explorer.orders.samples); None: not computed.
    sample: dict | None = None

    def status_at(self, now_ns: int) -> str:
        return status_at(
            self.status, self.state_since_ns, self.state_limit_ns, self.in_flight_since_ns, now_ns
        )


def status_at(
    status: str,
    state_since_ns: int | None,
    state_limit_ns: int | None,
    in_flight_since_ns: int | None,
    now_ns: int,
) -> str:
    """The status of a row at `now_ns` (not before its as_of): complete and lost stay; an
    in-flight message older than IN_FLIGHT_NS makes the order lost; a current state older
    than its limit makes it stuck."""
    if status in (COMPLETE, LOST):
        return status
    if in_flight_since_ns is not None and in_flight_since_ns <= now_ns - IN_FLIGHT_NS:
        return LOST
    if (
        state_limit_ns is not None
        and state_since_ns is not None
        and now_ns - state_since_ns > state_limit_ns
    ):
        return STUCK
    return IN_PROGRESS


def status_row(
    journey: Journey,
    conformance: Conformance,
    anomalous_operations: list[tuple[str, str]],
    now_ns: int,
    sample: OrderSample | None = None,
) -> OrderStatusRow:
    """The row of one judged journey; `anomalous_operations` are the (container, operation)
    of its atypical spans; `sample` its typical-journey sample, kept with it."""
    current = conformance.dwells[-1] if conformance.dwells else None
    in_flight = [
        m.at_ns
        for m in unconsumed_messages(journey, now_ns + IN_FLIGHT_NS)
        if m.at_ns > now_ns - IN_FLIGHT_NS
    ]
    return OrderStatusRow(
        order_id=journey.order_id,
        customer_id=journey.customer_id or "",
        customer_type=journey.customer_type or "",
        channel=channel_of(journey),
        status=conformance.status,
        state=conformance.state or "",
        state_since_ns=current.start_ns if current else None,
        state_limit_ns=current.limit_ns if current else None,
        in_flight_since_ns=min(in_flight) if in_flight else None,
        violations=[v.as_dict() for v in conformance.violations],
        anomalous=bool(anomalous_operations),
        anomalous_operations=[list(pair) for pair in anomalous_operations[:SUMMARY_OPERATIONS]],
        anomalous_operation_count=len(anomalous_operations),
        first_seen_ns=min((s.start_ns for s in journey.spans), default=None),
        last_seen_ns=max((s.end_ns for s in journey.spans), default=None),
        as_of_ns=now_ns,
        finished_dwells=[[d.state, d.duration_ns] for d in conformance.dwells if not d.current],
        steps=[
            [d.state, after.state, d.start_ns, d.start_ns + d.duration_ns, d.limit_ns]
            for d, after in pairwise(conformance.dwells)
        ],
        sample=sample.as_dict() if sample is not None else None,
    )


@dataclass(slots=True)
class Snapshot:
    """What `orders --refresh` stores: a row per order and the reference at the same now."""

    rows: list[OrderStatusRow]
    reference: Reference | None  # None: the source is empty


def compute_snapshot(
    source: TraceSource,
    graph: StateGraph,
    container_of: ContainerOf,
    now: int,
    orders: list[str] | None = None,
    previous: Mapping[str, OrderSample] | None = None,
    calls_of: CallsOf | None = None,
    baseline_of: BaselineOf | None = None,
) -> Snapshot:
    """A row per order of the source, as report_orders() judges it (same journeys, baseline
    over all of them, statuses at `now`), and the reference at now. With `orders`, only
    those, judged against the reference's baseline (the one a single order's report uses), so
    the other orders need not be assembled: the reference takes their typical-journey samples
    from `previous` (the stored ones) where it can. Samples record their calls with
    `calls_of` when given (the order page draws the typical path from them); the reference's
    baseline from `baseline_of` where it gives one (reference_at)."""
    wanted = order_ids(source) if orders is None else orders
    # Read once for the journeys, then the reference's baseline and samples.
    lookups = lookups_for(source, len(wanted))
    journeys = assemble_journeys(lookups, wanted, (None, None), container_of)
    conformances = [check_states(journey, graph, now) for journey in journeys]
    samples = {
        j.order_id: OrderSample.of(j, c, calls_of)
        for j, c in zip(journeys, conformances, strict=True)
    }
    reference = reference_at(
        lookups,
        graph,
        now,
        customer_types(source, now),
        container_of,
        assemble=lambda ids: assemble_journeys(lookups, ids, (None, None), container_of),
        known={**(previous or {}), **samples},
        calls_of=calls_of,
        baseline_of=baseline_of,
    )
    baseline = (
        Baseline.from_spans(journey_pairs(journeys)) if orders is None else reference.baseline
    )
    rows = [
        _row(j, c, baseline, now, samples[j.order_id])
        for j, c in zip(journeys, conformances, strict=True)
    ]
    return Snapshot(rows, reference)


def compute_rows(
    source: TraceSource,
    graph: StateGraph,
    orders: list[str],
    baseline: Baseline,
    now_ns: int,
    container_of: ContainerOf = service_container,
    calls_of: CallsOf | None = None,
) -> list[OrderStatusRow]:
    """The rows of a few orders judged against a given baseline, each journey read on its
    own (what the live worker computes again after new spans), as compute_snapshot() has
    them (their samples recording calls with `calls_of`)."""
    rows = []
    for order_id in orders:
        journey = journey_for_order(source, order_id, container_of=container_of)
        conformance = check_states(journey, graph, now_ns)
        sample = OrderSample.of(journey, conformance, calls_of)
        rows.append(_row(journey, conformance, baseline, now_ns, sample))
    return rows


def customer_types(source: TraceSource, now_ns: int) -> list[str]:
    """The customer types with a trace in the reference window (order_ids() has already
    required a source that can list attribute values)."""
    assert isinstance(source, ListsAttributeValues)
    return list(source.attribute_values(CUSTOMER_TYPE_KEY, *reference_window(now_ns)))


def _row(
    journey: Journey,
    conformance: Conformance,
    baseline: Baseline,
    now_ns: int,
    sample: OrderSample,
) -> OrderStatusRow:
    anomalies = own_anomalies(
        journey, baseline.anomalies((journey.container(s), s) for s in journey.spans)
    )
    operations = list(dict.fromkeys((a.container, a.operation) for a in anomalies))
    return status_row(journey, conformance, operations, now_ns, sample)
