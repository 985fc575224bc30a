"""What a trace looks like in a search result, and how spans of one trace merge (framework-free).

The embedded store computes these on ingest and keeps them in its tables; MemorySource
computes them on the fly; both must agree, so both use these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from explorer.sources.base import SourceError, TraceQuery, TraceSummary
from explorer.traces.model import Span, StatusCode, Trace, start_of


@dataclass(slots=True)
class TraceFacts:
    """A trace's summary plus what the index tables hold about it."""

    start_ns: int
    end_ns: int
    span_count: int
    error_count: int
    root_service: str
    root_name: str
    operations: dict[str, set[str]]  # service -> span names
    business: dict[str, list[str]]  # business attribute -> distinct values, first seen first

    def summary(self, trace_id: str) -> TraceSummary:
        return TraceSummary(
            trace_id=trace_id,
            start_ns=self.start_ns,
            duration_ns=self.end_ns - self.start_ns,
            span_count=self.span_count,
            root_service=self.root_service,
            root_name=self.root_name,
            services=sorted(self.operations),
            error_count=self.error_count,
            attributes={key: values[0] for key, values in self.business.items()},
        )


def merge_spans(groups: Iterable[Iterable[Span]]) -> list[Span]:
    """The spans of several copies or parts of one trace, each span once (the first copy
    wins), sorted by start time. The kind is part of a span's identity because Zipkin lets a
    client and a server share one span id."""
    merged: dict[tuple[str, int], Span] = {}
    for spans in groups:
        for s in spans:
            merged.setdefault((s.span_id, s.kind), s)
    return sorted(merged.values(), key=start_of)


def as_text(value: object) -> str | None:
    """A business attribute value as indexed text; arrays, maps and bytes are not indexed."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float):
        return str(value)
    return None


def trace_facts(spans: list[Span], business_keys: Iterable[str]) -> TraceFacts:
    """Facts about a trace from its spans, which must be sorted by start time (and not empty).

    The root is the earliest span without a parent in the trace; business attributes are
    looked up on spans and on their resources."""
    ids = {s.span_id for s in spans}
    root = next((s for s in spans if s.parent_id is None or s.parent_id not in ids), spans[0])
    # Comprehensions rather than one loop doing everything: this runs for every stored span.
    operations: dict[str, set[str]] = {}
    for service, name in {(s.resource.service_name, s.name) for s in spans}:
        operations.setdefault(service, set()).add(name)
    maps = [s.attributes for s in spans]
    maps += {id(s.resource): s.resource.attributes for s in spans}.values()
    business: dict[str, list[str]] = {}
    for key in business_keys:
        texts = [m[key] if type(m[key]) is str else as_text(m[key]) for m in maps if key in m]
        values = [text for text in dict.fromkeys(texts) if text is not None]
        if values:
            business[key] = values
    error = StatusCode.ERROR
    return TraceFacts(
        start_ns=spans[0].start_ns,
        end_ns=max(s.end_ns for s in spans),
        span_count=len(spans),
        error_count=sum(1 for s in spans if s.status_code is error),
        root_service=root.service,
        root_name=root.name,
        operations=operations,
        business=business,
    )


def check_searchable(query: TraceQuery, business_keys: Iterable[str], source: str) -> None:
    """Only business attributes are indexed, so only they can be searched for."""
    keys = list(business_keys)
    for key in query.attributes:
        if key not in keys:
            raise SourceError(
                f"{source}: only the business attributes {', '.join(keys)} can be searched "
                f"for, not {key!r}"
            )


def matches(facts: TraceFacts, query: TraceQuery) -> bool:
    """Whether a trace matches a search; the store's SQL filters mean the same."""
    if query.service is not None and query.service not in facts.operations:
        return False
    if query.operation is not None:
        services = [query.service] if query.service is not None else list(facts.operations)
        if not any(query.operation in facts.operations.get(s, ()) for s in services):
            return False
    for key, value in query.attributes.items():
        if value not in facts.business.get(key, ()):
            return False
    duration = facts.end_ns - facts.start_ns
    if query.min_duration_ns is not None and duration < query.min_duration_ns:
        return False
    if query.max_duration_ns is not None and duration > query.max_duration_ns:
        return False
    if query.start_ns is not None and facts.start_ns < query.start_ns:
        return False
    if query.end_ns is not None and facts.start_ns >= query.end_ns:
        return False
    return not (query.errors_only and facts.error_count == 0)


def newest_first(summary: TraceSummary) -> tuple[int, str]:
    """Sort key of search results: newest first, ties by trace id."""
    return (-summary.start_ns, summary.trace_id)


def merged_trace(trace_id: str, parts: Iterable[Trace]) -> Trace:
    parts = list(parts)
    warnings = list(dict.fromkeys(w for t in parts for w in t.warnings))
    return Trace(trace_id, merge_spans(t.spans for t in parts), warnings)
