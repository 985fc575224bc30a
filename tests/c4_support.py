"""Hand-made traces of the Alexandrite containers for the C4 mapping, drift and diagram tests."""

from explorer.traces.model import Event, SpanKind, Trace
from tests.trace_support import make_span, write_otlp

__all__ = ["MS", "TraceBuilder", "order_trace", "write_otlp"]

MS = 1_000_000


class TraceBuilder:
    """Spans of one trace, with services from the simulation's naming."""

    def __init__(self, trace_id="t1", start=1_000 * MS):
        self.trace = Trace(trace_id)
        self.start = start

    def span(self, service, name, kind, parent=None, at=0, ms=10, error=False, events=(), **attrs):
        s = make_span(
            f"{self.trace.trace_id}-{len(self.trace.spans)}",
            parent.span_id if parent else None,
            service,
            trace_id=self.trace.trace_id,
            name=name,
            kind=kind,
            start_ns=self.start + at * MS,
            end_ns=self.start + (at + ms) * MS,
            error=error,
            attributes=dict(attrs),
            events=list(events),
        )
        self.trace.spans.append(s)
        return s


def order_trace(trace_id="t1", start=1_000 * MS, order="A-100042"):
    """Shop -> Shop API -> Shop DB, RabbitMQ -> MES API, and an undocumented Shop API -> MES API."""
    b = TraceBuilder(trace_id, start)
    client = b.span(
        "internet-shop", "POST /api/orders", SpanKind.CLIENT, ms=200, **{"order.id": order}
    )
    server = b.span(
        "shop-api",
        "POST /api/orders",
        SpanKind.SERVER,
        client,
        at=1,
        ms=190,
        events=[Event("order.state_changed", start + 2 * MS, {"order.state.new": "INITIATED"})],
        **{"order.id": order},
    )
    b.span(
        "shop-api",
        "INSERT shop.orders",
        SpanKind.CLIENT,
        server,
        at=5,
        ms=5,
        **{"db.system": "postgresql", "db.name": "shop"},
    )  # old semantic-convention keys
    call = b.span("shop-api", "GET /api/price", SpanKind.CLIENT, server, at=20, ms=50, error=True)
    b.span("mes-api", "GET /api/price", SpanKind.SERVER, call, at=21, ms=45, error=True)
    publish = b.span(
        "shop-api",
        "orders publish",
        SpanKind.PRODUCER,
        server,
        at=80,
        ms=1,
        **{"messaging.system": "rabbitmq"},
    )
    b.span(
        "mes-api",
        "orders process",
        SpanKind.CONSUMER,
        publish,
        at=100,
        ms=20,
        **{"messaging.system": "rabbitmq", "order.id": order},
        events=[
            Event(
                "order.state_changed",
                start + 101 * MS,
                {"order.state.previous": "SUBMITTED", "order.state.new": "PRICE_CALCULATED"},
            )
        ],
    )
    b.span("billing", "charge", SpanKind.SERVER, at=150, ms=5)  # a service nobody mapped
    return b.trace
