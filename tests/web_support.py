"""Hand-made traces for the web tests: a wide and deep trace, and stored orders."""

from __future__ import annotations

from explorer.traces.model import Event, Resource, SpanKind, StatusCode, Trace
from tests.trace_support import make_span, span_factory

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
        make_span(
            "s0",
            trace_id=trace_id,
            name=evil_name or "POST /api/orders",
            kind=SpanKind.SERVER,
            start_ns=T0,
            end_ns=T0 + 100_000_000,
            resource=SHOP,
            attributes={
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
                    make_span(
                        span_id,
                        parent,
                        trace_id=trace_id,
                        name=f"step {level}.{k}",
                        start_ns=start,
                        end_ns=start + 500_000,
                        resource=MES if level % 2 else SHOP,
                        attributes={"level": level},
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
        make_span(
            f"c{i}",
            f"c{i - 1}" if i else None,
            trace_id=trace_id,
            name=f"level {i}",
            start_ns=T0 + i,
            end_ns=T0 + 2 * length - i,
            resource=SHOP,
        )
        for i in range(length)
    ]
    return Trace(trace_id, spans)


def price_trace(trace_id: str, ms: int, cached: bool = False) -> Trace:
    """mes-api calculating a price in `ms` ms after reading the model for 1 ms, and with a
    1 ns cache lookup when `cached`: traces of one root operation for the comparisons."""
    span = span_factory(T0, trace_id=trace_id, resource=MES)  # ns after T0
    spans = [
        span("r", None, 0, ms * 10**6, name="calculate price", kind=SpanKind.CONSUMER),
        span("m", "r", 0, 10**6, name="GET model", kind=SpanKind.CLIENT),
    ]
    if cached:
        spans.append(span("c", "r", 0, 1, name="GET cache", kind=SpanKind.CLIENT))
    return Trace(trace_id, spans)


def detailed_svg(body: str) -> str:
    """The detailed diagram of an order page (the overview comes first)."""
    start = body.index("<svg", body.index('id="journey-figure"'))
    return body[start : body.index("</svg>", start) + 6]


def overview_svg(body: str) -> str:
    """The overview the order page opens on."""
    start = body.index("<svg", body.index('id="journey-overview"'))
    return body[start : body.index("</svg>", start) + 6]
