"""Grafana Tempo as a trace source: TraceQL search, tag values, and traces by id as OTLP
protobuf (JSON when the server answers JSON). `api: "v2"` (the default) uses the v2 endpoints
and falls back to v1 when they answer 404."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import orjson
from google.protobuf.message import DecodeError

from explorer.sources.base import (
    DependencyEdge,
    SourceError,
    TraceNotFound,
    TraceQuery,
    TraceSummary,
)
from explorer.sources.http import JSON_TYPES, PROTOBUF_TYPES, HttpStatusError
from explorer.sources.remote import RemoteSource
from explorer.sources.summary import newest_first
from explorer.traces.parsers.otlp_proto import length_delimited_fields

log = logging.getLogger("explorer.sources")

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def traceql_string(value: str) -> str:
    """A TraceQL string literal holding exactly `value` (user input: everything escaped)."""
    out = []
    for char in str(value):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def traceql_attribute(scope: str, key: str) -> str:
    """`span.order.id`, or `span."odd key"` when the key has characters TraceQL would read
    as operators."""
    if _PLAIN_NAME.fullmatch(key):
        return f"{scope}.{key}"
    return f"{scope}.{traceql_string(key)}"


def traceql(query: TraceQuery, select: Iterable[str] = ()) -> str:
    """The TraceQL for a search: a spanset for service, operation and status, one per business
    attribute (found on a span or on its resource), and the trace duration. Tempo answers a
    search with only the attributes the query names, so the `select` keys (span or resource)
    are asked for too: a search by customer type must still say which order each trace is."""
    first = []
    if query.service is not None:
        first.append(f"resource.service.name = {traceql_string(query.service)}")
    if query.operation is not None:
        first.append(f"name = {traceql_string(query.operation)}")
    if query.errors_only:
        first.append("status = error")
    if query.min_duration_ns is not None:
        first.append(f"traceDuration >= {int(query.min_duration_ns)}ns")
    if query.max_duration_ns is not None:
        first.append(f"traceDuration <= {int(query.max_duration_ns)}ns")
    spansets = ["{ " + " && ".join(first) + " }"] if first else []
    for key, value in query.attributes.items():
        literal = traceql_string(value)
        spansets.append(
            f"{{ {traceql_attribute('span', key)} = {literal}"
            f" || {traceql_attribute('resource', key)} = {literal} }}"
        )
    text = " && ".join(spansets) or "{ }"
    selected = [traceql_attribute(scope, key) for key in select for scope in ("span", "resource")]
    return f"{text} | select({', '.join(selected)})" if selected else text


class TempoSource(RemoteSource):
    kind = "tempo"

    def __init__(self, config, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.api = config.api or "v2"

    def get_trace(self, trace_id: str):
        tid = self.trace_id(trace_id)
        paths = (
            [f"api/v2/traces/{tid}", f"api/traces/{tid}"]
            if self.api == "v2"
            else [f"api/traces/{tid}"]
        )
        for path in paths:
            try:
                response = self.client.get(
                    path, accept="application/protobuf", allowed_types=PROTOBUF_TYPES + JSON_TYPES
                )
            except HttpStatusError as exc:
                if exc.status == 404:
                    continue  # v2 absent (Tempo 1.x) or no such trace: v1 tells which
                raise
            v2 = path.startswith("api/v2/")
            try:
                if response.content_type in PROTOBUF_TYPES:
                    body, fmt = (
                        unwrap_v2_protobuf(response.body) if v2 else response.body,
                        "otlp-proto",
                    )
                else:
                    body, fmt = _json_trace(response.body, v2), "otlp-json"
            except ValueError as exc:
                raise SourceError(f"{self.name}: cannot read trace {tid}: {exc}") from None
            return self.one_trace(self.parse(body, fmt, f"trace {tid}"), tid)
        raise TraceNotFound(f"{self.name}: no trace {tid}")

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        return self._search(traceql(query, self.business_keys), query)

    def search_traceql(
        self, traceql: str, start_ns: int | None, end_ns: int | None, limit: int
    ) -> list[TraceSummary]:
        """A query of explorer.query as TraceQL (translate.to_traceql), passed on as written."""
        return self._search(traceql, TraceQuery(start_ns=start_ns, end_ns=end_ns, limit=limit))

    def _search(self, text: str, query: TraceQuery) -> list[TraceSummary]:
        start, end = self.time_window(query)
        params = {
            "q": text,
            "limit": query.limit,
            "start": start // 10**9,
            "end": -(-end // 10**9),  # whole seconds, rounded up so the end is included
            "spss": 10,
        }
        data = self.get_object("api/search", params)
        traces = data.get("traces") if isinstance(data, dict) else None
        if not isinstance(traces, list):
            raise SourceError(f"{self.name}: the search answer has no list of traces")
        found = [self._summary(item) for item in traces if isinstance(item, dict)]
        return sorted(found, key=newest_first)[: query.limit]

    def services(self) -> list[str]:
        return self._tag_values("resource.service.name", "service.name")

    def operations(self, service: str) -> list[str]:
        query = "{ resource.service.name = " + traceql_string(service) + " }"
        return self._tag_values("name", None, query)

    def dependencies(self, start_ns: int, end_ns: int) -> list[DependencyEdge] | None:
        return None  # Tempo's service graph lives in Prometheus metrics, not in its API

    def check(self) -> str:
        self.client.get("api/echo", accept="text/plain", allowed_types=("text/plain",))
        try:
            version = self.get_object("api/status/buildinfo").get("version", "")
        except SourceError:
            version = ""
        tags = self.get_object("api/search/tags").get("tagNames") or []
        found = f"version {version}, " if version else ""
        return f"{found}API {self.api}, {len(tags)} searchable tags"

    # --- helpers --------------------------------------------------------------------------
    def _summary(self, item: dict) -> TraceSummary:
        stats = item.get("serviceStats") or {}
        attributes: dict[str, str] = {}
        for spanset in item.get("spanSets") or ([item["spanSet"]] if item.get("spanSet") else []):
            for span in spanset.get("spans") or []:
                for attribute in span.get("attributes") or []:
                    key, value = attribute.get("key"), attribute.get("value") or {}
                    if key in self.business_keys and "stringValue" in value:
                        attributes.setdefault(key, value["stringValue"])
        return TraceSummary(
            trace_id=self.trace_id(item.get("traceID", "")),
            start_ns=int(item.get("startTimeUnixNano") or 0),
            duration_ns=int(item.get("durationMs") or 0) * 10**6,
            span_count=sum(int(s.get("spanCount", 0)) for s in stats.values()),
            root_service=item.get("rootServiceName", ""),
            root_name=item.get("rootTraceName", ""),
            services=sorted(stats),
            error_count=sum(int(s.get("errorCount", 0)) for s in stats.values()),
            attributes=attributes,
        )

    def _tag_values(self, v2_tag: str, v1_tag: str | None, query: str | None = None) -> list[str]:
        if self.api == "v2":
            try:
                data = self.get_object(
                    f"api/v2/search/tag/{v2_tag}/values", {"q": query} if query else None
                )
                return sorted({v.get("value", "") for v in data.get("tagValues") or []})
            except HttpStatusError as exc:
                if exc.status != 404 or v1_tag is None:
                    raise
                log.info("%s: the v2 tag API answered 404; using v1", self.name)
                self.api = "v1"
        if v1_tag is None:
            return []
        data = self.get_object(f"api/search/tag/{v1_tag}/values")
        return sorted(str(v) for v in data.get("tagValues") or [])


def _json_trace(body: bytes, v2: bool) -> bytes:
    """OTLP JSON from Tempo's JSON answers: v2 wraps the trace in {"trace": ...}, v1 calls
    resourceSpans "batches"."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the trace is not valid JSON ({exc})") from None
    if v2 and isinstance(data, dict) and isinstance(data.get("trace"), dict):
        data = data["trace"]
    if isinstance(data, dict) and "batches" in data and "resourceSpans" not in data:
        data = {"resourceSpans": data["batches"]}
    return orjson.dumps(data)


def unwrap_v2_protobuf(body: bytes) -> bytes:
    """The Trace inside a v2 TraceByIDResponse (field 1). A Trace's field 1 is its repeated
    ResourceSpans, so its bytes are a valid OTLP TracesData message."""
    try:
        return b"".join(length_delimited_fields(body).get(1, []))  # repeated parts concatenate
    except DecodeError as exc:
        raise ValueError(f"the protobuf answer is broken: {exc}") from None
