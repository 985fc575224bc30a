"""Hand-made traces of the Alexandrite containers for the C4 mapping, drift and diagram tests."""

import json

from explorer.traces.model import Event, Resource, Span, SpanKind, StatusCode, Trace

MS = 1_000_000


class TraceBuilder:
    """Spans of one trace, with services from the simulation's naming."""

    def __init__(self, trace_id="t1", start=1_000 * MS):
        self.trace = Trace(trace_id)
        self.start = start

    def span(self, service, name, kind, parent=None, at=0, ms=10, error=False, events=(),
             **attrs):
        s = Span(self.trace.trace_id, f"{self.trace.trace_id}-{len(self.trace.spans)}",
                 parent.span_id if parent else None, name, kind, self.start + at * MS,
                 self.start + (at + ms) * MS, Resource(service), dict(attrs), list(events),
                 status_code=StatusCode.ERROR if error else StatusCode.UNSET)
        self.trace.spans.append(s)
        return s


def order_trace(trace_id="t1", start=1_000 * MS, order="A-100042"):
    """Shop -> Shop API -> Shop DB, RabbitMQ -> MES API, and an undocumented Shop API -> MES API."""
    b = TraceBuilder(trace_id, start)
    client = b.span("internet-shop", "POST /api/orders", SpanKind.CLIENT, ms=200,
                    **{"order.id": order})
    server = b.span("shop-api", "POST /api/orders", SpanKind.SERVER, client, at=1, ms=190,
                    events=[Event("order.state_changed", start + 2 * MS,
                                  {"order.state.new": "INITIATED"})], **{"order.id": order})
    b.span("shop-api", "INSERT shop.orders", SpanKind.CLIENT, server, at=5, ms=5,
           **{"db.system": "postgresql", "db.name": "shop"})  # old semantic-convention keys
    call = b.span("shop-api", "GET /api/price", SpanKind.CLIENT, server, at=20, ms=50,
                  error=True)
    b.span("mes-api", "GET /api/price", SpanKind.SERVER, call, at=21, ms=45, error=True)
    publish = b.span("shop-api", "orders publish", SpanKind.PRODUCER, server, at=80, ms=1,
                     **{"messaging.system": "rabbitmq"})
    b.span("mes-api", "orders process", SpanKind.CONSUMER, publish, at=100, ms=20,
           **{"messaging.system": "rabbitmq", "order.id": order},
           events=[Event("order.state_changed", start + 101 * MS,
                         {"order.state.previous": "SUBMITTED",
                          "order.state.new": "PRICE_CALCULATED"})])
    b.span("billing", "charge", SpanKind.SERVER, at=150, ms=5)  # a service nobody mapped
    return b.trace


def write_otlp(path, traces):
    """Traces as OTLP JSON, the format the parsers read."""
    def value(v):
        return {"stringValue": str(v)}

    resource_spans = []
    for trace in traces:
        for span in trace.spans:
            resource_spans.append({
                "resource": {"attributes": [{"key": "service.name",
                                             "value": value(span.service)}]},
                "scopeSpans": [{"spans": [{
                    "traceId": (span.trace_id.encode().hex() * 8)[:32],
                    "spanId": (span.span_id.encode().hex() * 4)[-16:],
                    **({"parentSpanId": (span.parent_id.encode().hex() * 4)[-16:]}
                       if span.parent_id else {}),
                    "name": span.name, "kind": int(span.kind),
                    "startTimeUnixNano": str(span.start_ns), "endTimeUnixNano": str(span.end_ns),
                    "attributes": [{"key": k, "value": value(v)}
                                   for k, v in span.attributes.items()],
                    "events": [{"name": e.name, "timeUnixNano": str(e.time_ns),
                                "attributes": [{"key": k, "value": value(v)}
                                               for k, v in e.attributes.items()]}
                               for e in span.events],
                    "status": {"code": int(span.status_code)}}]}]})
    path.write_text(json.dumps({"resourceSpans": resource_spans}))
