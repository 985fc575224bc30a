"""Benchmark of the C4 diagrams (see scripts/bench.py).

diagram_ms_cold: first render of an annotated order journey on the default model (layout
included, caches empty); diagram_ms_warm: the same again (content-hash cache);
system_map_ms_100k: the system map over 100,000 generated spans (metrics and drawing).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.mapping import DEFAULT_MAPPING, load_mapping
from explorer.caching import reset_caches
from explorer.diagrams import render
from explorer.diagrams.overlay import overlay_from_traces, system_map
from explorer.traces.model import Event, Resource, Span, SpanKind, StatusCode, Trace

RESOURCES = {
    name: Resource(name, {"service.name": name})
    for name in ("internet-shop", "shop-api", "crm", "crm-api", "mes-api", "mes")
}


def _order_trace(rng: random.Random, n: int, start: int, order: str) -> Trace:
    """Browser -> Shop API -> Shop DB and RabbitMQ -> MES API -> MES DB, like the simulation."""
    tid = f"{n:032x}"
    spans, counter = [], iter(range(1, 100))

    def span(parent, resource, name, kind, offset, duration, **attrs):
        s = Span(
            tid,
            f"{n:08x}{next(counter):08x}",
            parent.span_id if parent else None,
            name,
            kind,
            start + offset,
            start + offset + duration,
            RESOURCES[resource],
            {"order.id": order, **attrs},
        )
        spans.append(s)
        return s

    ms = 1_000_000
    call = span(None, "internet-shop", "POST /api/orders", SpanKind.CLIENT, 0, 90 * ms)
    server = span(
        call,
        "shop-api",
        "POST /api/orders",
        SpanKind.SERVER,
        2 * ms,
        rng.randint(40, 700) * ms,
        **{"http.response.status_code": 201},
    )
    server.events.append(
        Event("order.state_changed", server.start_ns + ms, {"order.state.new": "INITIATED"})
    )
    if rng.random() < 0.05:
        server.status_code = StatusCode.ERROR
    span(
        server,
        "shop-api",
        "INSERT shop.orders",
        SpanKind.CLIENT,
        5 * ms,
        8 * ms,
        **{"db.system.name": "postgresql", "db.namespace": "shop"},
    )
    publish = span(
        server,
        "shop-api",
        "orders publish",
        SpanKind.PRODUCER,
        20 * ms,
        ms,
        **{"messaging.system": "rabbitmq", "messaging.destination.name": "orders"},
    )
    consume = span(
        publish,
        "mes-api",
        "orders process",
        SpanKind.CONSUMER,
        40 * ms,
        30 * ms,
        **{"messaging.system": "rabbitmq", "messaging.destination.name": "orders"},
    )
    consume.events.append(
        Event(
            "order.state_changed",
            consume.start_ns + ms,
            {"order.state.previous": "SUBMITTED", "order.state.new": "PRICE_CALCULATED"},
        )
    )
    span(
        consume,
        "mes-api",
        "UPDATE mes.orders",
        SpanKind.CLIENT,
        45 * ms,
        5 * ms,
        **{"db.system.name": "postgresql", "db.namespace": "mes"},
    )
    return Trace(tid, spans)


def measure(workdir: Path) -> dict:
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    rng = random.Random(4)
    model = load_model(DEFAULT_MODEL)
    mapping = load_mapping(DEFAULT_MAPPING, model)
    journey = [_order_trace(rng, n, n * 60_000_000_000, "A-100042") for n in range(6)]
    overlay = overlay_from_traces(journey, model, mapping, title="Order A-100042")
    reset_caches()  # a cold drawing: no layout, no SVG kept
    t0 = time.perf_counter()
    render.render_svg(model, overlay)
    cold = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    render.render_svg(model, overlay)
    warm = (time.perf_counter() - t0) * 1000

    per_trace = len(journey[0].spans)
    traces = [
        _order_trace(rng, n, n * 10_000_000, f"A-{n:06d}")
        for n in range(int(100_000 * scale) // per_trace)
    ]
    t0 = time.perf_counter()
    render.render_svg(model, system_map(traces, mapping))
    system = (time.perf_counter() - t0) * 1000
    return {
        "diagram_ms_cold": round(cold, 1),
        "diagram_ms_warm": round(warm, 3),
        "system_map_ms_100k": round(system, 1),
    }


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(measure(Path(folder))))
