"""OTLP protobuf (TracesData, or ExportTraceServiceRequest which has the same wire form), as
Tempo returns traces by default. Ids are bytes here and become lower-case hex."""

from __future__ import annotations

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from explorer.traces.model import Event, Link, Resource, Scope, Span, SpanKind, StatusCode
from explorer.traces.parsers.common import READ_ERRORS, BadInput, Collected, problem_text
from explorer.traces.parsers.otlp_json import UNKNOWN_SERVICE


class NotOtlpProto(ValueError):
    pass


def any_value(value) -> object:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, which) if which else None


def attributes(pairs) -> dict[str, object]:
    result = {}
    for pair in pairs:
        converted = any_value(pair.value)
        if converted is not None:
            result[pair.key] = converted
    return result


def _id(raw: bytes, what: str) -> str:
    if not raw:
        raise BadInput(f"{what} is empty")
    return raw.hex()


# By number: a dict look-up costs a tenth of calling the enum, once or twice a span.
_KINDS = {kind.value: kind for kind in SpanKind}
_STATUSES = {status.value: status for status in StatusCode}


def _kind(number: int) -> SpanKind:
    kind = _KINDS.get(number)
    if kind is None:
        raise BadInput(f"kind {number} is not a span kind")
    return kind


def _status(number: int) -> StatusCode:
    status = _STATUSES.get(number)
    if status is None:
        raise BadInput(f"status code {number} is not a status code")
    return status


def span_of(raw, resource: Resource, scope: Scope) -> Span:
    return Span(
        _id(raw.trace_id, "trace_id"),
        _id(raw.span_id, "span_id"),
        raw.parent_span_id.hex() or None,
        raw.name,
        _kind(raw.kind),
        raw.start_time_unix_nano,
        raw.end_time_unix_nano,
        resource,
        attributes(raw.attributes),
        [Event(e.name, e.time_unix_nano, attributes(e.attributes)) for e in raw.events],
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
        raise NotOtlpProto(f"not OTLP protobuf ({exc})") from None
    if len(UnknownFieldSet(message)) or not message.resource_spans:
        raise NotOtlpProto("not OTLP protobuf (no resource spans)")
    for i, group in enumerate(message.resource_spans):
        attrs = attributes(group.resource.attributes)
        service = attrs.get("service.name")
        resource = Resource(
            service if isinstance(service, str) and service else UNKNOWN_SERVICE, attrs
        )
        for j, scoped in enumerate(group.scope_spans):
            scope = Scope(scoped.scope.name, scoped.scope.version)
            for k, raw in enumerate(scoped.spans):
                try:
                    out.spans.append(span_of(raw, resource, scope))
                except READ_ERRORS as exc:
                    where = f"resource_spans[{i}].scope_spans[{j}].spans[{k}]"
                    out.errors.append((where, problem_text(exc)))
