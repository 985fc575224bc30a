"""Zipkin v2 JSON: a list of spans.

Mapping into the model:
- localEndpoint.serviceName -> the resource (one Resource per service name);
- remoteEndpoint -> peer attributes: serviceName -> peer.service; ipv4/ipv6 and port ->
  server.address/server.port on CLIENT and PRODUCER spans, client.address/client.port on
  SERVER and CONSUMER spans;
- kind CLIENT/SERVER/PRODUCER/CONSUMER, no kind -> INTERNAL (a local span);
- tags -> attributes (strings); the `error` tag -> status ERROR with its value as the message;
  otel.status_code / otel.status_description / otel.scope.* (or otel.library.*), as the
  OpenTelemetry Zipkin exporter writes them -> status and scope;
- annotations -> events; timestamp and duration are microseconds -> nanoseconds. Zipkin has no
  event attributes, so exporters pack them into the annotation value; both packings in use are
  unpacked into the event's name and attributes: the OpenTelemetry Collector's
  `name|{"key":"value"}|dropped` and the OpenTelemetry SDKs' `{"name":{"key":"value"}}`;
- a `shared` SERVER span reuses its client's span id (B3 single-span RPC). Both halves are kept:
  the server half gets a derived id (stable, so ingesting twice stays idempotent) and the client
  span as parent; spans of the server's service that named the shared id as parent are moved
  under the server half.
"""

from __future__ import annotations

import hashlib
import json

from explorer.traces.model import Event, Resource, Scope, Span, SpanKind, StatusCode
from explorer.traces.parsers.common import (
    READ_ERRORS,
    BadInput,
    Collected,
    describe,
    normalise_id,
    optional_id,
    problem_text,
)
from explorer.traces.parsers.otlp_json import UNKNOWN_SERVICE

_KINDS = {
    "CLIENT": SpanKind.CLIENT,
    "SERVER": SpanKind.SERVER,
    "PRODUCER": SpanKind.PRODUCER,
    "CONSUMER": SpanKind.CONSUMER,
}
_STATUS = {"ERROR": StatusCode.ERROR, "OK": StatusCode.OK, "UNSET": StatusCode.UNSET}


def shared_server_id(trace_id: str, span_id: str) -> str:
    """The id given to the server half of a shared Zipkin span."""
    return hashlib.blake2b(f"{trace_id}/{span_id}/server".encode(), digest_size=8).hexdigest()


def _micros(value: object, what: str) -> int:
    if value is None:
        return 0
    if type(value) is bool:
        raise BadInput(f"{what} must be a number of microseconds, got {describe(value)}")
    try:
        return int(value) * 1000
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a number of microseconds, got {describe(value)}") from None


def _endpoint(raw: object, what: str) -> dict:
    if raw is None:
        return {}
    if type(raw) is not dict:
        raise BadInput(f"{what} must be an object, got {describe(raw)}")
    return raw


def _peer_attributes(remote: dict, kind: SpanKind) -> dict[str, object]:
    attrs: dict[str, object] = {}
    if remote.get("serviceName"):
        attrs["peer.service"] = str(remote["serviceName"])
    side = "server" if kind in (SpanKind.CLIENT, SpanKind.PRODUCER) else "client"
    address = remote.get("ipv4") or remote.get("ipv6")
    if address:
        attrs[f"{side}.address"] = str(address)
    if remote.get("port"):
        attrs[f"{side}.port"] = remote["port"]
    return attrs


def span_of(raw: dict, resources: dict[str, Resource]) -> Span:
    if type(raw) is not dict:
        raise BadInput(f"a Zipkin span must be an object, got {describe(raw)}")
    trace_id = normalise_id(raw["traceId"], "traceId")
    span_id = normalise_id(raw["id"], "id")
    parent_id = optional_id(raw.get("parentId"), "parentId")
    name = raw.get("name") or ""
    if type(name) is not str:
        raise BadInput(f"name must be a string, got {describe(name)}")
    kind_name = raw.get("kind")
    kind = _KINDS.get(kind_name) if kind_name is not None else SpanKind.INTERNAL
    if kind is None:
        raise BadInput(f"kind {describe(kind_name)} is not a Zipkin span kind")
    start_ns = _micros(raw.get("timestamp"), "timestamp")
    end_ns = start_ns + _micros(raw.get("duration"), "duration")
    service = _endpoint(raw.get("localEndpoint"), "localEndpoint").get("serviceName")
    service = service if type(service) is str and service else UNKNOWN_SERVICE
    resource = resources.get(service)
    if resource is None:
        resource = resources[service] = Resource(service, {"service.name": service})

    tags = raw.get("tags") or {}
    if type(tags) is not dict:
        raise BadInput(f"tags must be an object, got {describe(tags)}")
    attrs = _peer_attributes(_endpoint(raw.get("remoteEndpoint"), "remoteEndpoint"), kind)
    attrs.update((str(k), v if type(v) is str else str(v)) for k, v in tags.items())
    status, message = StatusCode.UNSET, ""
    if "error" in attrs:
        status, message = StatusCode.ERROR, attrs.pop("error")
    if attrs.get("otel.status_code") in _STATUS:
        status = _STATUS[attrs.pop("otel.status_code")]
    message = attrs.pop("otel.status_description", message)
    scope = Scope(attrs.pop("otel.scope.name", None) or attrs.pop("otel.library.name", ""),
                  attrs.pop("otel.scope.version", None) or attrs.pop("otel.library.version", ""))

    annotations = raw.get("annotations") or []
    if type(annotations) is not list:
        raise BadInput(f"annotations must be a list, got {describe(annotations)}")
    events = []
    for annotation in annotations:
        event_name, attributes = _event_of(str(annotation.get("value", "")))
        timestamp = _micros(annotation.get("timestamp"), "annotation timestamp")
        events.append(Event(event_name, timestamp, attributes))
    return Span(trace_id, span_id, parent_id, name, kind, start_ns, end_ns, resource, attrs,
                events, [], status, message, scope)


def _event_of(value: str) -> tuple[str, dict]:
    """An annotation value as an event name and attributes (see the module docstring); a value
    in neither packing is the name, with no attributes."""
    packed = None
    name, bar, rest = value.partition("|")
    if bar and rest.startswith("{"):
        attributes_json, bar, dropped = rest.rpartition("|")
        if bar and dropped.isdigit():
            packed = name, _json_object(attributes_json)
    elif value.startswith("{"):
        whole = _json_object(value)
        if whole is not None and len(whole) == 1:
            [(event_name, attributes)] = whole.items()
            packed = event_name, attributes if isinstance(attributes, dict) else None
    if packed is None or packed[1] is None:
        return value, {}
    return packed


def _json_object(text: str) -> dict | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def read_zipkin(document: list, out: Collected) -> None:
    if not document:
        out.warnings.append(("", "an empty list: no spans"))
    resources: dict[str, Resource] = {}
    shared: list[Span] = []
    for i, raw in enumerate(document):
        try:
            span = span_of(raw, resources)
        except READ_ERRORS as exc:
            out.errors.append((f"[{i}]", problem_text(exc)))
            continue
        out.spans.append(span)
        if raw.get("shared") is True and span.kind == SpanKind.SERVER:
            shared.append(span)
    if shared:
        _split_shared(out.spans, shared)


def _split_shared(spans: list[Span], shared: list[Span]) -> None:
    moved = {}  # (trace id, shared id, server service) -> the server half's new id
    for server in shared:
        new_id = shared_server_id(server.trace_id, server.span_id)
        moved[(server.trace_id, server.span_id, server.service)] = new_id
        server.parent_id, server.span_id = server.span_id, new_id
    servers = {id(s) for s in shared}
    for span in spans:
        if span.parent_id is not None and id(span) not in servers:
            new_parent = moved.get((span.trace_id, span.parent_id, span.service))
            if new_parent is not None:
                span.parent_id = new_parent
