"""What an order's states say against the state graph: its changes, violations, dwell times,
messages never consumed and the status (complete, in progress, stuck, lost).

The types and the statuses only, so that pages and tours can hold a verdict without the
judging modules; explorer.journeys.checking (check_states) computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMPLETE = "complete"
IN_PROGRESS = "in_progress"
STUCK = "stuck"
LOST = "lost"

# A message younger than this at `now` may still be on its way: not (yet) lost.
IN_FLIGHT_NS = 10 * 60 * 10**9
MESSAGE_ID_KEY = "messaging.message.id"
DESTINATION_KEY = "messaging.destination.name"


@dataclass(slots=True, frozen=True)
class StateChange:
    state: str
    previous: str | None  # as the event declared it
    at_ns: int
    container: str
    trace_id: str
    span_id: str


@dataclass(slots=True, frozen=True)
class Violation:
    kind: str
    detail: str
    at_ns: int
    state: str
    previous: str | None = None  # the state before (as recorded, or as declared)
    container: str = ""
    other: str | None = None  # wrong_system: the allowed owners; systems_disagree: declared

    def as_dict(self) -> dict:
        return {"kind": self.kind, "detail": self.detail}


@dataclass(slots=True, frozen=True)
class Dwell:
    """How long the order stayed in a state (until the next state, or until now)."""

    state: str
    start_ns: int
    duration_ns: int
    limit_ns: int | None
    current: bool

    @property
    def over_limit(self) -> bool:
        return self.limit_ns is not None and self.duration_ns > self.limit_ns


@dataclass(slots=True, frozen=True)
class Message:
    """A message about the order sent to a queue or topic (a PRODUCER span)."""

    destination: str
    container: str
    at_ns: int
    trace_id: str
    span_id: str


@dataclass(slots=True)
class Conformance:
    changes: list[StateChange] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    dwells: list[Dwell] = field(default_factory=list)
    unconsumed: list[Message] = field(default_factory=list)
    status: str = IN_PROGRESS
    warnings: list[str] = field(default_factory=list)

    @property
    def state(self) -> str | None:
        return self.changes[-1].state if self.changes else None
