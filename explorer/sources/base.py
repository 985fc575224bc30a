"""The trace-source interface every page and command uses.

The embedded store (explorer.store.source) and the remote backends (Jaeger, Tempo, Zipkin)
implement it; pages never know which one answers. Times are nanoseconds since the epoch.

Optional features are capability protocols, checked with isinstance (never with getattr):
ListsAttributeValues, ReadsTracesInBulk, FindsLinkingTraces, ReadsStoredLayouts, SelfChecking,
JudgesClockSkew, KeepsHourlyTraffic, KeepsHourlyOperations, ListsArrivals, SearchesTraceQL,
SearchesSpanTags. A
source that wraps another
(explorer.sources.wrapper) passes on exactly the capabilities of the one inside, plus those it
implements itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from explorer.analysis.layout import TraceOverview
from explorer.traces.model import Span, Trace


class SourceError(Exception):
    """A source could not answer: unreachable, refused, timed out, malformed answer...

    The message is meant for people: it says which source and what went wrong.
    """


class TraceNotFound(SourceError):
    pass


@dataclass(slots=True)
class TraceQuery:
    """A search over traces; every field is optional and fields combine with AND."""

    service: str | None = None
    operation: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # e.g. {"order.id": "A-1042"}
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    start_ns: int | None = None  # traces that start at or after
    end_ns: int | None = None  # traces that start before
    errors_only: bool = False
    limit: int = 100


@dataclass(slots=True)
class TraceSummary:
    """One line of a search result: enough to list a trace without fetching its spans."""

    trace_id: str
    start_ns: int
    duration_ns: int
    span_count: int
    root_service: str
    root_name: str
    services: list[str] = field(default_factory=list)
    error_count: int = 0
    attributes: dict[str, str] = field(default_factory=dict)  # business attributes, if known


@dataclass(slots=True)
class DependencyEdge:
    parent: str
    child: str
    call_count: int


class TraceSource(Protocol):
    name: str

    def get_trace(self, trace_id: str) -> Trace:
        """The whole trace; raises TraceNotFound or SourceError."""

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        """Traces matching the query, newest first, at most query.limit."""

    def find_traces(
        self,
        attribute: str,
        value: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 1000,
    ) -> list[TraceSummary]:
        """Traces where a business attribute (span or resource) has this value."""

    def services(self) -> list[str]: ...

    def operations(self, service: str) -> list[str]: ...

    def dependencies(self, start_ns: int, end_ns: int) -> list[DependencyEdge] | None:
        """The backend's own dependency graph, or None where it has none."""


@runtime_checkable
class ListsAttributeValues(Protocol):
    def attribute_values(
        self,
        key: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 100_000,
    ) -> list[str]:
        """Distinct values of a business attribute over traces starting in the window, sorted
        (e.g. every order id: the `orders` command lists them)."""


@runtime_checkable
class ReadsTracesInBulk(Protocol):
    def get_traces(self, trace_ids: list[str]) -> list[Trace]:
        """The traces of these ids that exist (missing ones left out), in few round trips."""


@runtime_checkable
class FindsLinkingTraces(Protocol):
    def linking_traces(self, trace_id: str) -> list[str]:
        """Ids of other traces with a span that links to a span of this trace (e.g. the
        consumer traces of the messages it produced)."""


@runtime_checkable
class ReadsStoredLayouts(Protocol):
    """A huge trace read a part at a time, from the layout the embedded store keeps."""

    def trace_overview(self, trace_id: str) -> TraceOverview | None:
        """The trace's overview and layout when it is stored in several chunks, else None."""

    def trace_rows(
        self, trace_id: str, rows: Iterable[int], span_count: int
    ) -> Mapping[int, Span] | None:
        """The spans at these rows of the tree order; None when the trace changed."""

    def iter_spans(self, trace_id: str) -> Iterator[list[Span]]:
        """The trace's spans a chunk at a time."""


@runtime_checkable
class SelfChecking(Protocol):
    def check(self) -> str:
        """What the source says about itself (version...); raises SourceError."""


@runtime_checkable
class JudgesClockSkew(Protocol):
    def newest_end_ns(self, start_ns: int | None = None, end_ns: int | None = None) -> int | None:
        """The end of the newest trace starting in the window (None: no such trace), leaving
        out traces whose spans ended ahead of the data clock when they arrived
        (explorer.store.clock): the explorer's "now"."""


@runtime_checkable
class KeepsHourlyTraffic(Protocol):
    """The system map's figures kept per hour as spans arrive (explorer.store.hourly: the
    embedded store, and the receiver's index mode), so a map of a window needs no trace
    read."""

    def hourly_traffic(
        self, start_ns: int, end_ns: int
    ) -> tuple[int, Mapping[tuple[str, str, str], Any]]:
        """Where the whole hours from the one holding start_ns begin, and the figures of
        those hours up to end_ns per (kind, source, target): explorer.store.traffic.Traffic,
        a type of the store, which this interface cannot name without a cycle."""

    def traffic_counted_from(self) -> int | None:
        """Where the figures begin (ns), when the source may hold older traces that were not
        counted (a remote backend behind the receiver's index); None when they cover every
        trace of the source."""

    def count_between(self, start_ns: int, end_ns: int) -> int:
        """How many traces start in [start_ns, end_ns)."""


@runtime_checkable
class KeepsHourlyOperations(Protocol):
    """Per hour, operation and customer type: spans, errors, SLA breaches and a latency
    sketch, kept as spans arrive (explorer.store.hourly_operations: the embedded store, and
    the receiver's index mode), so that the SLA and anomaly pages read no trace."""

    def operations_counted_from(self) -> int | None:
        """Where the figures begin (ns): the start of the oldest trace counted, when the
        source may hold older traces that were not (a remote backend behind the receiver's
        index); None when they cover every trace of the source."""

    def count_between(self, start_ns: int, end_ns: int) -> int:
        """How many traces start in [start_ns, end_ns)."""


@dataclass(slots=True, frozen=True)
class Arrival:
    """A trace that received spans: when (wall clock, ns), the values of the business
    attribute asked for on it, and the traces its spans link to."""

    trace_id: str
    arrived_ns: int
    values: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


@runtime_checkable
class ListsArrivals(Protocol):
    """Which traces received spans lately, and what they name: a source that stores spans
    notes when they arrived. The live worker (explorer.orders.arrivals) marks the orders of
    those traces, and of the traces they link to, as changed."""

    def arrivals_since(self, since_ns: int | None, key: str) -> list[Arrival]:
        """The traces whose spans arrived at or after since_ns (None: ever), each with its
        latest arrival, its values of the business attribute `key` and its links."""

    def values_of_traces(self, trace_ids: list[str], key: str) -> list[tuple[str, str]]:
        """(trace id, value) of a business attribute on these traces (those stored)."""


@runtime_checkable
class FindsJourneyTracesInBulk(Protocol):
    """The traces of many orders and the traces linked to them, in few round trips
    (explorer.journeys.bulk.TraceSet.read_for_orders: a single order's reference assembles
    two hundred other orders' journeys)."""

    def traces_with_values(self, key: str, values: list[str]) -> list[str]:
        """Ids of the traces where the business attribute `key` has one of these values."""

    def linking_traces_of(self, trace_ids: list[str]) -> dict[str, list[str]]:
        """linking_traces() of each of these traces that has any."""

    def trace_ids(self) -> list[str]:
        """Every trace's id, in search()'s order (newest first), without their summaries."""


@runtime_checkable
class SearchesTraceQL(Protocol):
    """A source that runs TraceQL itself (Tempo): explorer.sources.querying passes a query on."""

    def search_traceql(
        self, traceql: str, start_ns: int | None, end_ns: int | None, limit: int
    ) -> list[TraceSummary]:
        """The traces matching the TraceQL, starting in the window, at most `limit`."""


@runtime_checkable
class SearchesSpanTags(Protocol):
    """A source whose search is Jaeger's: service, operation, tags and min/max duration of
    ONE span (search() reads the durations as the trace's elsewhere)."""

    def search_span_tags(self, query: TraceQuery) -> list[TraceSummary]:
        """Traces with a span that has all of the query's fields."""


CAPABILITIES = (
    ListsAttributeValues,
    ReadsTracesInBulk,
    FindsLinkingTraces,
    ReadsStoredLayouts,
    SelfChecking,
    JudgesClockSkew,
    KeepsHourlyTraffic,
    KeepsHourlyOperations,
    ListsArrivals,
    FindsJourneyTracesInBulk,
    SearchesTraceQL,
    SearchesSpanTags,
)
# The methods of every capability: what a wrapping source passes on.
CAPABILITY_METHODS = frozenset(
    name for capability in CAPABILITIES for name in vars(capability) if not name.startswith("_")
)


class FindsBySearch:
    """For sources whose search() filters on business attributes itself: find_traces is a
    search for that one attribute."""

    def find_traces(
        self: TraceSource,
        attribute: str,
        value: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 1000,
    ) -> list[TraceSummary]:
        query = TraceQuery(
            attributes={attribute: value}, start_ns=start_ns, end_ns=end_ns, limit=limit
        )
        return self.search(query)
