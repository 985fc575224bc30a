"""Order statuses for a stored snapshot: what pages list without assembling any journey.

order_statuses() computes, for every order (or those seen since a time), what report_orders()
says about it, reduced to one row. Whether an order is stuck depends on "now", so a row keeps
what decides it (current state, since when, its limit, and the oldest message still in flight)
and status_at() decides at read time, exactly as conformance._status would at that "now".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from explorer.journeys.anomalies import Baseline
from explorer.journeys.assembly import ContainerOf, Journey, latest_time_ns, service_container
from explorer.journeys.conformance import (
    COMPLETE,
    IN_FLIGHT_NS,
    IN_PROGRESS,
    LOST,
    STUCK,
    Conformance,
    check_states,
    unconsumed_messages,
)
from explorer.journeys.report import (
    BASELINE_WINDOW_NS,
    assemble_journeys,
    baseline_from_source,
    journey_pairs,
    order_ids,
)
from explorer.journeys.state_graph import StateGraph
from explorer.sources.base import TraceSource

# The channel an order came through, by the container of its first step.
CHANNELS = {"internet_shop": "shop", "shop_api": "shop", "mes_api": "partner_api"}


def channel_of(journey) -> str:
    """The channel an order came through: "shop" or "partner_api" (else its first container)."""
    entry = journey.steps[0].container if journey.steps else ""
    return CHANNELS.get(entry, entry)


# The anomaly summary names at most this many operations.
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
    anomaly_summary: str = ""
    first_seen_ns: int | None = None
    last_seen_ns: int | None = None
    as_of_ns: int = 0  # the "now" the row was computed against

    def status_at(self, now_ns: int) -> str:
        return status_at(self.status, self.state_since_ns, self.state_limit_ns,
                         self.in_flight_since_ns, now_ns)


def status_at(status: str, state_since_ns: int | None, state_limit_ns: int | None,
              in_flight_since_ns: int | None, now_ns: int) -> str:
    """The status of a row at `now_ns` (not before its as_of): complete and lost stay; an
    in-flight message older than IN_FLIGHT_NS makes the order lost; a current state older
    than its limit makes it stuck."""
    if status in (COMPLETE, LOST):
        return status
    if in_flight_since_ns is not None and in_flight_since_ns <= now_ns - IN_FLIGHT_NS:
        return LOST
    if (state_limit_ns is not None and state_since_ns is not None
            and now_ns - state_since_ns > state_limit_ns):
        return STUCK
    return IN_PROGRESS


def status_row(journey: Journey, conformance: Conformance, anomalous_operations: list[str],
               now_ns: int) -> OrderStatusRow:
    """The row of one judged journey; `anomalous_operations` names its atypical spans."""
    current = conformance.dwells[-1] if conformance.dwells else None
    in_flight = [m.at_ns for m in unconsumed_messages(journey, now_ns + IN_FLIGHT_NS)
                 if m.at_ns > now_ns - IN_FLIGHT_NS]
    summary = ", ".join(anomalous_operations[:SUMMARY_OPERATIONS])
    if len(anomalous_operations) > SUMMARY_OPERATIONS:
        summary += f" and {len(anomalous_operations) - SUMMARY_OPERATIONS} more"
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
        anomaly_summary=summary,
        first_seen_ns=min((s.start_ns for s in journey.spans), default=None),
        last_seen_ns=max((s.end_ns for s in journey.spans), default=None),
        as_of_ns=now_ns,
    )


def order_statuses(
    source: TraceSource,
    graph: StateGraph,
    container_of: ContainerOf = service_container,
    now_ns: int | None = None,
    since_ns: int | None = None,
    names: Mapping[str, str] | None = None,
) -> list[OrderStatusRow]:
    """A row per order of the source, as report_orders() judges it (same journeys, baseline
    over all of them, statuses at `now`). With `since_ns`, only the orders with a trace that
    starts at or after it, judged against the baseline of the week before now (the one a
    single order's report uses), so the other orders need not be assembled."""
    now = now_ns if now_ns is not None else latest_time_ns(source)
    if now is None:
        return []
    wanted = order_ids(source, (since_ns, None) if since_ns is not None else (None, None))
    journeys = assemble_journeys(source, wanted, (None, None), container_of)
    if since_ns is None:
        baseline = Baseline.from_spans(journey_pairs(journeys))
    else:
        baseline = baseline_from_source(source, container_of,
                                        (now - BASELINE_WINDOW_NS, now + 1))
    return [_row(journey, graph, baseline, now, names or {}) for journey in journeys]


def _row(journey: Journey, graph: StateGraph, baseline: Baseline, now_ns: int,
         names: Mapping[str, str]) -> OrderStatusRow:
    conformance = check_states(journey, graph, now_ns)
    anomalies = baseline.anomalies((journey.container(s), s) for s in journey.spans)
    operations = list(dict.fromkeys(f"{names.get(a.container, a.container)}: {a.operation}"
                                    for a in anomalies))
    return status_row(journey, conformance, operations, now_ns)
