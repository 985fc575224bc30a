"""The one span builder and the one OTLP writer of the tests.

    make_span("b", "a", service="shop-api", kind=SpanKind.SERVER, start_ns=.., end_ns=..)
    span = span_factory(T0, MS, trace_id="t1", resource=SHOP)   # times in ms after T0
    span("b", "a", 5, 15, name="INSERT shop.orders")            # make_span with those defaults
    otlp_json(traces)          # an OTLP/JSON TracesData document (ids as the spans hold them)
    write_otlp(path, traces)   # that document in a file the parsers read
    otlp_proto(traces)         # the same as protobuf TracesData (hex ids only)

Every test builds its spans with make_span, directly or through a span_factory that says once
which time unit and which defaults its file uses; c4_support.TraceBuilder builds on it too.
Whole scenarios (an order with a lost message...) are data files: see scenario_support.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import orjson
from google.protobuf import json_format
from opentelemetry.proto.trace.v1 import trace_pb2

from explorer.traces.model import (
    Event,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    StatusCode,
    Trace,
)

_RESOURCES: dict[str, Resource] = {}


def resource(service: str) -> Resource:
    """A service's resource, with service.name among its attributes (one object per name)."""
    return _RESOURCES.setdefault(service, Resource(service, {"service.name": service}))


def make_span(
    span_id: str,
    parent_id: str | None = None,
    service: str = "svc",
    *,
    trace_id: str = "t1",
    name: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_ns: int = 0,
    end_ns: int = 10,
    resource: Resource | None = None,
    attributes: Mapping | None = None,
    events: Iterable[Event] = (),
    links: Iterable[Link] = (),
    error: bool = False,
    follows: bool = False,
    **fields,
) -> Span:
    """A span with defaults for what a test does not care about: named "op-<span id>", of
    `service` (a resource without attributes) unless `resource` is given; `error` sets the
    ERROR status, `follows` the FOLLOWS_FROM reference; `fields` are the other fields of Span
    (status_code, status_message, scope)."""
    if error:
        fields["status_code"] = StatusCode.ERROR
    if follows:
        fields["parent_ref"] = RefType.FOLLOWS_FROM
    return Span(
        trace_id,
        span_id,
        parent_id,
        f"op-{span_id}" if name is None else name,
        kind,
        start_ns,
        end_ns,
        resource or Resource(service),
        dict(attributes or {}),
        events=list(events),
        links=list(links),
        **fields,
    )


def span_factory(origin: int = 0, unit: int = 1, **defaults) -> Callable[..., Span]:
    """make_span with times counted in `unit` nanoseconds after `origin` and `defaults` for
    its keyword arguments: span(span_id, parent_id, start, end, **make_span keywords), or
    `duration` instead of `end`. A test file says once how it counts time and what its spans
    share, and each span then names only what differs."""

    def span(
        span_id: str,
        parent_id: str | None = None,
        start: float = 0,
        end: float | None = None,
        *,
        duration: float = 10,
        **fields,
    ) -> Span:
        start_ns = origin + int(start * unit)
        end_ns = origin + int(end * unit) if end is not None else start_ns + int(duration * unit)
        return make_span(
            span_id, parent_id, start_ns=start_ns, end_ns=end_ns, **{**defaults, **fields}
        )

    return span


def otlp_value(value) -> dict:
    """An OTLP/JSON AnyValue."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [otlp_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": otlp_attributes(value)}}
    return {"stringValue": str(value)}


def otlp_attributes(attributes: Mapping) -> list[dict]:
    return [{"key": key, "value": otlp_value(value)} for key, value in attributes.items()]


def _span_json(span: Span) -> dict:
    out = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": int(span.kind),
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": otlp_attributes(span.attributes),
        "events": [
            {
                "timeUnixNano": str(e.time_ns),
                "name": e.name,
                "attributes": otlp_attributes(e.attributes),
            }
            for e in span.events
        ],
        "links": [
            {
                "traceId": link.trace_id,
                "spanId": link.span_id,
                "attributes": otlp_attributes(link.attributes),
            }
            for link in span.links
        ],
        "status": {"code": int(span.status_code), "message": span.status_message},
    }
    if span.parent_id:
        out["parentSpanId"] = span.parent_id
    return out


def otlp_json(traces: Iterable[Trace]) -> dict:
    """OTLP/JSON as the OpenTelemetry spec writes it: spans grouped by resource and scope,
    enums as numbers, 64-bit numbers as strings; ids as the spans hold them (hex stays hex)."""
    groups: dict[str, tuple[Resource, dict[Scope, list[Span]]]] = {}
    for trace in traces:
        for span in trace.spans:
            found, scopes = groups.setdefault(repr(span.resource), (span.resource, {}))
            scopes.setdefault(span.scope, []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": otlp_attributes(
                        {"service.name": found.service_name, **found.attributes}
                    )
                },
                "scopeSpans": [
                    {
                        "scope": {"name": scope.name, "version": scope.version},
                        "spans": [_span_json(s) for s in spans],
                    }
                    for scope, spans in scopes.items()
                ],
            }
            for found, scopes in groups.values()
        ]
    }


def write_otlp(path: Path, traces: Iterable[Trace]) -> Path:
    path.write_bytes(orjson.dumps(otlp_json(traces)))
    return path


_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def otlp_proto(traces: Iterable[Trace]) -> trace_pb2.TracesData:
    """otlp_json() as protobuf TracesData (the ids must be hex)."""
    document = otlp_json(traces)

    def base64_ids(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_KEYS and isinstance(value, str):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                else:
                    base64_ids(value)
        elif isinstance(node, list):
            for item in node:
                base64_ids(item)

    base64_ids(document)
    return json_format.ParseDict(document, trace_pb2.TracesData())
