"""OTLP JSON: ExportTraceServiceRequest / TracesData and the shapes that wrap or predate it.

Accepted: `resourceSpans` with `scopeSpans` or the older `instrumentationLibrarySpans`; Tempo's
trace-by-id `batches`; ids in hex or base64; kinds and status codes as names or numbers;
times and intValues as strings or numbers (proto3 JSON writes 64-bit integers as strings).
Field names in either style the protobuf JSON mapping accepts: lowerCamelCase (`stringValue`,
`startTimeUnixNano`) or the original snake_case (`string_value`, `start_time_unix_nano`, as
older Tempo and Grafana write them), mixed within one document too; a snake_case object is
renamed only when its camelCase key is missing, so camelCase input pays nothing.

This is the hot path of the benchmark (50,000 spans against orjson.loads), hence the plain
loops, the string fast path in attributes and a zero-cost try around each span.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from explorer.traces.model import Event, Link, Resource, Scope, Span, SpanKind, StatusCode
from explorer.traces.parsers.common import (
    MAX_INT,
    MAX_VALUE_DEPTH,
    MIN_INT,
    READ_ERRORS,
    BadInput,
    Collected,
    checked_time,
    describe,
    must_be,
    normalise_id,
    optional_id,
    problem_text,
    too_deep,
    unknown_value,
)
from explorer.traces.problems import Message

_KINDS: dict[object, SpanKind] = {}
for _kind in SpanKind:
    _KINDS[int(_kind)] = _kind
    _KINDS[f"SPAN_KIND_{_kind.name}"] = _kind
    _KINDS[_kind.name] = _kind
    _KINDS[_kind.name.lower()] = _kind

_STATUS: dict[object, StatusCode] = {}
for _code in StatusCode:
    _STATUS[int(_code)] = _code
    _STATUS[f"STATUS_CODE_{_code.name}"] = _code
    _STATUS[_code.name] = _code

UNKNOWN_SERVICE = "unknown_service"


def camel_case(obj: Any) -> Any:
    """An object (and everything inside it) with protobuf snake_case field names in the
    lowerCamelCase the rest of this reader expects. Attribute keys are values, not field
    names, so they stay as they are."""
    if type(obj) is list:
        return [camel_case(item) for item in obj]
    if type(obj) is not dict:
        return obj
    return {_camel_name(key): camel_case(value) for key, value in obj.items()}


def _camel_name(name: str) -> str:
    if "_" not in name:
        return name
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def any_value(value: object, depth: int = 0) -> object:
    """An OTLP AnyValue object as the matching Python value (see explorer.traces.model);
    `depth`: arrays and lists it is inside of."""
    if type(value) is not dict:
        raise must_be("attribute value", "object", value)
    if "stringValue" in value:
        text = value["stringValue"]
        if type(text) is not str:
            raise must_be("stringValue", "string", text)
        return text
    if "intValue" in value:
        raw = value["intValue"]
        if type(raw) is bool or type(raw) is float:
            raise must_be("intValue", "integer", raw)
        try:
            number = int(raw)
        except (TypeError, ValueError):
            raise must_be("intValue", "integer", raw) from None
        if not MIN_INT <= number <= MAX_INT:
            raise must_be("intValue", "int64", raw)
        return number
    if "doubleValue" in value:
        raw = value["doubleValue"]
        if type(raw) is bool:
            raise must_be("doubleValue", "number", raw)
        try:
            return float(raw)  # proto3 JSON writes NaN and Infinity as strings
        except (TypeError, ValueError):
            raise must_be("doubleValue", "number", raw) from None
    if "boolValue" in value:
        raw = value["boolValue"]
        if type(raw) is not bool:
            raise must_be("boolValue", "boolean", raw)
        return raw
    if "bytesValue" in value:
        raw = value["bytesValue"]
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise must_be("bytesValue", "base64", raw) from None
    if "arrayValue" in value:
        values = (value["arrayValue"] or {}).get("values") or []
        if type(values) is not list:
            raise must_be("arrayValue.values", "list", values)
        if depth >= MAX_VALUE_DEPTH:
            raise too_deep()
        return [any_value(v, depth + 1) for v in values]
    if "kvlistValue" in value:
        if depth >= MAX_VALUE_DEPTH:
            raise too_deep()
        return attributes((value["kvlistValue"] or {}).get("values") or [], depth + 1)
    if not value:
        return None  # an empty AnyValue is legal OTLP
    if any("_" in key for key in value):
        return any_value(camel_case(value), depth)
    kind = next(iter(value))
    raise unknown_value(f"unknown attribute value type {describe(kind)}", "attribute value", kind)


def attributes(pairs: object, depth: int = 0) -> dict[str, object]:
    """A list of OTLP KeyValue objects as a dict; empty values are left out."""
    if type(pairs) is not list:
        raise must_be("attributes", "key_value_list", pairs)
    result: dict[str, object] = {}
    for pair in pairs:
        key = pair["key"]
        if type(key) is not str:
            raise must_be("attribute key", "string", key)
        value = pair.get("value")
        text = value.get("stringValue") if type(value) is dict else None
        if type(text) is str:
            result[key] = text
            continue
        converted = any_value(value, depth) if value is not None else None
        if converted is not None:
            result[key] = converted
    return result


def resource_of(raw: object) -> Resource:
    if type(raw) is dict and "attributes" not in raw:
        raw = camel_case(raw)
    if not raw:
        return Resource(UNKNOWN_SERVICE, {})
    if type(raw) is not dict:
        raise must_be("resource", "object", raw)
    attrs = attributes(raw.get("attributes") or [])
    service = attrs.get("service.name")
    return Resource(service if type(service) is str and service else UNKNOWN_SERVICE, attrs)


def scope_of(raw: object) -> Scope:
    if not raw:
        return Scope()
    if type(raw) is not dict:
        raise must_be("scope", "object", raw)
    name = raw.get("name") or ""
    version = raw.get("version") or ""
    return Scope(str(name), str(version))


def _events(raw: object) -> list[Event]:
    if type(raw) is not list:
        raise must_be("events", "list", raw)
    events = []
    for item in raw:
        if "timeUnixNano" not in item and "time_unix_nano" in item:
            item = camel_case(item)
        try:
            time_ns = int(item.get("timeUnixNano", 0))
        except (TypeError, ValueError):
            raise must_be("event timeUnixNano", "integer", item["timeUnixNano"]) from None
        checked_time(time_ns, "event timeUnixNano")
        name = item.get("name", "")
        attrs = item.get("attributes")
        events.append(
            Event(
                name if type(name) is str else str(name),
                time_ns,
                attributes(attrs) if attrs else {},
            )
        )
    return events


def _links(raw: object) -> list[Link]:
    if type(raw) is not list:
        raise must_be("links", "list", raw)
    links = []
    for item in raw:
        if "traceId" not in item and "trace_id" in item:
            item = camel_case(item)
        attrs = item.get("attributes")
        links.append(
            Link(
                normalise_id(item.get("traceId"), "link traceId"),
                normalise_id(item.get("spanId"), "link spanId"),
                attributes(attrs) if attrs else {},
            )
        )
    return links


def span_of(raw: dict, resource: Resource, scope: Scope, trace_ids: dict[str, str]) -> Span:
    if "traceId" not in raw and "trace_id" in raw:
        raw = camel_case(raw)
    raw_trace_id = raw["traceId"]
    trace_id = trace_ids.get(raw_trace_id) if type(raw_trace_id) is str else None
    if trace_id is None:
        trace_id = normalise_id(raw_trace_id, "traceId")
        trace_ids[raw_trace_id] = trace_id
    span_id = normalise_id(raw["spanId"], "spanId")
    parent = raw.get("parentSpanId")
    parent_id = optional_id(parent, "parentSpanId") if parent else None
    name = raw.get("name", "")
    if type(name) is not str:
        raise must_be("name", "string", name)
    kind = _KINDS.get(raw.get("kind", 0))
    if kind is None:
        raise unknown_value(f"kind {describe(raw['kind'])} is not a span kind", "kind", raw["kind"])
    start = raw.get("startTimeUnixNano", 0)
    end = raw.get("endTimeUnixNano", 0)
    try:
        start_ns = int(start)
        end_ns = int(end)
    except (TypeError, ValueError):
        got = f"{describe(start)} and {describe(end)}"
        raise BadInput(
            Message(
                f"startTimeUnixNano and endTimeUnixNano must be integers, got {got}",
                "must_be",
                what="startTimeUnixNano, endTimeUnixNano",
                expected="integers",
                got=got,
            )
        ) from None
    checked_time(start_ns, "startTimeUnixNano")
    checked_time(end_ns, "endTimeUnixNano")
    attrs = raw.get("attributes")
    events = raw.get("events")
    links = raw.get("links")
    status = raw.get("status")
    code = StatusCode.UNSET
    message = ""
    if status:
        found = _STATUS.get(status.get("code", 0))
        if found is None:
            raise unknown_value(
                f"status code {describe(status['code'])} is not a status code",
                "status code",
                status["code"],
            )
        code = found
        message = status.get("message") or ""
    return Span(
        trace_id,
        span_id,
        parent_id,
        name,
        kind,
        start_ns,
        end_ns,
        resource,
        attributes(attrs) if attrs else {},
        _events(events) if events else [],
        _links(links) if links else [],
        code,
        message,
        scope,
    )


RESOURCE_SPANS_KEYS = ("resourceSpans", "resource_spans", "batches")
_SCOPE_SPANS_KEYS = (
    "scopeSpans",
    "scope_spans",
    "instrumentationLibrarySpans",
    "instrumentation_library_spans",
)


def read_otlp(document: dict, out: Collected, where: str = "") -> None:
    """Read the spans of one OTLP JSON object holding `resourceSpans` (or Tempo's `batches`)."""
    key = next((k for k in RESOURCE_SPANS_KEYS if k in document), "resourceSpans")
    if key not in document:
        out.warnings.append((where.rstrip("."), "no resourceSpans (or batches): no spans"))
        return
    resource_spans = document.get(key) or []
    if type(resource_spans) is not list:
        out.errors.append(("", problem_text(must_be(f"{where}{key}", "list", resource_spans))))
        return
    trace_ids: dict[str, str] = {}
    append = out.spans.append
    for i, group in enumerate(resource_spans):
        group_where = f"{where}{key}[{i}]"
        try:
            resource = resource_of(group.get("resource"))
            scope_key = next((k for k in _SCOPE_SPANS_KEYS if k in group), "scopeSpans")
            scope_spans = group.get(scope_key) or []
            if type(scope_spans) is not list:
                raise must_be(f"{scope_key}", "list", scope_spans)
        except READ_ERRORS as exc:
            out.errors.append((group_where, problem_text(exc)))
            continue
        for j, scoped in enumerate(scope_spans):
            scoped_where = f"{group_where}.{scope_key}[{j}]"
            try:
                scope = scope_of(
                    scoped.get("scope")
                    or scoped.get("instrumentationLibrary")
                    or scoped.get("instrumentation_library")
                )
                spans = scoped.get("spans") or []
                if type(spans) is not list:
                    raise must_be("spans", "list", spans)
            except READ_ERRORS as exc:
                out.errors.append((scoped_where, problem_text(exc)))
                continue
            for k, raw in enumerate(spans):
                try:
                    append(span_of(raw, resource, scope, trace_ids))
                except READ_ERRORS as exc:
                    out.errors.append((f"{scoped_where}.spans[{k}]", problem_text(exc)))
