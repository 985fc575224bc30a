"""What the explorer says about an order: the JourneyReport, and the Reference one order is
judged against (the latency baseline and the samples of the typical journeys of the week
before "now"), with the baseline helpers over a window of traces.

explorer.journeys.reporting computes reports; `orders --refresh` stores a Reference
(explorer.orders.models) that a report uses when it is recent enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from explorer.journeys.anomalies import Anomaly, Baseline
from explorer.journeys.conformance import Conformance
from explorer.journeys.journey import ContainerOf, Journey, Window
from explorer.journeys.sla import SlaBreach, stage_report
from explorer.journeys.state_graph import Sla, StateGraph
from explorer.journeys.story import NamesByLanguage
from explorer.journeys.typical import Call, Difference, OrderSample, TypicalJourneys
from explorer.sources.base import ReadsTracesInBulk, SourceError, TraceQuery, TraceSource
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
    names: NamesByLanguage = field(default_factory=dict)  # for the story


def reference_window(now_ns: int) -> tuple[int, int]:
    """The week before now (now included): what an order is judged against."""
    return (now_ns - BASELINE_WINDOW_NS, now_ns + 1)


@dataclass(slots=True)
class Reference:
    """What one order is judged against: the latency baseline over the newest traces (up to
    BASELINE_MAX_TRACES; or over every span, from figures: BaselineOf) and samples of the
    newest orders of each customer type (up to TYPICAL_MAX_ORDERS + 1, newest first, so that
    any order has TYPICAL_MAX_ORDERS others) of reference_window(as_of_ns)."""

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
# The typical-journey samples stored for these orders that are still current (by order id;
# explorer.orders.samples: kept with each order's status row), the others left out.
StoredSamples = Callable[[list[str]], dict[str, OrderSample]]
# The latency baseline of a window from figures kept as spans arrived (the embedded store's
# hourly figures, explorer.orders.service.figures_baseline), or None where none cover the
# window: then it is computed from the window's traces (baseline_from_source).
BaselineOf = Callable[[Window], Baseline | None]


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
    # each violation said in every language, as the story says it (same order as the
    # conformance's violations; empty when the report was built without telling)
    violations_said: list[dict[str, str]] = field(default_factory=list)
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

    def violations_as_dicts(self) -> list[dict]:
        """Each violation with what the story says of it in every language ("said")."""
        violations = self.conformance.violations
        said = self.violations_said or [{} for _ in violations]
        return [{**v.as_dict(), "said": s} for v, s in zip(violations, said, strict=True)]

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
            "violations": self.violations_as_dicts(),
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


def window_baseline(
    source: TraceSource,
    container_of: ContainerOf,
    window: Window,
    baseline_of: BaselineOf | None = None,
) -> Baseline:
    """The window's baseline from `baseline_of` (figures) where it gives one, else from the
    newest traces of the window (baseline_from_source)."""
    found = baseline_of(window) if baseline_of is not None else None
    return found if found is not None else baseline_from_source(source, container_of, window)
