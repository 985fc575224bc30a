"""Zipkin (API v2) as a trace source. Zipkin keeps tags as strings and has no resource
attributes, so a business attribute is found through annotationQuery `key=value`."""

from __future__ import annotations

import orjson

from explorer.sources.base import (
    DependencyEdge,
    SourceError,
    TraceNotFound,
    TraceQuery,
    TraceSummary,
)
from explorer.sources.http import HttpStatusError
from explorer.sources.remote import RemoteSource


def annotation_query(query: TraceQuery) -> str | None:
    """Zipkin's annotationQuery: terms joined by " and ", `key=value` for tags. It has no
    escaping, so values it cannot express are refused rather than silently changed."""
    terms = []
    for key, value in query.attributes.items():
        for text in (key, value):
            if " and " in text.lower() or not text.strip():
                raise SourceError(f"Zipkin cannot search for {text!r} (empty, or contains ' and ')")
        if "=" in key:
            raise SourceError(f"Zipkin cannot search for the key {key!r} (contains '=')")
        terms.append(f"{key}={value}")
    if query.errors_only:
        terms.append("error")
    return " and ".join(terms) or None


class ZipkinSource(RemoteSource):
    kind = "zipkin"

    def get_trace(self, trace_id: str):
        tid = self.trace_id(trace_id)
        try:
            body = self.client.get(f"api/v2/trace/{tid}").body
        except HttpStatusError as exc:
            if exc.status == 404:
                raise TraceNotFound(f"{self.name}: no trace {tid}") from None
            raise
        return self.one_trace(self.parse(body, "zipkin-json", f"trace {tid}"), tid)

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        start, end = self.time_window(query)
        params = {
            "serviceName": query.service,
            "spanName": query.operation,
            "annotationQuery": annotation_query(query),
            "minDuration": None if query.min_duration_ns is None else query.min_duration_ns // 1000,
            "maxDuration": None if query.max_duration_ns is None else query.max_duration_ns // 1000,
            "endTs": end // 10**6,
            "lookback": max(1, (end - start) // 10**6),
            "limit": query.limit,
        }
        data = self.client.get_json(
            "api/v2/traces", {k: v for k, v in params.items() if v is not None}
        )
        if not isinstance(data, list) or not all(isinstance(t, list) for t in data):
            raise SourceError(f"{self.name}: the search answer is not a list of traces")
        spans = [span for trace in data for span in trace]
        traces = self.parse(orjson.dumps(spans), "zipkin-json", "search results") if spans else []
        return self.summaries(traces, query.limit)

    def services(self) -> list[str]:
        return sorted(self._names("api/v2/services"))

    def operations(self, service: str) -> list[str]:
        return sorted(self._names("api/v2/spans", {"serviceName": service}))

    def dependencies(self, start_ns: int, end_ns: int) -> list[DependencyEdge] | None:
        params = {"endTs": end_ns // 10**6, "lookback": max(1, (end_ns - start_ns) // 10**6)}
        data = self.client.get_json("api/v2/dependencies", params)
        if not isinstance(data, list):
            raise SourceError(f"{self.name}: the dependencies answer is not a list")
        return [
            DependencyEdge(link["parent"], link["child"], int(link.get("callCount", 0)))
            for link in data
            if isinstance(link, dict) and "parent" in link and "child" in link
        ]

    def check(self) -> str:
        count = len(self.services())
        try:
            info = self.client.get_json("info")
            version = (
                (info.get("zipkin") or {}).get("version", "") if isinstance(info, dict) else ""
            )
        except SourceError:
            version = ""
        found = f"version {version}, " if version else ""
        return f"{found}{count} services"

    def _names(self, path: str, params: dict | None = None) -> list[str]:
        data = self.client.get_json(path, params)
        if not isinstance(data, list):
            raise SourceError(f"{self.name}: {path} did not answer a list of names")
        return [str(name) for name in data]
