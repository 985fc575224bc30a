"""THE one door: how pages, tours, alerts, commands, the receiver and the live worker judge an
order. They call these functions and nothing below them (the import-linter contract
`orders-service-is-the-door` forbids them the modules that judge: explorer.journeys.assembly,
checking, reporting and bulk, and explorer.orders.status).

- now_in() / now_policy(): "now", the moment dwell times are judged at: an explicit time, or the
  end of the newest trace in the source, or (an empty source) the newest span judged. Never
  the wall clock, so that results depend on the data only (explorer.journeys.now), with the
  configured clock tolerance (EXPLORER_CLOCK_TOLERANCE_SECONDS);
- judge_order(): the full report of one order (states, SLA, anomalies, comparison, story),
  judged against the stored reference of `orders --refresh` when it serves;
- judge_orders(): reports of every order (or some), judged together (`orders`);
- order_lookup() / query_traces(): a query's traces, its order conditions (`order.status =
  stuck`) answered from the rows;
- judge_states() / judge_states_of_orders(): an order's journey and state conformance only
  (tours, alerts, the customer page), cheap: no baseline, no typical journeys;
- judge_snapshot(): the order-status rows and the reference for the snapshot
  (`orders --refresh`); judge_rows() / judge_reference(): the same for a few orders and the
  reference alone (the live worker, explorer.orders.live).

Naming (docs/journeys.md#names): this level judges ("judge_*"); the framework-free level
below reports ("report_*", explorer.journeys.reporting); the status rows are computed
("compute_*", explorer.orders.status); the live worker refreshes what is stored
("refresh_*", explorer.orders.live).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from explorer.configuration import Configuration
from explorer.journeys.anomalies import Baseline
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.checking import check_states
from explorer.journeys.conformance import Conformance
from explorer.journeys.journey import Journey, Window, container_named
from explorer.journeys.now import Now
from explorer.journeys.report import BaselineOf, JourneyReport, Reference
from explorer.journeys.reporting import reference_at, report_journey, report_orders
from explorer.journeys.state_graph import Sla, StateGraph
from explorer.journeys.story import NamesByLanguage
from explorer.journeys.typical import Call, OrderSample
from explorer.orders.lookup import StatusRowOrders
from explorer.orders.models import stored_references
from explorer.orders.samples import current_samples
from explorer.orders.status import (
    OrderStatusRow,
    Snapshot,
    compute_rows,
    compute_snapshot,
    customer_types,
)
from explorer.query.nodes import Query, order_conditions
from explorer.sources.base import KeepsHourlyOperations, TraceSource
from explorer.sources.querying import QueryResult, QueryRun, run_query
from explorer.store import hourly_operations, hourly_report
from explorer.traces.model import Span, Trace

EVERYTHING: Window = (None, None)
__all__ = [
    "JudgedStates",
    "JudgingConfig",
    "judge_order",
    "judge_orders",
    "judge_reference",
    "judge_rows",
    "judge_snapshot",
    "judge_states",
    "judge_states_of_orders",
    "now_in",
    "now_policy",
    "order_lookup",
    "query_traces",
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
    def names_by_language(self) -> NamesByLanguage:
        """The names in each language, for the story (told in all of them at once)."""
        ...

    def container_of(self, span: Span) -> str: ...

    def calls_of(self, traces: Sequence[Trace]) -> set[Call]: ...


def now_policy(at_ns: int | None = None) -> Now:
    """The "now" policy: `at_ns` when given, else the newest trace (with the configured clock
    tolerance for sources that see no arrivals), else the newest span judged."""
    return Now(at_ns, settings.EXPLORER_CLOCK_TOLERANCE_SECONDS)


def now_in(
    source: TraceSource, at_ns: int | None = None, window: Window = EVERYTHING
) -> int | None:
    """ "Now" in a source: `at_ns` when given, else the end of its newest trace (in the
    window) whose clock was not ahead; None for an empty source."""
    return now_policy(at_ns).in_source(source, window)


def order_lookup(
    source: TraceSource,
    config: JudgingConfig,
    at_ns: int | None = None,
    seen: Callable[[str, object], object] | None = None,
) -> StatusRowOrders:
    """The order conditions of queries (explorer.sources.querying.OrderLookup), answered from
    the order-status rows at "now" (now_in); `seen`: the viewer's redaction of a fact."""
    return StatusRowOrders(source, config, now_in(source, at_ns) or 0, seen)


def query_traces(
    source: TraceSource,
    config: JudgingConfig,
    query: Query,
    run: QueryRun,
    seen: Callable[[str, object], object] | None = None,
) -> QueryResult:
    """A query's traces (explorer.sources.querying), its order conditions answered by
    order_lookup(): what `manage.py query` and the query page both run."""
    needs_orders = bool(order_conditions(query.expression))
    orders = order_lookup(source, config, None, seen) if needs_orders else None
    return run_query(source, query, run, orders)


@dataclass(slots=True)
class JudgedStates:
    """An order's journey and its conformance to the state graph at "now"."""

    order_id: str
    journey: Journey
    conformance: Conformance


def figures_baseline(source: TraceSource, config: JudgingConfig) -> BaselineOf | None:
    """The latency baseline of a window from the source's hourly figures (every span of the
    window's whole hours, no trace read; docs/journeys.md#baselines-from-the-hourly-figures),
    or None when the source keeps none. Containers are named as the configuration's
    container_of names them: the element the mapping gave the span's service when it was
    counted, else the service by the naming convention; a JudgingConfig of its own naming
    gets the baseline from traces (None)."""
    if not isinstance(source, KeepsHourlyOperations) or not isinstance(config, Configuration):
        return None
    counting = source

    def baseline_of(window: Window) -> Baseline | None:
        start, end = window
        counted_from = counting.operations_counted_from()
        if start is None or end is None or (counted_from is not None and counted_from > start):
            return None  # figures that do not cover the window
        _first, totals = hourly_operations.window(start, end)
        return hourly_report.journey_baseline(
            totals, lambda element, service: element or container_named(service)
        )

    return baseline_of


def judge_order(
    source: TraceSource,
    order_id: str,
    config: JudgingConfig,
    at: Now | None = None,
    *,
    window: Window = EVERYTHING,
    use_stored_reference: bool = True,
) -> JourneyReport:
    """One order's full report at `at` (default now_policy()). Judged against the reference
    `orders --refresh` stored when it serves at that "now", else one computed for it with the
    samples kept with the sampled orders' rows where still current (explorer.orders.samples;
    use_stored_reference=False: always computed from the source's traces)."""
    journey = journey_for_order(source, order_id, window, config.container_of)
    return report_journey(
        source,
        journey,
        config.graph,
        config.sla,
        config.container_of,
        (at or now_policy()).resolve(source, [journey], window),
        names=config.names_by_language,
        load_reference=stored_references(source.name) if use_stored_reference else None,
        calls_of=config.calls_of,
        baseline_of=figures_baseline(source, config),
        stored_samples=current_samples(source) if use_stored_reference else None,
    )


def judge_orders(
    source: TraceSource,
    config: JudgingConfig,
    at: Now | None = None,
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
        at or now_policy(),
        window,
        config.names_by_language,
        orders,
    )


def judge_states(
    source: TraceSource, order_id: str, config: JudgingConfig, at: Now | None = None
) -> JudgedStates:
    """One order's journey and state conformance (no anomalies, SLA or comparison)."""
    journey = journey_for_order(source, order_id, container_of=config.container_of)
    at_ns = (at or now_policy()).resolve(source, [journey])
    return JudgedStates(order_id, journey, check_states(journey, config.graph, at_ns))


def judge_states_of_orders(
    source: TraceSource, order_ids: Iterable[str], config: JudgingConfig, at: Now | None = None
) -> Iterator[JudgedStates]:
    """judge_states() of each order, in the order given, all judged at one "now" (of the
    source; 0 for an empty one)."""
    at_ns = (at or now_policy()).resolve(source)
    for order_id in order_ids:
        journey = journey_for_order(source, order_id, container_of=config.container_of)
        yield JudgedStates(order_id, journey, check_states(journey, config.graph, at_ns))


def judge_snapshot(
    source: TraceSource,
    config: JudgingConfig,
    at: Now | None = None,
    *,
    orders: list[str] | None = None,
    previous: Mapping[str, OrderSample] | None = None,
) -> Snapshot:
    """A status row per order (or per order of `orders`) and the reference at now, for the
    stored snapshot (see explorer.orders.status); nothing for an empty source."""
    at_ns = (at or now_policy()).in_source(source)
    if at_ns is None:
        return Snapshot([], None)
    return compute_snapshot(
        source,
        config.graph,
        config.container_of,
        at_ns,
        orders,
        previous,
        config.calls_of,
        figures_baseline(source, config),
    )


def judge_rows(
    source: TraceSource,
    config: JudgingConfig,
    order_ids: list[str],
    baseline: Baseline,
    now_ns: int,
) -> list[OrderStatusRow]:
    """The status rows of a few orders at now_ns, judged against `baseline` (the stored
    reference's), each journey read on its own: what the live worker stores again."""
    return compute_rows(
        source, config.graph, order_ids, baseline, now_ns, config.container_of, config.calls_of
    )


def judge_reference(
    source: TraceSource,
    config: JudgingConfig,
    now_ns: int,
    known: Mapping[str, OrderSample] | None = None,
) -> Reference:
    """The reference at now_ns (the latency baseline and typical-journey samples of every
    customer type of the week before), reusing the samples in `known` (by order id)."""
    return reference_at(
        source,
        config.graph,
        now_ns,
        customer_types(source, now_ns),
        config.container_of,
        known=known,
        calls_of=config.calls_of,
        baseline_of=figures_baseline(source, config),
    )
