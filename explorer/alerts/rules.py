"""The five alert rules, judged at one "now" (the newest span, explorer.orders.service.now_in).

Order rules read the stored order-status snapshot (explorer.orders.models.OrderStatus, which
decides lost and stuck at read time); endpoint rules read the traces of a trailing window and
judge them with the journeys code (sla.compliance, the anomaly Baseline); what an alert says
of one order (describe_order) comes from the orders service (judge_states). Nothing is judged
by hand here: the rules only pick what crosses the thresholds of their AlertRule.

A rule gives the subjects whose condition holds (they open or refresh an alert) and those it
could not judge (too few calls in the window, or an order outside the window): an open alert
of those stays open, none opens. Every other open alert of the kind resolves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from explorer.alerts.models import AlertRule
from explorer.configuration import Configuration
from explorer.journeys.anomalies import Baseline
from explorer.journeys.report import reference_window, spans_in_window, window_baseline
from explorer.journeys.sla import compliance
from explorer.orders.models import BaselineSnapshot, OrderStatus
from explorer.orders.service import figures_baseline, judge_states, now_policy
from explorer.sources.base import SourceError, TraceSource
from explorer.traces.model import Span, SpanKind

MINUTE_NS = 60 * 10**9


@dataclass(slots=True)
class Finding:
    """A condition that holds now: what an alert is opened (or refreshed) with."""

    kind: str
    subject: str
    order_id: str = ""
    container: str = ""
    operation: str = ""
    customer_id: str = ""
    customer_type: str = ""
    facts: dict = field(default_factory=dict)


@dataclass(slots=True)
class Evaluation:
    kind: str
    found: list[Finding] = field(default_factory=list)
    undecided: set[str] = field(default_factory=set)  # subjects: open alerts stay open


@dataclass(slots=True)
class Situation:
    """What every rule judges against."""

    source: TraceSource
    config: Configuration
    now_ns: int


def _order_finding(kind: str, row: OrderStatus, facts: dict) -> Finding:
    return Finding(
        kind,
        row.order_id,
        order_id=row.order_id,
        customer_id=row.customer_id,
        customer_type=row.customer_type,
        facts=facts,
    )


def lost_orders(rule: AlertRule, at: Situation) -> Evaluation:
    result = Evaluation("lost_message")
    for row in OrderStatus.objects.lost_at(at.now_ns):
        result.found.append(_order_finding("lost_message", row, {"state": row.state}))
    return result


def stuck_orders(rule: AlertRule, at: Situation) -> Evaluation:
    result = Evaluation("stuck")
    graph = at.config.graph
    for row in OrderStatus.objects.stuck_at(at.now_ns):
        waited = at.now_ns - row.state_since_ns
        if waited <= rule.threshold * row.state_limit_ns:
            result.undecided.add(row.order_id)  # stuck, but not yet as long as the rule wants
            continue
        following = [b for a, b in graph.transitions if a == row.state]
        setters = list(dict.fromkeys(owner for state in following for owner in graph.owners(state)))
        result.found.append(
            _order_finding(
                "stuck",
                row,
                {
                    "state": row.state,
                    "since_ns": row.state_since_ns,
                    "limit_ns": row.state_limit_ns,
                    "next_states": following,
                    "next_setters": setters,
                },
            )
        )
    return result


def state_violations(rule: AlertRule, at: Situation) -> Evaluation:
    result = Evaluation("state_violation")
    oldest = at.now_ns - rule.window_minutes * MINUTE_NS if rule.window_minutes else None
    for row in OrderStatus.objects.exclude(violations=[]):
        if oldest is not None and (row.last_seen_ns or 0) < oldest:
            result.undecided.add(row.order_id)
            continue
        kinds = sorted({v.get("kind", "") for v in row.violations if isinstance(v, dict)})
        result.found.append(
            _order_finding("state_violation", row, {"kinds": kinds, "state": row.state})
        )
    return result


def _window_spans(at: Situation, minutes: int) -> list[tuple[str, Span]]:
    return spans_in_window(
        at.source, at.config.container_of, (at.now_ns - minutes * MINUTE_NS, at.now_ns + 1)
    )


def sla_breaches(rule: AlertRule, at: Situation) -> Evaluation:
    """Per container endpoint with an SLA: the share of its SERVER spans of the window within
    their limit (sla.compliance over the endpoint's spans) against the target."""
    result = Evaluation("sla_breach")
    sla = at.config.sla
    if sla is None:
        return result
    by_endpoint: dict[tuple[str, str], list[tuple[str, Span]]] = defaultdict(list)
    for container, span in _window_spans(at, rule.window_minutes):
        if span.kind == SpanKind.SERVER and sla.limit_ms(container, span.name) is not None:
            by_endpoint[(container, span.name)].append((container, span))
    for (container, endpoint), spans in sorted(by_endpoint.items()):
        found = compliance(sla, spans)[0]
        subject = f"{container} {endpoint}"
        if found.requests < rule.min_count:
            result.undecided.add(subject)
        elif found.fraction < rule.threshold:
            result.found.append(
                Finding(
                    "sla_breach",
                    subject,
                    container=container,
                    operation=endpoint,
                    facts={
                        "requests": found.requests,
                        "within": found.within,
                        "target": rule.threshold,
                        "limit_ms": sla.limit_ms(container, endpoint),
                        "window_minutes": rule.window_minutes,
                    },
                )
            )
    return result


def anomaly_baseline(at: Situation) -> Baseline:
    """The baseline `orders --refresh` stored when it serves now, else computed alike."""
    stored = BaselineSnapshot.load_reference(at.source.name, "")
    if stored is not None and stored.serves(at.now_ns):
        return stored.baseline
    window = reference_window(at.now_ns)
    baseline_of = figures_baseline(at.source, at.config)  # as the refresh computes it
    return window_baseline(at.source, at.config.container_of, window, baseline_of)


def slow_operations(rule: AlertRule, at: Situation) -> Evaluation:
    """Per (container, operation) with a baseline: the share of its calls in the window that
    the baseline finds atypically slow, against the rule's share."""
    result = Evaluation("anomaly")
    baseline = anomaly_baseline(at)
    recent = _window_spans(at, rule.window_minutes)
    calls: dict[tuple[str, str], int] = defaultdict(int)
    medians: dict[tuple[str, str], float] = {}  # of the operations with a baseline
    for container, span in recent:
        if (stats := baseline.lookup(container, span.name)) is not None:
            calls[(container, span.name)] += 1
            medians[(container, span.name)] = stats.median_ns
    slow: dict[tuple[str, str], int] = defaultdict(int)
    for anomaly in baseline.anomalies(recent):
        slow[(anomaly.container, anomaly.operation)] += 1
    for (container, operation), count in sorted(calls.items()):
        subject = f"{container} {operation}"
        if count < rule.min_count:
            result.undecided.add(subject)
        elif slow[(container, operation)] / count > rule.threshold:
            result.found.append(
                Finding(
                    "anomaly",
                    subject,
                    container=container,
                    operation=operation,
                    facts={
                        "slow": slow[(container, operation)],
                        "calls": count,
                        "share": rule.threshold,
                        "median_ms": round(medians[(container, operation)] / 1e6, 3),
                        "window_minutes": rule.window_minutes,
                    },
                )
            )
    return result


RULES = {
    "lost_message": lost_orders,
    "stuck": stuck_orders,
    "state_violation": state_violations,
    "sla_breach": sla_breaches,
    "anomaly": slow_operations,
}


# Kinds whose facts come from the order's journey, read once when the alert opens.
DESCRIBED_KINDS = frozenset({"lost_message", "state_violation"})
MAX_DESCRIBED = 20  # violations or messages kept in an alert's facts


def describe_order(finding: Finding, at: Situation) -> None:
    """Adds what the alert text needs from the order's journey (read once, when the alert
    opens): the message that was never consumed and who should have consumed it, or the
    violations with the containers involved."""
    if finding.kind not in DESCRIBED_KINDS:
        return
    config = at.config
    try:
        judged = judge_states(at.source, finding.order_id, config, now_policy(at.now_ns))
    except SourceError:
        return  # the text then says less; the alert itself stands
    journey, conformance = judged.journey, judged.conformance
    if finding.kind == "state_violation":
        finding.facts["violations"] = [
            {
                "kind": v.kind,
                "state": v.state,
                "previous": v.previous,
                "container": v.container,
                "other": v.other,
            }
            for v in conformance.violations[:MAX_DESCRIBED]
        ]
        return
    spans = {(s.trace_id, s.span_id): s for s in journey.spans}
    messages = []
    for message in conformance.unconsumed[:MAX_DESCRIBED]:
        span = spans.get((message.trace_id, message.span_id))
        queue = config.mapping.peer_element(span) if span is not None else None
        messages.append(
            {
                "destination": message.destination,
                "producer": message.container,
                "at_ns": message.at_ns,
                "trace_id": message.trace_id,
                "consumers": consumers_of(config, queue, message.container),
            }
        )
    finding.facts["messages"] = messages


def consumers_of(config: Configuration, queue: str | None, producer: str) -> list[str]:
    """The containers the model says the queue delivers to, other than the producer."""
    if queue is None:
        return []
    found: Iterable[str] = (
        r.target if r.source == queue else r.source
        for r in config.model.relationships
        if r.source == queue or (r.bidirectional and r.target == queue)
    )
    return [c for c in dict.fromkeys(found) if c not in (producer, queue)]
