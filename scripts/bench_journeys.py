"""Benchmark of order journeys (issue 5), see scripts/bench.py.

journey_ms_1m: assembling the journey of one order that spans 20 traces and 1,000 spans (found by
order.id and by span links) from a store holding 1,000,000 spans; the median of five runs after
a first, cold one (journey_ms_1m_cold). Target: journey_ms_1m <= 100. The store is topped up to
1,000,000 spans with generated orders of 10-span traces (other benchmarks may have filled part).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from explorer.journeys.assembly import journey_for_order
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace
from explorer.store.source import StoreSource
from explorer.traces.model import Event, Link, Resource, Span, SpanKind, Trace

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
TOTAL_SPANS = max(int(1_000_000 * SCALE), 2_000)
ORDER = "A-BENCH"
ORDER_TRACES = 20
ORDER_SPANS_PER_TRACE = 50
BACKGROUND_SPANS_PER_TRACE = 10
T0 = 1_741_000_000 * 10**9
MS = 10**6
RESOURCES = {
    name: Resource(name, {"service.name": name, "host.name": f"{name}-1"})
    for name in ("shop-api", "crm-api", "mes-api")
}


def log(message: str) -> None:
    print(f"bench_journeys: {message}", file=sys.stderr, flush=True)


def _trace(trace_no: int, order: str, spans: int, start: int, link: Span | None) -> Trace:
    """A SERVER root (a PRODUCER if it sends on) with database-like children."""
    trace_id = f"{trace_no:032x}"
    service = list(RESOURCES)[trace_no % 3]
    business = {
        "order.id": order,
        "customer.id": f"C-{trace_no % 5000:05d}",
        "customer.type": "retail",
    }
    root = Span(
        trace_id,
        f"{trace_no:08x}00000000",
        None,
        "POST /api/orders/{id}/step",
        SpanKind.CONSUMER if link else SpanKind.SERVER,
        start,
        start + spans * MS,
        RESOURCES[service],
        {**business, "http.route": "/api/orders/{id}/step"},
        events=[Event("order.state_changed", start + MS, {"order.state.new": "PRICE_CALCULATED"})],
        links=[Link(link.trace_id, link.span_id)] if link else [],
    )
    out = [root]
    for n in range(1, spans):
        out.append(
            Span(
                trace_id,
                f"{trace_no:08x}{n:08x}",
                root.span_id,
                "SELECT orders",
                SpanKind.CLIENT,
                start + n * MS,
                start + n * MS + MS // 2,
                RESOURCES[service],
                {
                    "db.system.name": "postgresql",
                    "db.query.text": "SELECT * FROM orders WHERE id=$1",
                },
            )
        )
    return Trace(trace_id, out)


def _order_traces() -> list[Trace]:
    """The benchmark order: 20 traces of 50 spans; every other trace is a consumer linked to
    the one before and carries no order.id, so it is found through the link only."""
    traces: list[Trace] = []
    for n in range(ORDER_TRACES):
        previous = traces[-1].spans[0] if n % 2 else None
        trace = _trace(10**9 + n, ORDER, ORDER_SPANS_PER_TRACE, T0 + n * 3600 * 10**9, previous)
        if previous is not None:
            for span in trace.spans:
                span.attributes.pop("order.id", None)
        traces.append(trace)
    return traces


def _background(spans: int) -> Iterator[Trace]:
    for n in range(spans // BACKGROUND_SPANS_PER_TRACE):
        yield _trace(n, f"A-{n // 8:07d}", BACKGROUND_SPANS_PER_TRACE, T0 + n * 10**9, None)


def measure(workdir: Path) -> dict:
    stored = sum(StoredTrace.objects.values_list("span_count", flat=True))
    order = _order_traces()
    background = max(TOTAL_SPANS - stored - sum(len(t.spans) for t in order), 0)
    log(f"store holds {stored} spans; adding {background} background spans and the order")
    started = time.perf_counter()
    report = store_traces(_background(background))
    report_order = store_traces(order)
    assert not report.rejected and not report_order.rejected
    log(f"stored in {time.perf_counter() - started:.1f} s")

    source = StoreSource()
    timings = []
    for _ in range(6):
        started = time.perf_counter()
        journey = journey_for_order(source, ORDER)
        timings.append((time.perf_counter() - started) * 1000)
    if len(journey.traces) != ORDER_TRACES or len(journey.spans) != 1000:
        raise AssertionError(
            f"the journey has {len(journey.traces)} traces and "
            f"{len(journey.spans)} spans, expected 20 and 1000"
        )
    return {
        "journey_ms_1m": round(statistics.median(timings[1:]), 1),
        "journey_ms_1m_cold": round(timings[0], 1),
    }
