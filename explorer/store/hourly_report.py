"""SLA compliance, anomalies and baselines from the hourly figures of a window
(explorer.store.hourly_operations.window): the quantities explorer.journeys.sla and
explorer.journeys.anomalies compute over spans, here over every span of the window's whole
hours without reading a trace.

Counts (requests, errors, breaches) are exact. Percentiles, baselines (median and MAD) and the
number of atypically slow spans come from the latency sketches: durations within 1 %
(hourly_figures.RELATIVE_ACCURACY). Breaches are the ones counted at ingest against the limit
then in effect; for an endpoint whose limit changed since, they are estimated from the sketch
(`estimated`). Examples are the slowest spans of each hour (hourly_figures.EXAMPLES an hour):
every breach or atypical span of the window that is among them can be listed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from explorer.journeys.anomalies import (
    DEFAULT_THRESHOLD,
    MIN_SAMPLES,
    Baseline,
    OperationBaseline,
)
from explorer.store.hourly_figures import Example, Sketch
from explorer.store.hourly_operations import Operation, WindowFigures
from explorer.traces.model import SpanKind

Totals = dict[Operation, WindowFigures]


def container(operation: Operation) -> str:
    """What an operation runs in: its element, else its service (as pages name it)."""
    return operation[0] or operation[1]


@dataclass(slots=True)
class EndpointSla:
    """A SERVER operation with an SLA limit over a window."""

    operation: Operation
    limit_ms: float
    requests: int
    over: int
    estimated: bool  # the limit changed since the spans were counted: over is from the sketch
    p50_ns: float
    p95_ns: float
    p99_ns: float
    examples: list[Example]  # breaching spans, slowest first

    @property
    def within(self) -> int:
        return self.requests - self.over


def sla_report(totals: Totals, limit_ms: Callable[[str, str], float | None]) -> list[EndpointSla]:
    """Every endpoint that has a limit now (`limit_ms(element, endpoint)`), most breaches
    first."""
    out = []
    for operation, figures in totals.items():
        element, _service, name, kind = operation
        if kind != SpanKind.SERVER or not element or not figures.count:
            continue
        limit = limit_ms(element, name)
        if limit is None:
            continue
        estimated = figures.limits != {limit}
        over = figures.sketch.above(limit * 1e6) if estimated else figures.over_limit
        sketch = figures.sketch
        out.append(
            EndpointSla(
                operation,
                limit,
                figures.count,
                over,
                estimated,
                sketch.quantile_ns(0.5) or 0.0,
                sketch.quantile_ns(0.95) or 0.0,
                sketch.quantile_ns(0.99) or 0.0,
                [e for e in figures.examples() if e[0] / 1e6 > limit] if over else [],
            )
        )
    out.sort(key=lambda e: (-e.over, e.operation))
    return out


def compliance(endpoints: Iterable[EndpointSla]) -> dict[str, tuple[int, int]]:
    """Per container: requests with a limit, and those answered within it."""
    out: dict[str, tuple[int, int]] = {}
    for e in endpoints:
        requests, within = out.get(container(e.operation), (0, 0))
        out[container(e.operation)] = (requests + e.requests, within + e.within)
    return dict(sorted(out.items()))


def baselines(totals: Totals) -> dict[Operation, OperationBaseline]:
    """explorer.journeys.anomalies' baseline of each operation (median, MAD, error rate), from
    its sketch."""
    out = {}
    for operation, figures in totals.items():
        median = figures.sketch.quantile_ns(0.5)
        if median is None:
            continue
        out[operation] = OperationBaseline(
            container(operation),
            operation[2],
            figures.count,
            median,
            figures.sketch.mad_ns(median),
            figures.errors / figures.count,
        )
    return out


def journey_baseline(totals: Totals, container_of: Callable[[str, str], str]) -> Baseline:
    """explorer.journeys.anomalies' Baseline over the window's spans, as Baseline.from_spans
    keys them: per (container, operation), `container_of(element, service)` naming the
    container. The figures of an operation in one container (its services and span kinds)
    are added up; median and MAD from the summed sketch, within its relative error."""
    counts: dict[tuple[str, str], list[int]] = {}  # spans, errors
    sketches: dict[tuple[str, str], Sketch] = {}
    for (element, service, operation, _kind), figures in totals.items():
        key = (container_of(element, service), operation)
        found = counts.setdefault(key, [0, 0])
        found[0] += figures.count
        found[1] += figures.errors
        sketches.setdefault(key, Sketch()).merge(figures.sketch)
    stats = {}
    for key, (count, errors) in counts.items():
        median = sketches[key].quantile_ns(0.5)
        if median is None or not count:
            continue
        mad = sketches[key].mad_ns(median)
        stats[key] = OperationBaseline(key[0], key[1], count, median, mad, errors / count)
    return Baseline(stats)


@dataclass(slots=True)
class OperationAnomalies:
    """The atypically slow spans of an operation in a window: how many, and the slowest."""

    operation: Operation
    baseline: OperationBaseline
    spans: int
    slow: int
    examples: list[tuple[Example, float]]  # (span, score), highest score first


@dataclass(slots=True)
class AtypicalContainer:
    """A container that behaves unlike its baseline in the window (as
    explorer.journeys.anomalies.Baseline.atypical_services judges it)."""

    container: str
    spans: int
    judged: int
    slow: int
    errors: int
    baseline_error_rate: float
    reasons: list[str] = field(default_factory=list)  # "slow", "errors"

    @property
    def slow_fraction(self) -> float:
        return self.slow / self.judged if self.judged else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.spans if self.spans else 0.0


def anomalies(
    window: Totals,
    base: dict[Operation, OperationBaseline],
    threshold: float = DEFAULT_THRESHOLD,
) -> list[OperationAnomalies]:
    """Per operation judged (MIN_SAMPLES in its baseline), its spans above the threshold."""
    out = []
    for operation, figures in window.items():
        found = base.get(operation)
        if found is None or found.count < MIN_SAMPLES:
            continue
        limit_ns = found.median_ns + threshold * found.spread_ns
        slow = figures.sketch.above(limit_ns)
        if not slow:
            continue
        examples = [(e, found.score(e[0])) for e in figures.examples()]
        examples = [(e, score) for e, score in examples if score > threshold]
        out.append(OperationAnomalies(operation, found, figures.count, slow, examples))
    out.sort(key=lambda a: (-(a.examples[0][1] if a.examples else 0.0), a.operation))
    return out


def atypical_containers(
    window: Totals,
    base: dict[Operation, OperationBaseline],
    threshold: float = DEFAULT_THRESHOLD,
    min_spans: int = 5,
    slow_fraction: float = 0.2,
) -> list[AtypicalContainer]:
    """Containers whose spans are often atypically slow, or fail far more often than their
    baseline error rate (by more than three binomial standard deviations)."""
    rows: dict[str, AtypicalContainer] = {}
    expected: dict[str, float] = {}
    for operation, figures in window.items():
        name = container(operation)
        row = rows.setdefault(name, AtypicalContainer(name, 0, 0, 0, 0, 0.0))
        row.spans += figures.count
        row.errors += figures.errors
        found = base.get(operation)
        if found is not None and found.count >= MIN_SAMPLES:
            row.judged += figures.count
            row.slow += figures.sketch.above(found.median_ns + threshold * found.spread_ns)
            expected[name] = expected.get(name, 0.0) + figures.count * found.error_rate
    out = []
    for name, row in sorted(rows.items()):
        if row.spans < min_spans:
            continue
        if row.judged >= min_spans and row.slow_fraction > slow_fraction:
            row.reasons.append("slow")
        row.baseline_error_rate = expected.get(name, 0.0) / row.judged if row.judged else 0.0
        base_rate = row.baseline_error_rate
        margin = 3 * math.sqrt(max(base_rate * (1 - base_rate), 0.01) / row.spans)
        if row.errors and row.error_rate > base_rate + margin:
            row.reasons.append("errors")
        if row.reasons:
            out.append(row)
    return out
