"""Figures per order step over any window, counted exactly from the step rows kept with the
order-status snapshot (explorer.orders.models.OrderStep: one per finished dwell, and the
transition that ended it).

A step belongs to the window in which the order left the state (its transition's time).
Percentiles are exact: the duration at rank q * (n - 1), rounded down, of the window's
sorted durations (the rank the hourly latency sketches use). At Alexandrite's volume a
window holds at most some tens of thousands of steps, read as plain tuples in one query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from explorer.orders.models import OrderStatus, OrderStep
from explorer.store.hourly_series import bucket_of

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class StepFilter:
    """Which steps: those that ended in [start_ns, end_ns), of one customer type or all
    (None), of one state and next state (None: any), over their limit only or not."""

    start_ns: int
    end_ns: int
    customer_type: str | None = None
    state: str | None = None
    next_state: str | None = None
    over_limit: bool = False

    def steps(self) -> QuerySet[OrderStep]:
        wanted = {
            "customer_type": self.customer_type,
            "state": self.state,
            "next_state": self.next_state,
            "over_limit": self.over_limit or None,
        }
        return OrderStep.objects.filter(
            left_ns__gte=self.start_ns,
            left_ns__lt=self.end_ns,
            **{name: value for name, value in wanted.items() if value is not None},
        ).order_by()  # unsorted: the figures need no order (a list orders its own)


@dataclass(slots=True)
class Durations:
    """Durations of one group of steps (in ns) and how many were over their limit."""

    values: list[int] = field(default_factory=list)
    over_limit: int = 0

    @property
    def count(self) -> int:
        return len(self.values)

    def quantiles(self) -> dict[float, int | None]:
        """Exact values at QUANTILES (None: no step)."""
        ordered = sorted(self.values)
        return {q: exact_quantile(ordered, q) for q in QUANTILES}


def exact_quantile(ordered: list[int], quantile: float) -> int | None:
    """The value at rank quantile * (n - 1), rounded down, of sorted values."""
    if not ordered:
        return None
    return ordered[int(quantile * (len(ordered) - 1))]


@dataclass(slots=True)
class StepFigures:
    """The window's figures: per state left (dwell durations) and per transition (the time
    from the order's first state to it)."""

    states: dict[str, Durations]
    transitions: dict[tuple[str, str], Durations]

    @property
    def steps(self) -> int:
        return sum(d.count for d in self.states.values())


def figures(where: StepFilter) -> StepFigures:
    """Every step of the window counted once, in one query."""
    states: dict[str, Durations] = defaultdict(Durations)
    transitions: dict[tuple[str, str], Durations] = defaultdict(Durations)
    rows = where.steps().values_list(
        "state", "next_state", "duration_ns", "elapsed_ns", "over_limit"
    )
    for state, next_state, duration, elapsed, over in rows.iterator(chunk_size=5000):
        dwell = states[state]
        dwell.values.append(duration)
        dwell.over_limit += over
        transitions[state, next_state].values.append(elapsed)
    return StepFigures(dict(states), dict(transitions))


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket of a series: the steps that ended in [start_ns, end_ns)."""

    start_ns: int
    end_ns: int
    count: int
    over_limit: int
    quantiles: dict[float, int | None]


def series(where: StepFilter) -> list[Bucket]:
    """The steps of `where` per bucket: an hour, or a UTC day for windows longer than
    hourly_series allows hours (the buckets of the operations' charts), aligned as theirs;
    the first and last are cut at the window's ends. Every bucket, empty ones with count 0."""
    size = bucket_of(where.end_ns - where.start_ns)
    starts = range(where.start_ns - where.start_ns % size, where.end_ns, size)
    grouped: dict[int, Durations] = defaultdict(Durations)
    rows = where.steps().values_list("left_ns", "duration_ns", "over_limit")
    for left, duration, over in rows.iterator(chunk_size=5000):
        group = grouped[left - left % size]
        group.values.append(duration)
        group.over_limit += over
    buckets = []
    for start in starts:
        group = grouped.get(start, Durations())
        buckets.append(
            Bucket(
                max(start, where.start_ns),
                min(start + size, where.end_ns),
                group.count,
                group.over_limit,
                group.quantiles(),
            )
        )
    return buckets


def orders_without_steps() -> int:
    """Orders whose snapshot row has finished dwells but no step rows: rows stored before
    step figures existed (a full `orders --refresh` computes them)."""
    rows = OrderStatus.objects.exclude(finished_dwells=[]).filter(steps__isnull=True)
    return rows.count()


def customer_types() -> list[str]:
    """The customer types that have steps, for the pages' choice."""
    found = OrderStep.objects.order_by().values_list("customer_type", flat=True).distinct()
    return sorted(found)


def ordered_states(found: Iterable[str], declared: Iterable[str]) -> list[str]:
    """States in the graph's declared order, then the ones it does not know, by name."""
    found = set(found)
    known = [state for state in declared if state in found]
    return known + sorted(found - set(known))
