"""What /metrics says (explorer/web/metrics.py; docs/grafana.md): the order-status snapshot,
the open alerts and the health the receiver and the live worker store, as Prometheus metric
families.

Everything is read from stored figures, never from traces, so a scrape costs a few small
queries: the snapshot's rows (counted in the database, their finished dwells read in one
pass), the open alerts, and the LiveMark rows the live worker and the receiver keep
(explorer/orders/live.py, explorer/receiver/tally.py). Label values come from the
configuration, never from an order or a customer id: states of the state graph, elements of
the C4 model, alert kinds, HTTP statuses; customer types are the one value from traces, so
only the MAX_CUSTOMER_TYPES most frequent are named and the others counted as OTHER. Help
texts are English, as Prometheus' conventions have them.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from django.db.models import Count, Min, TextField
from django.db.models.functions import Cast
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)

from explorer.alerts.models import Alert
from explorer.configuration import Configuration
from explorer.journeys.conformance import COMPLETE, IN_PROGRESS, LOST, STUCK
from explorer.orders.live import (
    CYCLE_DONE,
    CYCLE_SECONDS,
    WORKER_CYCLES,
    WORKER_ERRORS,
)
from explorer.orders.models import LiveMark, OrderArrival, OrderStatus
from explorer.receiver.tally import RECEIVER_MARKS, REQUEST_CODES

STATUSES = (COMPLETE, IN_PROGRESS, STUCK, LOST)
# Customer types named in labels, the most frequent first; the rest are OTHER.
MAX_CUSTOMER_TYPES = 20
OTHER = "other"  # a customer type past MAX_CUSTOMER_TYPES, a state or element not configured
NONE = "none"  # no customer type, no state recorded
# Upper bounds of the dwell histogram's buckets, seconds: minutes to a month.
MINUTE, HOUR, DAY = 60, 3600, 86400
DWELL_BUCKETS_S = (
    MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    4 * HOUR,
    8 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    3 * DAY,
    4 * DAY,
    5 * DAY,
    7 * DAY,
    10 * DAY,
    14 * DAY,
    30 * DAY,
)
DWELL_BUCKETS_NS = tuple(seconds * 10**9 for seconds in DWELL_BUCKETS_S)


@dataclass(slots=True)
class Labels:
    """The bounded label values of one scrape."""

    states: frozenset[str]
    elements: frozenset[str]
    customer_types: frozenset[str]

    def state(self, state: str | None) -> str:
        if not state:
            return NONE
        return state if state in self.states else OTHER

    def element(self, element: str | None) -> str:
        if not element:
            return NONE
        return element if element in self.elements else OTHER

    def customer_type(self, customer_type: str | None) -> str:
        if not customer_type:
            return NONE
        return customer_type if customer_type in self.customer_types else OTHER


def labels_for(config: Configuration) -> Labels:
    """The states and elements of the configuration, and the most frequent customer types."""
    counted = (
        OrderStatus.objects.exclude(customer_type="")
        .values_list("customer_type")
        .annotate(n=Count("id"))
        .order_by("-n", "customer_type")[:MAX_CUSTOMER_TYPES]
    )
    # OTHER and NONE stay what they say, even when a trace names a customer type so.
    named = {t for t, _ in counted} - {OTHER, NONE}
    return Labels(frozenset(config.graph.names), frozenset(config.names), frozenset(named))


def collect(config: Configuration, now_ns: int | None) -> Iterator[Metric]:
    """Every metric family of a scrape; `now_ns`: the moment stuck and lost are decided at
    (the orders service's now, None: no snapshot yet)."""
    labels = labels_for(config)
    yield from order_families(labels, now_ns)
    yield from step_families(config, labels, now_ns)
    yield alert_family(labels)
    yield from worker_families()
    yield from receiver_families()


# --- Orders -------------------------------------------------------------------------------


def _by_type(rows: Iterable[tuple[str, int]], labels: Labels) -> Counter:
    counts: Counter = Counter()
    for customer_type, n in rows:
        counts[labels.customer_type(customer_type)] += n
    return counts


def _grouped(queryset, *fields: str) -> list[tuple]:
    return list(queryset.values_list(*fields).annotate(n=Count("id")).order_by())


def order_families(labels: Labels, now_ns: int | None) -> Iterator[Metric]:
    orders = GaugeMetricFamily(
        "explorer_orders",
        "Orders in the order-status snapshot by status now (stuck and lost decided at the "
        "newest span time, as on the pages) and customer type.",
        labels=["status", "customer_type"],
    )
    where = {
        "stuck": GaugeMetricFamily(
            "explorer_orders_stuck",
            "Orders stuck now (their current state held past its limit), by that state.",
            labels=["state", "customer_type"],
        ),
        "lost": GaugeMetricFamily(
            "explorer_orders_lost",
            "Orders lost now (a message about them never consumed), by their current state.",
            labels=["state", "customer_type"],
        ),
    }
    anomalous = GaugeMetricFamily(
        "explorer_orders_anomalous",
        "Orders in the snapshot with atypically slow operations, by customer type.",
        labels=["customer_type"],
    )
    if now_ns is not None:
        for status in STATUSES:
            by_state = _status_counts(status, now_ns, labels)
            by_type: Counter = Counter()
            for (state, customer_type), n in sorted(by_state.items()):
                by_type[customer_type] += n
                if status in where:
                    where[status].add_metric([state, customer_type], n)
            for customer_type, n in sorted(by_type.items()):
                orders.add_metric([status, customer_type], n)
        rows = _grouped(OrderStatus.objects.anomalous(), "customer_type")
        for customer_type, n in sorted(_by_type(rows, labels).items()):
            anomalous.add_metric([customer_type], n)
    yield orders
    yield from where.values()
    yield anomalous
    as_of = GaugeMetricFamily(
        "explorer_orders_now_timestamp_seconds",
        "The newest span time the order figures are decided at (the explorer's now).",
    )
    if now_ns is not None:
        as_of.add_metric([], now_ns / 1e9)
    yield as_of


def _status_counts(status: str, now_ns: int, labels: Labels) -> Counter:
    """(state, customer type) -> the orders of the status at now_ns, one query."""
    counts: Counter = Counter()
    found = OrderStatus.objects.with_status_at(status, now_ns)
    for state, customer_type, n in _grouped(found, "state", "customer_type"):
        counts[labels.state(state), labels.customer_type(customer_type)] += n
    return counts


# --- Order steps --------------------------------------------------------------------------


@dataclass(slots=True)
class _Dwells:
    """Finished dwells of one (state, customer type): bucket counts and the sum."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(DWELL_BUCKETS_NS) + 1))
    ns: int = 0
    over_limit: int = 0

    def add(self, other: _Dwells) -> None:
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.ns += other.ns
        self.over_limit += other.over_limit


def stored_dwells(limits: dict[str, int | None]) -> dict[tuple[str, str], _Dwells]:
    """(state, customer type) as stored -> the snapshot's finished dwells, read in one pass.
    The JSON is read as text and parsed by orjson: Django's own parsing of the column was
    most of a scrape's time (5,000 orders). A row damaged by hand is passed over."""
    found: dict[tuple[str, str], _Dwells] = {}
    rows = OrderStatus.objects.values_list("customer_type", Cast("finished_dwells", TextField()))
    for customer_type, text in rows.iterator(chunk_size=2000):
        try:
            for state, ns in orjson.loads(text or "[]"):
                key = (state, customer_type)
                dwells = found.get(key)
                if dwells is None:
                    dwells = found[key] = _Dwells()
                dwells.buckets[bisect_left(DWELL_BUCKETS_NS, ns)] += 1
                dwells.ns += ns
                limit = limits.get(state)
                if limit is not None and ns > limit:
                    dwells.over_limit += 1
        except (orjson.JSONDecodeError, TypeError, ValueError):
            continue
    return found


def step_families(config: Configuration, labels: Labels, now_ns: int | None) -> Iterator[Metric]:
    """The dwell histograms of every state the snapshot's orders left, and the breaches of
    each state's limit: the finished dwells over it, and the orders stuck in it now."""
    limits = {state: config.graph.limit_ns(state) for state in labels.states}
    dwells: dict[tuple[str, str], _Dwells] = defaultdict(_Dwells)
    for (state, customer_type), found in stored_dwells(limits).items():
        dwells[labels.state(state), labels.customer_type(customer_type)].add(found)
    histogram = GaugeHistogramMetricFamily(
        "explorer_order_step_dwell_seconds",
        "How long the snapshot's orders stayed in each state they have left (finished "
        "dwells), by state and customer type.",
        labels=["state", "customer_type"],
    )
    breaches: Counter = Counter()
    for (state, kind), found in sorted(dwells.items()):
        cumulative, buckets = 0, []
        for bound, n in zip((*DWELL_BUCKETS_S, None), found.buckets, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound is None else str(float(bound)), cumulative))
        histogram.add_metric([state, kind], buckets, found.ns / 1e9)
        if found.over_limit:
            breaches[state, kind] += found.over_limit
    if now_ns is not None:
        stuck = _grouped(OrderStatus.objects.stuck_at(now_ns), "state", "customer_type")
        for state, customer_type, n in stuck:
            breaches[labels.state(state), labels.customer_type(customer_type)] += n
    yield histogram
    yield _breach_family(breaches)
    yield _limit_family(limits)


def _breach_family(breaches: Counter) -> Metric:
    family = GaugeMetricFamily(
        "explorer_order_step_sla_breaches",
        "Breaches of a state's time limit in the snapshot: orders that stayed in the state "
        "longer than its limit, and the orders stuck in it now, by state and customer type.",
        labels=["state", "customer_type"],
    )
    for key, n in sorted(breaches.items()):
        family.add_metric(list(key), n)
    return family


def _limit_family(limits: dict[str, int | None]) -> Metric:
    family = GaugeMetricFamily(
        "explorer_order_step_limit_seconds",
        "How long an order may stay in each state of the state graph before it is stuck.",
        labels=["state"],
    )
    for state, limit in sorted(limits.items()):
        if limit is not None:
            family.add_metric([state], limit / 1e9)
    return family


# --- Alerts -------------------------------------------------------------------------------


def alert_family(labels: Labels) -> Metric:
    family = GaugeMetricFamily(
        "explorer_alerts_open",
        "Open alerts (not resolved) by kind and the C4 element they are about.",
        labels=["kind", "container"],
    )
    counts: Counter = Counter()
    for kind, container, n in _grouped(Alert.objects.open(), "kind", "container"):
        counts[kind, labels.element(container)] += n
    for key, n in sorted(counts.items()):
        family.add_metric(list(key), n)
    return family


# --- The live worker and the receiver -----------------------------------------------------


def _marks(names: Iterable[str]) -> dict[str, int]:
    return dict(LiveMark.objects.filter(name__in=list(names)).values_list("name", "value_ns"))


def worker_families() -> Iterator[Metric]:
    marks = _marks((CYCLE_DONE, CYCLE_SECONDS, WORKER_CYCLES, WORKER_ERRORS))
    yield CounterMetricFamily(
        "explorer_live_cycles",
        "Cycles the live workers completed.",
        value=marks.get(WORKER_CYCLES, 0),
    )
    yield CounterMetricFamily(
        "explorer_live_errors",
        "Errors the live workers counted (failed cycles, orders and steps).",
        value=marks.get(WORKER_ERRORS, 0),
    )
    last = GaugeMetricFamily(
        "explorer_live_last_cycle_timestamp_seconds",
        "When a live worker last completed a cycle (wall clock).",
    )
    took = GaugeMetricFamily(
        "explorer_live_cycle_seconds", "How long the last completed cycle of a live worker took."
    )
    if CYCLE_DONE in marks:
        last.add_metric([], marks[CYCLE_DONE] / 1e9)
    if CYCLE_SECONDS in marks:
        took.add_metric([], marks[CYCLE_SECONDS] / 1e9)
    yield last
    yield took
    pending = OrderArrival.objects.filter(pending=True).aggregate(
        n=Count("id"), oldest=Min("arrived_ns")
    )
    yield GaugeMetricFamily(
        "explorer_live_pending_orders",
        "Orders whose spans arrived but whose status the live worker has not computed again.",
        value=pending["n"],
    )
    oldest = pending["oldest"]
    yield GaugeMetricFamily(
        "explorer_live_lag_seconds",
        "How long the oldest pending order has waited for the live worker (0: none waits).",
        value=max(time.time_ns() - oldest, 0) / 1e9 if oldest is not None else 0.0,
    )


def receiver_families() -> Iterator[Metric]:
    marks = _marks(RECEIVER_MARKS.values())
    yield CounterMetricFamily(
        "explorer_receiver_spans_accepted",
        "Spans the OTLP receivers accepted and stored.",
        value=marks.get(RECEIVER_MARKS["accepted"], 0),
    )
    yield CounterMetricFamily(
        "explorer_receiver_spans_rejected",
        "Spans the OTLP receivers rejected in requests they answered 200 (partial success).",
        value=marks.get(RECEIVER_MARKS["rejected"], 0),
    )
    requests = CounterMetricFamily(
        "explorer_receiver_requests",
        "Export requests the OTLP receivers answered, by HTTP status (other: any status not "
        "listed).",
        labels=["code"],
    )
    for code in REQUEST_CODES:
        requests.add_metric([code], marks.get(RECEIVER_MARKS[code], 0))
    yield requests
    last = GaugeMetricFamily(
        "explorer_receiver_last_request_timestamp_seconds",
        "When an OTLP receiver last answered an export request (wall clock).",
    )
    if RECEIVER_MARKS["last"] in marks:
        last.add_metric([], marks[RECEIVER_MARKS["last"]] / 1e9)
    yield last
