"""What the Jaeger, Tempo and Zipkin sources share: the HTTP client, trace id checks,
parsing answers with explorer.traces.parsers, and summaries of fetched traces."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from explorer.sources.base import (
    SelfChecking,
    SourceError,
    TraceNotFound,
    TraceQuery,
    TraceSummary,
)
from explorer.sources.config import BackendConfig
from explorer.sources.http import BackendClient
from explorer.sources.summary import merged_trace, newest_first, trace_facts
from explorer.traces.decompress import Limits
from explorer.traces.model import Trace
from explorer.traces.parsers import parse_bytes
from explorer.traces.vocabulary import BUSINESS_KEYS

# A search without a service asks each service in turn (Jaeger needs one); at most this many.
MAX_SERVICES_SCANNED = 50
_TRACE_ID = re.compile(r"[0-9a-fA-F]{1,32}")


class RemoteSource:
    """Base of the HTTP backends: one client (session, retries, circuit breaker) per source."""

    def __init__(
        self,
        config: BackendConfig,
        business_keys: Iterable[str] = BUSINESS_KEYS,
        client: BackendClient | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.business_keys = list(business_keys)
        self.client = client or BackendClient(config)

    def trace_id(self, trace_id: str) -> str:
        """The id as the backends want it (lower-case hex, 32 digits); anything else is an id
        no trace can have, so it is refused before any request is made."""
        text = str(trace_id).strip()
        if not _TRACE_ID.fullmatch(text):
            raise TraceNotFound(
                f"{self.name}: {text[:80]!r} is not a trace id (1 to 32 hex digits)"
            )
        return text.lower().rjust(32, "0") if len(text) > 16 else text.lower().rjust(16, "0")

    def get_object(self, path: str, params: dict | None = None) -> dict:
        data = self.client.get_json(path, params)
        if not isinstance(data, dict):
            raise SourceError(f"{self.name}: GET /{path} did not answer a JSON object")
        return data

    def parse(self, body: bytes, fmt: str, what: str) -> list[Trace]:
        """Traces from an answer; an answer with errors and no traces is a SourceError."""
        config = self.client.config
        result = parse_bytes(
            body,
            fmt=fmt,
            source=f"{self.name} {what}",
            limits=Limits(config.max_bytes, config.max_ratio),
        )
        if result.errors and not result.traces:
            raise SourceError(f"{self.name}: cannot read {what}: {result.errors[0]}")
        return result.traces

    def one_trace(self, traces: list[Trace], trace_id: str) -> Trace:
        wanted = [t for t in traces if same_id(t.trace_id, trace_id)]
        if not wanted or not any(t.spans for t in wanted):
            raise TraceNotFound(f"{self.name}: no trace {trace_id}")
        return merged_trace(wanted[0].trace_id, wanted)

    def summaries(self, traces: Iterable[Trace], limit: int) -> list[TraceSummary]:
        merged: dict[str, list[Trace]] = {}
        for trace in traces:
            if trace.spans:
                merged.setdefault(trace.trace_id, []).append(trace)
        found = [
            trace_facts(trace.spans, self.business_keys).summary(trace.trace_id)
            for trace in (merged_trace(tid, parts) for tid, parts in merged.items())
        ]
        return sorted(found, key=newest_first)[:limit]

    def time_window(self, query: TraceQuery) -> tuple[int, int]:
        """The query's [start, end) in ns: now as the end, and the backend's look-back
        (lookback_days) as the start when the query has none."""
        end = query.end_ns if query.end_ns is not None else time.time_ns()
        if query.start_ns is not None:
            return query.start_ns, end
        return end - int(self.config.lookback_days * 86_400 * 10**9), end

    def search_each_service(self, query: TraceQuery, search_one) -> list[TraceSummary]:
        """Run `search_one(query)` for the query's service, or for every service when it has
        none, and merge the results."""
        if query.service is not None:
            return search_one(query)
        found: dict[str, TraceSummary] = {}
        for service in self.services()[:MAX_SERVICES_SCANNED]:
            per_service = TraceQuery(**{**_fields(query), "service": service})
            for summary in search_one(per_service):
                found.setdefault(summary.trace_id, summary)
        return sorted(found.values(), key=newest_first)[: query.limit]

    def find_traces(self, attribute, value, start_ns=None, end_ns=None, limit=1000):
        query = TraceQuery(
            attributes={attribute: value}, start_ns=start_ns, end_ns=end_ns, limit=limit
        )
        return self.search(query)

    def services(self) -> list[str]:  # pragma: no cover - every subclass answers
        raise NotImplementedError

    def search(self, query: TraceQuery) -> list[TraceSummary]:  # pragma: no cover
        raise NotImplementedError


def same_id(a: str, b: str) -> bool:
    """Ids are equal whatever their case or leading zeros (Tempo drops them, Zipkin may use
    64-bit ids)."""
    return a.lower().lstrip("0") == b.lower().lstrip("0")


def rfc3339(ns: int) -> str:
    seconds, rest = divmod(ns, 10**9)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"


def go_duration(ns: int) -> str:
    """A duration as Go's time.ParseDuration reads it."""
    return f"{ns}ns"


def _fields(query: TraceQuery) -> dict:
    return {name: getattr(query, name) for name in query.__slots__}


def check_source(source) -> str:
    """What a source says about itself when it answers (version, capabilities); raises
    SourceError when it does not. Sources without a check of their own list their services."""
    if isinstance(source, SelfChecking):
        return source.check()
    return f"{len(source.services())} services"
