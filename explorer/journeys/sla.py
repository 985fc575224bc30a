"""Response times of container endpoints (SERVER spans) against the SLA, and compliance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from explorer.journeys.conformance import Dwell
from explorer.journeys.state_graph import Sla
from explorer.traces.model import Span, SpanKind


@dataclass(slots=True, frozen=True)
class SlaBreach:
    """A SERVER span that answered slower than its endpoint's limit."""

    container: str
    endpoint: str
    trace_id: str
    span_id: str
    duration_ms: float
    limit_ms: float

    def as_dict(self) -> dict:
        return {
            "container": self.container,
            "endpoint": self.endpoint,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "duration_ms": round(self.duration_ms, 3),
            "limit_ms": self.limit_ms,
        }


@dataclass(slots=True, frozen=True)
class Compliance:
    """Share of a container's SERVER spans within their SLA."""

    container: str
    requests: int
    within: int

    @property
    def fraction(self) -> float:
        return self.within / self.requests if self.requests else 1.0


def breaches(sla: Sla, spans: Iterable[tuple[str, Span]]) -> list[SlaBreach]:
    """SERVER spans of containers with an SLA that took longer than their limit."""
    result = []
    for container, span in spans:
        if span.kind != SpanKind.SERVER:
            continue
        limit = sla.limit_ms(container, span.name)
        duration_ms = span.duration_ns / 1e6
        if limit is not None and duration_ms > limit:
            result.append(
                SlaBreach(container, span.name, span.trace_id, span.span_id, duration_ms, limit)
            )
    return result


def compliance(sla: Sla, spans: Iterable[tuple[str, Span]]) -> list[Compliance]:
    """Per container with an SLA: how many of its SERVER spans answered within their limit."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for container, span in spans:
        if span.kind != SpanKind.SERVER:
            continue
        limit = sla.limit_ms(container, span.name)
        if limit is None:
            continue
        row = counts[container]
        row[0] += 1
        row[1] += span.duration_ns / 1e6 <= limit
    return [Compliance(c, n, ok) for c, (n, ok) in sorted(counts.items())]


def stage_report(dwells: Iterable[Dwell]) -> list[dict]:
    """The journey's stage durations against the state limits."""
    return [
        {
            "state": d.state,
            "duration_s": round(d.duration_ns / 1e9, 3),
            "limit_s": None if d.limit_ns is None else d.limit_ns / 1e9,
            "over_limit": d.over_limit,
            "current": d.current,
        }
        for d in dwells
    ]
