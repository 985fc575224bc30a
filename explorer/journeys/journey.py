"""The journey of one order, as assembly (explorer.journeys.assembly) builds it: the spans of
every trace that works for the order, merged into a timeline of steps.

The types only, and what is read straight off them, so that pages and tours can hold a
journey without the judging modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from explorer.traces.model import Span, SpanKind, Trace

# Maps the span to the C4 element id of the container it ran in.
ContainerOf = Callable[[Span], str]
Window = tuple[int | None, int | None]


def service_container(span: Span) -> str:
    """The container of a span by the project's naming convention (service `shop-api` runs in
    container `shop_api`); used where no C4 mapping is configured."""
    return container_named(span.service)


def container_named(service: str) -> str:
    """The container a service runs in by that naming convention (service_container)."""
    return service.replace("-", "_").replace(".", "_")


@dataclass(slots=True)
class Step:
    """One thing a container did for the order: a span of the timeline."""

    container: str
    operation: str
    kind: SpanKind
    start_ns: int
    duration_ns: int
    outcome: str  # "ok" | "error"
    trace_id: str
    span_id: str
    states: list[str] = field(default_factory=list)  # states this span set


@dataclass(slots=True)
class Journey:
    order_id: str
    customer_id: str | None = None
    customer_type: str | None = None
    traces: list[Trace] = field(default_factory=list)  # only traces with spans of this order
    spans: list[Span] = field(default_factory=list)  # spans of this order, in time order
    steps: list[Step] = field(default_factory=list)  # in time order
    containers: dict[tuple[str, str], str] = field(default_factory=dict)  # (trace, span) -> el.
    warnings: list[str] = field(default_factory=list)
    # (trace, span) of spans without order.id in traces that hold other orders' spans too
    shared: set[tuple[str, str]] = field(default_factory=set)

    def container(self, span: Span) -> str:
        return self.containers[(span.trace_id, span.span_id)]

    @property
    def trace_ids(self) -> list[str]:
        return [t.trace_id for t in self.traces]


# The channel an order came through, by the container of its first step.
CHANNELS = {"internet_shop": "shop", "shop_api": "shop", "mes_api": "partner_api"}


def channel_of(journey: Journey) -> str:
    """The channel an order came through: "shop" or "partner_api" (else its first container)."""
    entry = journey.steps[0].container if journey.steps else ""
    return CHANNELS.get(entry, entry)
