"""One normalised model of traces, whichever backend or file they came from.

Framework-free on purpose (like Jaeger UI's trace model): parsers fill it, the analysis
core, the store, journeys and diagrams read it, and none of them imports Django.

Attribute values keep their OpenTelemetry type as the matching Python type:
string -> str, int -> int, double -> float, bool -> bool, bytes -> bytes,
array -> list, key-value list -> dict. Ids are lower-case hex where the source had
hex or base64 ids, and kept exactly as given otherwise (Jaeger UI's fixtures use "span-A").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

AttributeValue = Any  # str | int | float | bool | bytes | list[...] | dict[str, ...]
Attributes = dict[str, AttributeValue]


class SpanKind(IntEnum):
    """OTLP span kinds, with OTLP's numbers."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """OTLP status codes, with OTLP's numbers."""

    UNSET = 0
    OK = 1
    ERROR = 2


class RefType(IntEnum):
    """How a span relates to its parent (Jaeger's reference types; OTLP parents are CHILD_OF)."""

    CHILD_OF = 0
    FOLLOWS_FROM = 1


@dataclass(slots=True, frozen=True)
class Resource:
    """The entity that produced spans: a service and its resource attributes."""

    service_name: str
    attributes: Attributes = field(default_factory=dict, hash=False, compare=True)


@dataclass(slots=True, frozen=True)
class Scope:
    """The instrumentation scope (library) that produced a span."""

    name: str = ""
    version: str = ""


@dataclass(slots=True)
class Event:
    """A timed event inside a span (OTLP event, Jaeger log, Zipkin annotation)."""

    name: str
    time_ns: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)
class Link:
    """A link to a span of another (or the same) trace, e.g. a consumer to its producer."""

    trace_id: str
    span_id: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    resource: Resource
    attributes: Attributes = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    status_code: StatusCode = StatusCode.UNSET
    status_message: str = ""
    scope: Scope = field(default_factory=Scope)
    parent_ref: RefType = RefType.CHILD_OF

    @property
    def service(self) -> str:
        return self.resource.service_name

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def is_error(self) -> bool:
        return self.status_code == StatusCode.ERROR


def start_of(span: Span) -> int:
    """The sort key of spans by start time."""
    return span.start_ns


@dataclass(slots=True)
class Trace:
    """The spans of one trace id, plus what normalisation had to say about them."""

    trace_id: str
    spans: list[Span] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def start_ns(self) -> int:
        return min((s.start_ns for s in self.spans), default=0)

    @property
    def end_ns(self) -> int:
        return max((s.end_ns for s in self.spans), default=0)

    @property
    def services(self) -> set[str]:
        return {s.service for s in self.spans}

    def roots(self) -> list[Span]:
        ids = {s.span_id for s in self.spans}
        return [s for s in self.spans if s.parent_id is None or s.parent_id not in ids]

    def lookup(self, key: str, default: AttributeValue = None) -> AttributeValue:
        """The first value of `key` on any span or its resource (business attributes)."""
        for s in self.spans:
            if key in s.attributes:
                return s.attributes[key]
            if key in s.resource.attributes:
                return s.resource.attributes[key]
        return default
