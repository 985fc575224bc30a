"""The typical journey of a customer type, and how one journey differs from it.

Built from many orders of the same type: per state the median dwell (finished stages only) and
how many orders passed through it; per (container, operation) how many orders ran it. One
journey is compared with the *other* orders of its type (its own contribution is taken out):
stages that took far longer than the typical one, states and operations most orders have but
this one lacks (only before where it is now), and ones few other orders have.

What a profile needs of one order is an OrderSample: a few states, durations and operations, so
the samples of a customer type can be stored (as_dict/from_dict) and the profile rebuilt from
them without assembling those orders again.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from explorer.journeys.conformance import COMPLETE, Conformance
from explorer.journeys.journey import Journey
from explorer.journeys.state_graph import StateGraph
from explorer.journeys.story import duration_words
from explorer.traces.model import Trace

SLOW_FACTOR = 3.0  # a stage is unusually slow beyond this multiple of the typical one
MIN_ORDERS = 5  # fewer other orders of the type and no comparison is made
USUAL_SHARE = 0.8  # present in at least this share of other orders: "missing" if absent
RARE_SHARE = 0.05  # present in at most this share of other orders: "extra"

Call = tuple[str, str]  # (source, target) elements of a call or message on the C4 model
# The calls and messages traces show, under the configured mapping (Configuration.calls_of).
CallsOf = Callable[[Sequence[Trace]], Iterable[Call]]


@dataclass(slots=True, frozen=True)
class Difference:
    kind: str  # "slow" | "missing" | "extra"
    subject: str  # a state, or "container: operation"
    detail: str  # in English; pages say it in their language from `sentence` and `facts`
    # Which sentence `detail` is ("slow_state", "usual_state", "rare_state",
    # "usual_operation", "rare_operation") and what it says: the web layer translates it.
    sentence: str = ""
    facts: Mapping[str, str | int | float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "detail": self.detail,
            "sentence": self.sentence,
            "facts": dict(self.facts),
        }


def _median_without(values: list[float], value: float | None) -> float:
    """Median of a sorted list with one occurrence of `value` taken out (if given)."""
    skip = bisect_left(values, value) if value is not None else len(values)
    n = len(values) - (value is not None)

    def at(k: int) -> float:
        return values[k] if k < skip else values[k + 1]

    return at(n // 2) if n % 2 else (at(n // 2 - 1) + at(n // 2)) / 2


def _share_facts(share: float, journey: Journey, **more: str) -> dict[str, str | int | float]:
    return {"share": share, "customer_type": journey.customer_type or "", **more}


def _times(factor: float) -> str:
    return f"{factor:.1f}" if factor < 10 else f"{factor:,.0f}"


@dataclass
class _TypeProfile:
    orders: int = 0
    dwell: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    states: Counter[str] = field(default_factory=Counter)
    operations: Counter[tuple[str, str]] = field(default_factory=Counter)
    complete_orders: int = 0
    complete_operations: Counter[tuple[str, str]] = field(default_factory=Counter)
    order_ids: list[str] = field(default_factory=list)  # the samples', in the order added
    calls: dict[str, frozenset[Call]] = field(default_factory=dict)  # where recorded


def _finished_dwells(conformance: Conformance) -> dict[str, int]:
    """First finished dwell per state (a repeated state counts once)."""
    result: dict[str, int] = {}
    for dwell in conformance.dwells:
        if not dwell.current:
            result.setdefault(dwell.state, dwell.duration_ns)
    return result


def _operations(journey: Journey) -> set[tuple[str, str]]:
    return {(s.container, s.operation) for s in journey.steps}


@dataclass(slots=True, frozen=True)
class OrderSample:
    """What the typical journey of its customer type takes from one order. None of it depends
    on "now": finished stages, states reached, operations run, and complete (a final state)."""

    order_id: str
    customer_type: str
    dwells: dict[str, int]  # state -> first finished dwell, ns
    states: frozenset[str]
    operations: frozenset[tuple[str, str]]  # (container, operation)
    complete: bool
    # What the order page draws the typical path from, kept so that it reads no sample's
    # traces; None: not recorded (taken without the mapping, or stored before it was kept).
    calls: frozenset[Call] | None = None

    @classmethod
    def of(
        cls, journey: Journey, conformance: Conformance, calls_of: CallsOf | None = None
    ) -> OrderSample:
        return cls(
            journey.order_id,
            journey.customer_type or "",
            _finished_dwells(conformance),
            frozenset(c.state for c in conformance.changes),
            frozenset(_operations(journey)),
            conformance.status == COMPLETE,
            frozenset(calls_of(journey.traces)) if calls_of is not None else None,
        )

    def as_dict(self) -> dict:
        return {
            "order_id": self.order_id,
            "customer_type": self.customer_type,
            "dwells": self.dwells,
            "states": sorted(self.states),
            "operations": [list(key) for key in sorted(self.operations)],
            "complete": self.complete,
            **({"calls": [list(c) for c in sorted(self.calls)]} if self.calls is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> OrderSample:
        return cls(
            str(data["order_id"]),
            str(data["customer_type"]),
            {str(state): int(ns) for state, ns in data["dwells"].items()},
            frozenset(map(str, data["states"])),
            frozenset((str(c), str(o)) for c, o in data["operations"]),
            bool(data["complete"]),
            (
                frozenset((str(a), str(b)) for a, b in data["calls"])
                if data.get("calls") is not None
                else None
            ),
        )


class TypicalJourneys:
    """Profiles per customer type; add every order, then compare any of them."""

    def __init__(self) -> None:
        self._profiles: dict[str, _TypeProfile] = defaultdict(_TypeProfile)

    def add(self, journey: Journey, conformance: Conformance) -> None:
        self.add_sample(OrderSample.of(journey, conformance))

    def add_sample(self, sample: OrderSample) -> None:
        profile = self._profiles[sample.customer_type]
        profile.orders += 1
        profile.order_ids.append(sample.order_id)
        if sample.calls is not None:
            profile.calls[sample.order_id] = sample.calls
        for state, duration in sample.dwells.items():
            insort(profile.dwell[state], duration)
        profile.states.update(sample.states)
        profile.operations.update(sample.operations)
        if sample.complete:
            profile.complete_orders += 1
            profile.complete_operations.update(sample.operations)

    def compare(
        self, journey: Journey, conformance: Conformance, graph: StateGraph, included: bool = True
    ) -> list[Difference]:
        """How the journey differs from the other orders of its type; `included` says whether
        it was add()-ed (and so must be taken out of the profile)."""
        profile = self._profiles.get(journey.customer_type or "")
        if profile is None:
            return []
        own = 1 if included else 0
        if profile.orders - own < MIN_ORDERS:
            return []
        return [
            *_slow_states(profile, journey, conformance, included),
            *_state_differences(profile, journey, conformance, graph, own),
            *_operation_differences(profile, journey, conformance, own),
        ]

    def sample_orders(self, customer_type: str, leave_out: str = "") -> list[str]:
        """The orders the typical journey of the type was built from (`leave_out` not), when
        there are enough of them to compare with; else none."""
        profile = self._profiles.get(customer_type)
        found = [o for o in profile.order_ids if o != leave_out] if profile else []
        return found if len(found) >= MIN_ORDERS else []

    def recorded_calls(
        self, customer_type: str, orders: Iterable[str]
    ) -> dict[str, frozenset[Call]]:
        """The calls of these sample orders of the type, where their samples recorded them."""
        profile = self._profiles.get(customer_type)
        if profile is None:
            return {}
        return {o: profile.calls[o] for o in orders if o in profile.calls}

    @classmethod
    def from_journeys(cls, pairs: Iterable[tuple[Journey, Conformance]]) -> TypicalJourneys:
        return cls.from_samples(
            OrderSample.of(journey, conformance) for journey, conformance in pairs
        )

    @classmethod
    def from_samples(cls, samples: Iterable[OrderSample]) -> TypicalJourneys:
        typical = cls()
        for sample in samples:
            typical.add_sample(sample)
        return typical


def _slow_states(
    profile: _TypeProfile, journey: Journey, conformance: Conformance, included: bool
) -> list[Difference]:
    """States the order stayed in SLOW_FACTOR times longer than the type's typical dwell."""
    result = []
    finished = _finished_dwells(conformance)
    for dwell in conformance.dwells:
        values = profile.dwell.get(dwell.state, [])
        mine = finished.get(dwell.state) if included and not dwell.current else None
        if len(values) - (mine is not None) < MIN_ORDERS:
            continue
        typical = _median_without(values, mine)
        if typical > 0 and dwell.duration_ns > SLOW_FACTOR * typical:
            result.append(
                Difference(
                    "slow",
                    dwell.state,
                    f"{dwell.state} took {duration_words(dwell.duration_ns, 'en')}, "
                    f"{_times(dwell.duration_ns / typical)} times the typical "
                    f"{duration_words(typical, 'en')} of {journey.customer_type} "
                    f"orders",
                    "slow_state",
                    {
                        "state": dwell.state,
                        "duration_ns": dwell.duration_ns,
                        "typical_ns": typical,
                        "customer_type": journey.customer_type or "",
                    },
                )
            )
    return result


def _state_differences(
    profile: _TypeProfile, journey: Journey, conformance: Conformance, graph: StateGraph, own: int
) -> list[Difference]:
    """Usual states the order skipped on its way to where it is, and rare ones it visited."""
    result = []
    others = profile.orders - own
    visited = {c.state for c in conformance.changes}
    known = [c.state for c in conformance.changes if graph.knows(c.state)]
    current = known[-1] if known else None
    for state in graph.names:
        share = (profile.states[state] - own * (state in visited)) / others
        if (
            state not in visited
            and share >= USUAL_SHARE
            and current is not None
            and graph.path_between(state, current) is not None
        ):
            result.append(
                Difference(
                    "missing",
                    state,
                    f"{share:.0%} of other {journey.customer_type} orders pass through {state}",
                    "usual_state",
                    _share_facts(share, journey, state=state),
                )
            )
    for state in sorted(visited):
        share = (profile.states[state] - own) / others
        if share <= RARE_SHARE:
            result.append(
                Difference(
                    "extra",
                    state,
                    f"only {share:.0%} of other "
                    f"{journey.customer_type} orders pass through {state}",
                    "rare_state",
                    _share_facts(share, journey, state=state),
                )
            )
    return result


def _operation_differences(
    profile: _TypeProfile, journey: Journey, conformance: Conformance, own: int
) -> list[Difference]:
    """Operations usual for complete orders of the type that a complete order did not run,
    and rare operations it ran."""
    result = []
    others = profile.orders - own
    operations = _operations(journey)
    complete_others = profile.complete_orders - own * (conformance.status == COMPLETE)
    if conformance.status == COMPLETE and complete_others >= MIN_ORDERS:
        for key, count in sorted(profile.complete_operations.items()):
            share = (count - own * (key in operations)) / complete_others
            if key not in operations and share >= USUAL_SHARE:
                result.append(
                    Difference(
                        "missing",
                        f"{key[0]}: {key[1]}",
                        f"{share:.0%} of other complete {journey.customer_type} orders run it",
                        "usual_operation",
                        _share_facts(share, journey),
                    )
                )
    for key in sorted(operations):
        share = (profile.operations[key] - own) / others
        if share <= RARE_SHARE:
            result.append(
                Difference(
                    "extra",
                    f"{key[0]}: {key[1]}",
                    f"only {share:.0%} of other {journey.customer_type} orders run it",
                    "rare_operation",
                    _share_facts(share, journey),
                )
            )
    return result
