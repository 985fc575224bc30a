"""OTLP protobuf (TracesData, or ExportTraceServiceRequest which has the same wire form), as
Tempo returns traces by default. Ids are bytes here and become lower-case hex.

The body is parsed whole (protobuf's C parser, fast); when protobuf refuses it (a value
nested past its limit of 100 messages, say), its frame is walked by hand down to the spans and
each span parsed alone, so that only the spans protobuf refuses are lost.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceMessage
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from explorer.traces.model import Event, Link, Resource, Scope, Span, SpanKind, StatusCode
from explorer.traces.parsers.common import (
    MAX_VALUE_DEPTH,
    READ_ERRORS,
    BadInput,
    Collected,
    checked_time,
    problem_text,
    too_deep,
    unknown_value,
)
from explorer.traces.parsers.otlp_json import UNKNOWN_SERVICE
from explorer.traces.problems import Message


class NotOtlpProto(ValueError):
    pass


def any_value(value, depth: int = 0) -> object:
    """An AnyValue as the matching Python value; `depth`: arrays and lists it is inside of."""
    which = value.WhichOneof("value")
    if which == "array_value":
        if depth >= MAX_VALUE_DEPTH:
            raise too_deep()
        return [any_value(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        if depth >= MAX_VALUE_DEPTH:
            raise too_deep()
        return attributes(value.kvlist_value.values, depth + 1)
    return getattr(value, which) if which else None


def attributes(pairs, depth: int = 0) -> dict[str, object]:
    result = {}
    for pair in pairs:
        converted = any_value(pair.value, depth)
        if converted is not None:
            result[pair.key] = converted
    return result


def _id(raw: bytes, what: str) -> str:
    if not raw:
        raise BadInput(Message(f"{what} is empty", "empty_value", what=what))
    return raw.hex()


# By number: a dict look-up costs a tenth of calling the enum, once or twice a span.
_KINDS = {kind.value: kind for kind in SpanKind}
_STATUSES = {status.value: status for status in StatusCode}


def _kind(number: int) -> SpanKind:
    kind = _KINDS.get(number)
    if kind is None:
        raise unknown_value(f"kind {number} is not a span kind", "kind", number)
    return kind


def _status(number: int) -> StatusCode:
    status = _STATUSES.get(number)
    if status is None:
        raise unknown_value(f"status code {number} is not a status code", "status code", number)
    return status


def span_of(raw, resource: Resource, scope: Scope) -> Span:
    return Span(
        _id(raw.trace_id, "trace_id"),
        _id(raw.span_id, "span_id"),
        raw.parent_span_id.hex() or None,
        raw.name,
        _kind(raw.kind),
        checked_time(raw.start_time_unix_nano, "start_time_unix_nano"),
        checked_time(raw.end_time_unix_nano, "end_time_unix_nano"),
        resource,
        attributes(raw.attributes),
        [
            Event(
                e.name,
                checked_time(e.time_unix_nano, "event time_unix_nano"),
                attributes(e.attributes),
            )
            for e in raw.events
        ],
        [
            Link(
                _id(link.trace_id, "link trace_id"),
                _id(link.span_id, "link span_id"),
                attributes(link.attributes),
            )
            for link in raw.links
        ],
        _status(raw.status.code),
        raw.status.message,
        scope,
    )


def read_proto(data: bytes, out: Collected) -> None:
    message = TracesData()
    try:
        message.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        _read_piecewise(data, out, exc)
        return
    if len(UnknownFieldSet(message)) or not message.resource_spans:
        raise NotOtlpProto("not OTLP protobuf (no resource spans)")
    for i, group in enumerate(message.resource_spans):
        try:
            resource = _resource(group.resource)
        except READ_ERRORS as exc:
            out.errors.append((f"resource_spans[{i}]", problem_text(exc)))
            continue
        for j, scoped in enumerate(group.scope_spans):
            scope = Scope(scoped.scope.name, scoped.scope.version)
            for k, raw in enumerate(scoped.spans):
                try:
                    out.spans.append(span_of(raw, resource, scope))
                except READ_ERRORS as exc:
                    where = f"resource_spans[{i}].scope_spans[{j}].spans[{k}]"
                    out.errors.append((where, problem_text(exc)))


def _resource(message: ResourceMessage) -> Resource:
    attrs = attributes(message.attributes)
    service = attrs.get("service.name")
    return Resource(service if isinstance(service, str) and service else UNKNOWN_SERVICE, attrs)


# What reading one part of a body protobuf refused whole can raise.
_PART_ERRORS = (*READ_ERRORS, DecodeError)


def _read_piecewise(data: bytes, out: Collected, whole: Exception) -> None:
    """The spans of a body protobuf refused whole (`whole`), each parsed alone; a part that
    still fails is reported where it is. NotOtlpProto when the frame itself is broken."""
    try:
        top = length_delimited_fields(data)
    except DecodeError:
        raise NotOtlpProto(f"not OTLP protobuf ({whole})") from None
    if set(top) != {1}:
        raise NotOtlpProto(f"not OTLP protobuf ({whole})")
    for i, group in enumerate(top[1]):
        try:
            fields = length_delimited_fields(group)
            resource = _resource(ResourceMessage.FromString(b"".join(fields.get(1, []))))
        except _PART_ERRORS as exc:
            out.errors.append((f"resource_spans[{i}]", _part_problem(exc)))
            continue
        for j, scoped in enumerate(fields.get(2, [])):
            where = f"resource_spans[{i}].scope_spans[{j}]"
            try:
                parts = length_delimited_fields(scoped)
                found = InstrumentationScope.FromString(b"".join(parts.get(1, [])))
            except _PART_ERRORS as exc:
                out.errors.append((where, _part_problem(exc)))
                continue
            scope = Scope(found.name, found.version)
            for k, raw in enumerate(parts.get(2, [])):
                try:
                    out.spans.append(span_of(SpanMessage.FromString(raw), resource, scope))
                except _PART_ERRORS as exc:
                    out.errors.append((f"{where}.spans[{k}]", _part_problem(exc)))


def _part_problem(exc: Exception) -> str:
    if isinstance(exc, DecodeError):
        return Message(f"not OTLP protobuf ({exc})", "not_trace_data")
    return problem_text(exc)


def length_delimited_fields(data: bytes) -> dict[int, list[bytes]]:
    """A message's length-delimited fields by number (the only kind TracesData, ResourceSpans
    and ScopeSpans have that matter here, and Tempo's TraceByIDResponse; others are skipped);
    DecodeError when the frame is broken."""
    fields: dict[int, list[bytes]] = {}
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = _varint(data, position)
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        elif wire_type == 2:
            size, position = _varint(data, position)
            fields.setdefault(number, []).append(data[position : position + size])
            position += size
        else:
            raise DecodeError(f"wire type {wire_type} at byte {position}")
        if position > end:
            raise DecodeError("truncated message")
    return fields


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at position, and the position after it."""
    result = shift = 0
    while shift < 64:
        if position >= len(data):
            raise DecodeError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
    raise DecodeError("varint longer than 10 bytes")
