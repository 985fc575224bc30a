"""Hand-built Alexandrite traces for the journey tests: one trace per step of an order.

For orders built by the dozen or step by step; an order that shows one behaviour is a file
in tests/scenarios/ (scenario_support)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from explorer.journeys.state_graph import load_sla, load_state_graph
from explorer.traces.model import Event, Link, Span, SpanKind, Trace
from tests.trace_support import make_span, resource

ALEXANDRITE = Path(__file__).resolve().parent.parent / "explorer" / "alexandrite"
GRAPH = load_state_graph(ALEXANDRITE / "states.json")
SLA = load_sla(ALEXANDRITE / "sla.json")

S = 10**9
T0 = 1_740_000_000 * S  # 2025-02-19T21:20:00Z


@dataclass
class OrderBuilder:
    """Builds the traces of one order; every call adds one trace, `at` is seconds after T0."""

    order_id: str
    customer_id: str = "C-00001"
    customer_type: str = "retail"
    traces: list[Trace] = field(default_factory=list)
    _counter: int = 0

    def _ids(self) -> tuple[str, str]:
        self._counter += 1
        return f"{self.order_id}-t{self._counter}", f"{self.order_id}-s{self._counter}"

    def business(self, with_order: bool = True) -> dict:
        if not with_order:
            return {}
        return {
            "order.id": self.order_id,
            "customer.id": self.customer_id,
            "customer.type": self.customer_type,
        }

    def state(
        self,
        service: str,
        name: str,
        at: float,
        new: str,
        previous: str | None,
        duration: float = 0.2,
        with_order: bool = True,
        error: bool = False,
        children: list[tuple[str, float]] = (),
    ) -> Trace:
        """A SERVER span that sets a state, with INTERNAL children (name, duration)."""
        trace_id, span_id = self._ids()
        start = T0 + int(at * S)
        attrs = {"order.state.new": new}
        if previous is not None:
            attrs["order.state.previous"] = previous
        root = make_span(
            span_id,
            trace_id=trace_id,
            name=name,
            kind=SpanKind.SERVER,
            start_ns=start,
            end_ns=start + int(duration * S),
            resource=resource(service),
            attributes=self.business(with_order),
            events=[Event("order.state_changed", start + int(duration * S / 2), attrs)],
            error=error,
        )
        spans = [root]
        for n, (child, child_duration) in enumerate(children):
            spans.append(
                make_span(
                    f"{span_id}-c{n}",
                    span_id,
                    trace_id=trace_id,
                    name=child,
                    start_ns=start + 1000,
                    end_ns=start + 1000 + int(child_duration * S),
                    resource=resource(service),
                    attributes=self.business(with_order),
                )
            )
        trace = Trace(trace_id, spans)
        self.traces.append(trace)
        return trace

    def produce(self, service: str, at: float, destination: str = "orders.submitted") -> Span:
        """A trace whose SERVER span sends a message; returns the PRODUCER span."""
        trace_id, span_id = self._ids()
        start = T0 + int(at * S)
        server = make_span(
            span_id,
            trace_id=trace_id,
            name="POST /api/orders/{id}/submit",
            kind=SpanKind.SERVER,
            start_ns=start,
            end_ns=start + S // 5,
            resource=resource(service),
            attributes=self.business(),
        )
        producer = make_span(
            span_id + "p",
            span_id,
            trace_id=trace_id,
            name=f"{destination} publish",
            kind=SpanKind.PRODUCER,
            start_ns=start + 1000,
            end_ns=start + 2000,
            resource=resource(service),
            attributes={
                **self.business(),
                "messaging.system": "rabbitmq",
                "messaging.destination.name": destination,
                "messaging.message.id": f"m-{span_id}",
            },
        )
        self.traces.append(Trace(trace_id, [server, producer]))
        return producer

    def consume(
        self,
        service: str,
        at: float,
        producer: Span,
        new: str,
        previous: str | None,
        with_order: bool = True,
        children: list[tuple[str, float]] = (),
    ) -> Trace:
        """A consumer trace linked to `producer` that sets a state."""
        trace_id, span_id = self._ids()
        start = T0 + int(at * S)
        attrs = {"order.state.new": new}
        if previous is not None:
            attrs["order.state.previous"] = previous
        end = start + int(max([0.05, *(d for _, d in children)]) * S) + 5000
        destination = producer.attributes["messaging.destination.name"]
        consumer = make_span(
            span_id,
            trace_id=trace_id,
            name=f"{destination} process",
            kind=SpanKind.CONSUMER,
            start_ns=start,
            end_ns=end,
            resource=resource(service),
            attributes=self.business(with_order),
            events=[Event("order.state_changed", end - 1000, attrs)],
            links=[Link(producer.trace_id, producer.span_id)],
        )
        spans = [consumer]
        for n, (child, child_duration) in enumerate(children):
            spans.append(
                make_span(
                    f"{span_id}-c{n}",
                    span_id,
                    trace_id=trace_id,
                    name=child,
                    start_ns=start + 1000,
                    end_ns=start + 1000 + int(child_duration * S),
                    resource=resource(service),
                    attributes=self.business(with_order),
                )
            )
        trace = Trace(trace_id, spans)
        self.traces.append(trace)
        return trace


HOUR = 3600
DAY = 86400
PRICE = "calculate price"


def complete_order(
    order_id: str,
    customer_type: str = "retail",
    offset: float = 0,
    price_seconds: float = 1.0,
    customer_id: str = "C-00001",
) -> OrderBuilder:
    """A shop order that goes through every state, as the simulation would record it."""
    b = OrderBuilder(order_id, customer_id, customer_type)
    b.state("shop-api", "POST /api/orders", offset, "INITIATED", None)
    b.state("shop-api", "PUT /api/orders/{id}/model", offset + 60, "FILE_UPLOADED", "INITIATED")
    producer = b.produce("shop-api", offset + 120)
    b.state(
        "shop-api", "POST /api/orders/{id}/submit", offset + 120.5, "SUBMITTED", "FILE_UPLOADED"
    )
    b.consume(
        "mes-api",
        offset + 121,
        producer,
        "PRICE_CALCULATED",
        "SUBMITTED",
        children=[(PRICE, price_seconds)],
    )
    b.state(
        "crm-api",
        "POST /api/orders/{id}/approve",
        offset + 2 * HOUR,
        "MANUFACTURING_APPROVED",
        "PRICE_CALCULATED",
    )
    b.state(
        "mes-api",
        "POST /api/orders/{id}/start",
        offset + DAY,
        "MANUFACTURING_STARTED",
        "MANUFACTURING_APPROVED",
    )
    b.state(
        "mes-api",
        "POST /api/orders/{id}/complete",
        offset + 2 * DAY,
        "MANUFACTURING_COMPLETED",
        "MANUFACTURING_STARTED",
    )
    b.state(
        "mes-api",
        "POST /api/orders/{id}/pack",
        offset + 2 * DAY + HOUR,
        "PACKAGING",
        "MANUFACTURING_COMPLETED",
    )
    b.state(
        "mes-api", "POST /api/orders/{id}/ship", offset + 2 * DAY + 2 * HOUR, "SHIPPED", "PACKAGING"
    )
    b.state("crm-api", "POST /api/carrier/deliveries", offset + 4 * DAY, "CLOSED", "SHIPPED")
    return b
