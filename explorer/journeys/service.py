"""The one place that turns (trace source, order id, configuration, "now") into a judged journey.

Pages, commands, tours and alerts call these functions and nothing below them:

- judge_order(): the full report of one order (states, SLA, anomalies, comparison, story),
  judged against the stored reference of `orders --refresh` when it serves;
- judge_orders(): reports of every order (or some), judged together (`orders`);
- order_states() / states_of_orders(): an order's journey and state conformance only (tours,
  the customer page), cheap: no baseline, no typical journeys;
- refresh_snapshot(): the order-status snapshot and its reference (`orders --refresh`).

"Now", the moment dwell times are judged at, is a Now policy: an explicit time, or the end of
the newest trace in the source, or (an empty source) the newest span judged. Never the wall
clock, so that results depend on the data only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from explorer.journeys.assembly import NEWEST_SPAN, Journey, Now, Window, journey_for_order
from explorer.journeys.conformance import Conformance, check_states
from explorer.journeys.models import stored_references
from explorer.journeys.report import (
    JourneyReport,
    report_for_journey,
    report_orders,
)
from explorer.journeys.state_graph import Sla, StateGraph
from explorer.journeys.status import Snapshot, order_snapshot
from explorer.journeys.typical import Call, OrderSample
from explorer.sources.base import TraceSource
from explorer.traces.model import Span, Trace

EVERYTHING: Window = (None, None)
__all__ = [
    "NEWEST_SPAN",
    "JudgedStates",
    "JudgingConfig",
    "Now",
    "judge_order",
    "judge_orders",
    "order_states",
    "refresh_snapshot",
    "states_of_orders",
]


class JudgingConfig(Protocol):
    """What judging an order needs from the configuration (explorer.configuration.Configuration
    has it): the state graph, the SLA, container names, the span -> container mapping, and the
    calls traces show on the C4 model (recorded in typical-journey samples)."""

    @property
    def graph(self) -> StateGraph: ...

    @property
    def sla(self) -> Sla | None: ...

    @property
    def names(self) -> Mapping[str, str]: ...

    @property
    def model_names(self) -> Mapping[str, str]: ...

    def container_of(self, span: Span) -> str: ...

    def calls_of(self, traces: Sequence[Trace]) -> set[Call]: ...


@dataclass(slots=True)
class JudgedStates:
    """An order's journey and its conformance to the state graph at "now"."""

    order_id: str
    journey: Journey
    conformance: Conformance


def judge_order(
    source: TraceSource,
    order_id: str,
    config: JudgingConfig,
    now: Now = NEWEST_SPAN,
    *,
    window: Window = EVERYTHING,
    use_stored_reference: bool = True,
) -> JourneyReport:
    """One order's full report. Judged against the reference `orders --refresh` stored when it
    serves at that "now" (use_stored_reference=False: always computed from the source)."""
    journey = journey_for_order(source, order_id, window, config.container_of)
    return report_for_journey(
        source,
        journey,
        config.graph,
        config.sla,
        config.container_of,
        now.resolve(source, [journey], window),
        names=config.model_names,  # the story is told in both languages at once
        load_reference=stored_references(source.name) if use_stored_reference else None,
        calls_of=config.calls_of,
    )


def judge_orders(
    source: TraceSource,
    config: JudgingConfig,
    now: Now = NEWEST_SPAN,
    *,
    window: Window = EVERYTHING,
    orders: Iterable[str] | None = None,
) -> list[JourneyReport]:
    """Reports of every order of the source (or of `orders`), judged together: one baseline
    over all their spans, the typical journeys of every customer type."""
    return report_orders(
        source,
        config.graph,
        config.sla,
        config.container_of,
        now.at_ns,
        window,
        config.names,
        orders,
    )


def order_states(
    source: TraceSource, order_id: str, config: JudgingConfig, now: Now = NEWEST_SPAN
) -> JudgedStates:
    """One order's journey and state conformance (no anomalies, SLA or comparison)."""
    journey = journey_for_order(source, order_id, container_of=config.container_of)
    return JudgedStates(
        order_id, journey, check_states(journey, config.graph, now.resolve(source, [journey]))
    )


def states_of_orders(
    source: TraceSource, order_ids: Iterable[str], config: JudgingConfig, now: Now = NEWEST_SPAN
) -> Iterator[JudgedStates]:
    """order_states() of each order, in the order given, all judged at one "now" (of the
    source; 0 for an empty one)."""
    at = now.resolve(source)
    for order_id in order_ids:
        journey = journey_for_order(source, order_id, container_of=config.container_of)
        yield JudgedStates(order_id, journey, check_states(journey, config.graph, at))


def refresh_snapshot(
    source: TraceSource,
    config: JudgingConfig,
    now: Now = NEWEST_SPAN,
    *,
    orders: list[str] | None = None,
    previous: Mapping[str, OrderSample] | None = None,
) -> Snapshot:
    """A status row per order (or per order of `orders`) and the reference at now, for the
    stored snapshot (see explorer.journeys.status)."""
    return order_snapshot(
        source,
        config.graph,
        config.container_of,
        now.at_ns,
        orders,
        config.names,
        previous,
        config.calls_of,
    )
