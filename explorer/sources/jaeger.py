"""Jaeger as a trace source: the v2 query API v3 (OTLP JSON in a `result` wrapper) and the
classic /api API. `api: "v3"` (the default) falls back to classic when v3 answers 404."""

from __future__ import annotations

import logging
from urllib.parse import quote

import orjson

from explorer.sources.base import DependencyEdge, TraceNotFound, TraceQuery, TraceSummary
from explorer.sources.http import HttpStatusError
from explorer.sources.remote import (
    RemoteSource,
    go_duration,
    rfc3339,
)

log = logging.getLogger("explorer.sources")


class JaegerSource(RemoteSource):
    kind = "jaeger"

    def __init__(self, config, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.api = config.api or "v3"

    # --- the interface --------------------------------------------------------------------
    def get_trace(self, trace_id: str):
        tid = self.trace_id(trace_id)
        if self.api == "v3":
            try:
                body = self.client.get(f"api/v3/traces/{tid}").body
                return self.one_trace(self._parse_v3(body, f"trace {tid}"), tid)
            except HttpStatusError as exc:
                if exc.status != 404:
                    raise
                if _v3_not_found(exc):
                    raise TraceNotFound(f"{self.name}: no trace {tid}") from None
            # A plain 404: no API v3 (Jaeger 1.x); the classic API answers.
        try:
            body = self.client.get(f"api/traces/{tid}").body
        except HttpStatusError as exc:
            if exc.status == 404:
                raise TraceNotFound(f"{self.name}: no trace {tid}") from None
            raise
        return self.one_trace(self.parse(body, "jaeger-json", f"trace {tid}"), tid)

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        return self.search_each_service(query, self._search_one)

    def search_span_tags(self, query: TraceQuery) -> list[TraceSummary]:
        """Jaeger's search is of one span's tags and duration already (SearchesSpanTags)."""
        return self.search(query)

    def services(self) -> list[str]:
        data = self._v3_or_classic(("api/v3/services", None), ("api/services", None))
        names = data.get("services") if self.api == "v3" else data.get("data")
        return sorted(names or [])

    def operations(self, service: str) -> list[str]:
        data = self._v3_or_classic(
            ("api/v3/operations", {"service": service}),
            (f"api/services/{quote(service, safe='')}/operations", None),
        )
        if self.api == "v3":
            return sorted({op.get("name", "") for op in data.get("operations") or []})
        return sorted(data.get("data") or [])

    def dependencies(self, start_ns: int, end_ns: int) -> list[DependencyEdge] | None:
        params = {"endTs": end_ns // 10**6, "lookback": max(1, (end_ns - start_ns) // 10**6)}
        try:
            data = self.get_object("api/dependencies", params)
        except HttpStatusError as exc:
            if exc.status == 404:
                return None
            raise
        return [
            DependencyEdge(edge["parent"], edge["child"], int(edge.get("callCount", 0)))
            for edge in data.get("data") or []
            if isinstance(edge, dict) and "parent" in edge and "child" in edge
        ]

    def check(self) -> str:
        count = len(self.services())
        return f"API {self.api}, {count} services"

    # --- helpers --------------------------------------------------------------------------
    def _search_one(self, query: TraceQuery) -> list[TraceSummary]:
        start, end = self.time_window(query)
        attributes = dict(query.attributes)
        if query.errors_only:
            attributes["error"] = "true"
        if self.api == "v3":
            params = {
                "query.service_name": query.service,
                "query.operation_name": query.operation,
                "query.attributes": orjson.dumps(attributes).decode() if attributes else None,
                "query.start_time_min": rfc3339(start),
                "query.start_time_max": rfc3339(end),
                "query.duration_min": _duration(query.min_duration_ns),
                "query.duration_max": _duration(query.max_duration_ns),
                # the name changed between Jaeger versions; each ignores the other
                "query.num_traces": query.limit,
                "query.search_depth": query.limit,
            }
            try:
                body = self.client.get("api/v3/traces", _present(params)).body
                return self.summaries(self._parse_v3(body, "search results"), query.limit)
            except HttpStatusError as exc:
                if exc.status != 404:
                    raise
                if _v3_not_found(exc):
                    return []
                self._fall_back("api/v3/traces")
        params = {
            "service": query.service,
            "operation": query.operation,
            "tags": orjson.dumps(attributes).decode() if attributes else None,
            "start": start // 1000,
            "end": end // 1000,
            "minDuration": _duration(query.min_duration_ns),
            "maxDuration": _duration(query.max_duration_ns),
            "limit": query.limit,
        }
        body = self.client.get("api/traces", _present(params)).body
        return self.summaries(self.parse(body, "jaeger-json", "search results"), query.limit)

    def _parse_v3(self, body: bytes, what: str):
        # The gateway streams a large answer as one {"result": ...} document per line.
        fmt = "jsonl" if b'}\n{"result"' in body else "otlp-json"
        return self.parse(body, fmt, what)

    def _v3_or_classic(self, v3: tuple, classic: tuple) -> dict:
        if self.api == "v3":
            try:
                return self.get_object(*v3)
            except HttpStatusError as exc:
                if exc.status != 404:
                    raise
                self._fall_back(v3[0])
        return self.get_object(*classic)

    def _fall_back(self, path: str) -> None:
        log.info("%s: %s answered 404; using the classic Jaeger API", self.name, path)
        self.api = "classic"


def _v3_not_found(exc: HttpStatusError) -> bool:
    """API v3 answers "no such trace" and an empty search with 404 and its gateway's error
    object ({"error": {"httpCode": 404, ...}}); a Jaeger without API v3 answers 404 with a
    plain page. Only the plain page means "use the classic API"."""
    try:
        data = orjson.loads(exc.body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and isinstance(data.get("error"), dict)


def _duration(ns: int | None) -> str | None:
    return None if ns is None else go_duration(ns)


def _present(params: dict) -> dict:
    return {key: value for key, value in params.items() if value is not None}
