"""Hand-made traces for the web tests: a wide and deep trace, and stored orders."""

from __future__ import annotations

from explorer.traces.model import Event, Resource, Span, SpanKind, StatusCode, Trace

S = 10**9
T0 = 1_740_000_000 * S
SHOP = Resource("shop-api", {"service.name": "shop-api", "host.name": "shop-1"})
MES = Resource("mes-api", {"service.name": "mes-api"})


def tree_trace(
    trace_id: str = "ab" * 16, fanout: int = 3, depth: int = 4, evil_name: str = ""
) -> Trace:
    """A complete tree: root, `fanout` children per span down to `depth` levels (121 spans
    for 3 x 4), 1 ms per level; the last leaf fails; one span carries a customer id."""
    spans = [
        Span(
            trace_id,
            "s0",
            None,
            evil_name or "POST /api/orders",
            SpanKind.SERVER,
            T0,
            T0 + 100_000_000,
            SHOP,
            {
                "order.id": "A-100001",
                "customer.id": "C-00123",
                "customer.type": "retail",
                "http.request.header.authorization": "Bearer abc.def",
            },
            events=[Event("order.state_changed", T0 + 1000, {"order.state.new": "INITIATED"})],
        )
    ]
    frontier = ["s0"]
    counter = 1
    for level in range(1, depth + 1):
        next_frontier = []
        for parent in frontier:
            for k in range(fanout):
                span_id = f"s{counter}"
                start = T0 + level * 1_000_000 + k * 10_000
                spans.append(
                    Span(
                        trace_id,
                        span_id,
                        parent,
                        f"step {level}.{k}",
                        SpanKind.INTERNAL,
                        start,
                        start + 500_000,
                        MES if level % 2 else SHOP,
                        {"level": level},
                    )
                )
                next_frontier.append(span_id)
                counter += 1
        frontier = next_frontier
    spans[-1].status_code = StatusCode.ERROR
    spans[-1].status_message = "boom"
    return Trace(trace_id, spans)


def chain_trace(trace_id: str, length: int) -> Trace:
    """One span under another, `length` deep: no recursion may be used to order it."""
    spans = [
        Span(
            trace_id,
            f"c{i}",
            f"c{i - 1}" if i else None,
            f"level {i}",
            SpanKind.INTERNAL,
            T0 + i,
            T0 + 2 * length - i,
            SHOP,
        )
        for i in range(length)
    ]
    return Trace(trace_id, spans)
