"""The SLA, anomaly and drift pages from the hourly figures of the embedded store
(explorer.store.hourly_operations, explorer.store.hourly_report): every span of the window's
whole hours, no trace read but for a few examples of drift. Rows name containers by the C4
model's names in the page's language; breaches and atypical spans link to their trace and
order. explorer.web.analytics chooses between this and reading sampled traces.
"""

from __future__ import annotations

from collections import Counter

from explorer.c4.drift import Observed, drift_of
from explorer.c4.mapping import interactions
from explorer.configuration import Configuration
from explorer.journeys.report import BASELINE_WINDOW_NS
from explorer.sources.base import (
    KeepsHourlyOperations,
    KeepsHourlyTraffic,
    SourceError,
    TraceQuery,
)
from explorer.store import hourly_operations, hourly_report, hourly_series
from explorer.store.hourly_figures import HOUR_NS, Example
from explorer.store.hourly_operations import Operation
from explorer.web import common, trend_series
from explorer.web.common import shown
from explorer.web.pseudonyms import url_id

LIST_ROWS = 50
# Traces read, at most, to find an example of each call the model does not show.
DRIFT_EXAMPLE_TRACES = 20


def _traces_between(start: int, end: int) -> int:
    source = common.source()
    assert isinstance(source, KeepsHourlyOperations)  # analytics chose these pages for it
    return source.count_between(start, end)


def _counted_from(covered: int) -> int | None:
    """Where the figures begin when that is after the window's first hour (the receiver's
    index mode: the backend may hold older spans of the window, which were not counted)."""
    source = common.source()
    assert isinstance(source, KeepsHourlyOperations)
    counted_from = source.operations_counted_from()
    return counted_from if counted_from is not None and counted_from > covered else None


def traffic_counted_from(covered: int) -> int | None:
    """As _counted_from(), for the system map's figures (the map and drift pages)."""
    source = common.source()
    assert isinstance(source, KeepsHourlyTraffic)
    counted_from = source.traffic_counted_from()
    return counted_from if counted_from is not None and counted_from > covered else None


def _container_name(request, config: Configuration, operation: Operation) -> str:
    element, service = operation[0], operation[1]
    return config.names.get(element, element) if element else shown(request, service)


def _example(request, example: Example) -> dict:
    duration_ns, trace_id, span_id, order_id = example
    return {
        "duration_ms": duration_ns / 1e6,
        "trace_id": url_id(request, trace_id),
        "span_id": url_id(request, span_id),
        "order_id": url_id(request, order_id) if order_id else "",
    }


def sla(request, config: Configuration, start: int, end: int) -> dict:
    covered, totals, stored = hourly_series.window_and_rows(start, end, sketches=False)
    endpoints = hourly_report.sla_report(totals, config.sla_limit_ms)
    rows = []
    for name, (requests, within) in hourly_report.compliance(endpoints).items():
        operation = next(
            e.operation for e in endpoints if hourly_report.container(e.operation) == name
        )
        rows.append(
            {
                "container": name,
                "name": _container_name(request, config, operation),
                "requests": requests,
                "within": within,
                "fraction": within / requests if requests else 1.0,
            }
        )
    examples = sorted(
        ((example, e) for e in endpoints for example in e.examples),
        key=lambda pair: -(pair[0][0] / 1e6 / pair[1].limit_ms),
    )
    return {
        "covered_ns": covered,
        "rows": rows,
        "endpoints": [
            {
                "name": _container_name(request, config, e.operation),
                "service": shown(request, e.operation[1]),
                "endpoint": shown(request, e.operation[2]),
                "requests": e.requests,
                "over": e.over,
                "estimated": e.estimated,
                "limit_ms": e.limit_ms,
                "p50_ms": e.p50_ns / 1e6,
                "p95_ms": e.p95_ns / 1e6,
                "p99_ms": e.p99_ns / 1e6,
            }
            for e in endpoints
        ],
        "estimated": any(e.estimated for e in endpoints),
        "breach_count": sum(e.over for e in endpoints),
        "breaches": [
            {
                **_example(request, example),
                "name": _container_name(request, config, e.operation),
                "endpoint": shown(request, e.operation[2]),
                "limit_ms": e.limit_ms,
            }
            for example, e in examples[:LIST_ROWS]
        ],
        "trace_count": _traces_between(covered, end),
        "counted_from_ns": _counted_from(covered),
        "per_bucket": trend_series.sla_series(start, end, config.sla_limit_ms, stored),
    }


def anomalies(request, config: Configuration, start: int, end: int) -> dict:
    """Atypical containers and spans of the window, judged against baselines of the window or
    of the BASELINE_WINDOW_NS before its end, whichever is longer."""
    covered, totals, stored = hourly_series.window_and_rows(start, end)
    base_totals = totals
    if end - BASELINE_WINDOW_NS < covered:
        base_totals = hourly_operations.window(end - BASELINE_WINDOW_NS, end)[1]
    base = hourly_report.baselines(base_totals)
    found = hourly_report.anomalies(totals, base)
    spans = sorted(
        ((example, score, a) for a in found for example, score in a.examples),
        key=lambda item: (-item[1], item[0][1], item[0][2]),
    )
    return {
        "covered_ns": covered,
        "services": [
            {
                "name": config.names.get(c.container, shown(request, c.container)),
                "spans": c.spans,
                "judged": c.judged,
                "slow": c.slow,
                "slow_fraction": c.slow_fraction,
                "error_rate": c.error_rate,
                "baseline_error_rate": c.baseline_error_rate,
                "slow_reason": "slow" in c.reasons,
                "error_reason": "errors" in c.reasons,
            }
            for c in hourly_report.atypical_containers(totals, base)
        ],
        "operations": [
            {
                "name": _container_name(request, config, a.operation),
                "service": shown(request, a.operation[1]),
                "operation": shown(request, a.operation[2]),
                "spans": a.spans,
                "slow": a.slow,
                "median_ms": a.baseline.median_ns / 1e6,
            }
            for a in found
        ],
        "spans": [
            {
                **_example(request, example),
                "name": _container_name(request, config, a.operation),
                "service": shown(request, a.operation[1]),
                "operation": shown(request, a.operation[2]),
                "median_ms": a.baseline.median_ns / 1e6,
                "mad_ms": a.baseline.mad_ns / 1e6,
                "spread_ms": a.baseline.spread_ns / 1e6,
                "over_ms": (example[0] - a.baseline.median_ns) / 1e6,
                "score": score,
            }
            for example, score, a in spans[:LIST_ROWS]
        ],
        "trace_count": _traces_between(covered, end),
        "counted_from_ns": _counted_from(covered),
        "per_bucket": trend_series.anomaly_series(start, end, base, stored),
    }


def drift(request, config: Configuration, start: int, end: int, language: str) -> dict:
    """The drift report of every call and span of the window's whole hours: calls between
    elements from the system map's figures, unmapped services from the operations'."""
    covered = start - start % HOUR_NS
    seen = Observed()
    for pair, (calls, errors) in hourly_operations.pair_calls(start, end).items():
        if calls > 0:
            seen.pairs[pair] = {"count": calls, "errors": errors, "example": None}
    seen.unmapped = Counter(hourly_operations.unmapped_spans(start, end))
    report = drift_of(config.model, seen, language=language)
    for item in report["undocumented"][:LIST_ROWS]:
        item["example"] = _drift_example(config, item["source"], item["target"], covered, end)
    report["undocumented"] = report["undocumented"][:LIST_ROWS]
    counted = [f for f in (_counted_from(covered), traffic_counted_from(covered)) if f]
    return {
        "covered_ns": covered,
        "report": report,
        "trace_count": _traces_between(covered, end),
        "counted_from_ns": max(counted, default=None),
    }


def _drift_example(
    config: Configuration, source: str, target: str, start: int, end: int
) -> dict | None:
    """A call from `source` to `target` in the window: looked for in the newest traces of a
    service of `source` (at most DRIFT_EXAMPLE_TRACES)."""
    services = hourly_operations.services_of(source)
    store = common.source()
    for service in services:
        query = TraceQuery(service=service, start_ns=start, end_ns=end, limit=DRIFT_EXAMPLE_TRACES)
        for summary in store.search(query):
            try:
                trace = store.get_trace(summary.trace_id)
            except SourceError:
                continue
            for i in interactions(trace, config.mapping):
                if (i.source, i.target) == (source, target):
                    return {
                        "trace_id": trace.trace_id,
                        "span_id": i.span.span_id,
                        "name": i.span.name,
                    }
    return None
