"""Jaeger classic JSON: `/api/traces` responses, single traces and Jaeger UI's own trace files.

Shapes accepted: {"data": [trace, ...]}, {"data": trace}, a trace {"traceID", "spans",
"processes"}, a list of traces, and a list of spans that each carry their "process".

Mapping into the model (the inverse of what Jaeger does when it converts OTLP to its JSON, so
that both forms of one trace normalise to the same spans):
- references: the parent is the first CHILD_OF reference to the same trace, else the first
  FOLLOWS_FROM one (parent_ref FOLLOWS_FROM). Jaeger's query service puts a CHILD_OF reference
  first for Jaeger UI, which then takes references[0]. Other references become links.
- process: serviceName -> Resource.service_name and the resource attribute "service.name";
  process tags -> resource attributes.
- tags bookkeeping that the model holds elsewhere is taken out of the attributes:
  span.kind -> kind; error=true / otel.status_code -> status; otel.status_description -> status
  message; otel.library.* / otel.scope.* -> scope; internal.span.format is dropped (it only says
  which format the span arrived in at Jaeger).
- tags and log fields are typed by their "type" (string, bool, int64, float64, binary).
- logs -> events, named by their "event" field (or "message"); timestamps, startTime and
  duration are microseconds -> nanoseconds.
"""

from __future__ import annotations

import base64
import binascii

from explorer.traces.model import (
    Event,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    StatusCode,
)
from explorer.traces.parsers.common import (
    READ_ERRORS,
    BadInput,
    Collected,
    describe,
    micros_to_ns,
    must_be,
    normalise_id,
    problem_text,
    unknown_value,
)
from explorer.traces.parsers.otlp_json import UNKNOWN_SERVICE
from explorer.traces.problems import Message

_KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
_STATUS = {"ERROR": StatusCode.ERROR, "OK": StatusCode.OK, "UNSET": StatusCode.UNSET}
_DROPPED_TAGS = ("internal.span.format",)


def tag_value(tag: dict) -> object:
    """A Jaeger tag's value as the Python type its "type" names."""
    value = tag.get("value")
    kind = tag.get("type", "string")
    if kind == "bool" or kind == "boolean":
        if type(value) is bool:
            return value
        if value in ("true", "false"):
            return value == "true"
    elif kind == "int64":
        if isinstance(value, (int, str)) and type(value) is not bool:
            try:
                return int(value)
            except ValueError:
                pass
    elif kind == "float64":
        if isinstance(value, (int, float, str)) and type(value) is not bool:
            try:
                return float(value)
            except ValueError:
                pass
    elif kind == "binary":
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                pass
    elif kind == "string":
        if type(value) is str:
            return value
    else:
        text = f"tag {describe(tag.get('key'))} has unknown type {describe(kind)}"
        raise unknown_value(text, f"tag {describe(tag.get('key'))} type", kind)
    what = f"tag {describe(tag.get('key'))} ({kind})"
    raise unknown_value(
        f"tag {describe(tag.get('key'))} of type {kind} has value {describe(value)}", what, value
    )


def tags_of(tags: object) -> dict[str, object]:
    if tags is None:
        return {}
    if type(tags) is not list:
        raise must_be("tags", "list", tags)
    result = {}
    for tag in tags:
        key = tag["key"]
        if type(key) is not str:
            raise must_be("tag key", "string", key)
        result[key] = tag_value(tag)
    return result


def _resource(process: object) -> Resource:
    if type(process) is not dict:
        raise must_be("process", "object", process)
    attrs = tags_of(process.get("tags"))
    service = process.get("serviceName")
    if type(service) is not str or not service:
        service = UNKNOWN_SERVICE
    attrs["service.name"] = service
    return Resource(service, attrs)


def _parent_and_links(span: dict, trace_id: str) -> tuple[str | None, RefType, list[Link]]:
    references = span.get("references") or []
    if type(references) is not list:
        raise must_be("references", "list", references)
    refs = []
    for ref in references:
        ref_trace = ref.get("traceID")
        refs.append(
            (
                ref.get("refType", "CHILD_OF"),
                normalise_id(ref_trace, "reference traceID") if ref_trace else trace_id,
                normalise_id(ref.get("spanID"), "reference spanID"),
            )
        )
    parent = next((r for r in refs if r[0] == "CHILD_OF" and r[1] == trace_id), None)
    if parent is None:
        parent = next((r for r in refs if r[0] == "FOLLOWS_FROM" and r[1] == trace_id), None)
    if parent is None and span.get("parentSpanID") not in (None, "", "0"):
        parent = ("CHILD_OF", trace_id, normalise_id(span["parentSpanID"], "parentSpanID"))
    links = [Link(r[1], r[2]) for r in refs if r is not parent]
    if parent is None:
        return None, RefType.CHILD_OF, links
    ref_type = RefType.FOLLOWS_FROM if parent[0] == "FOLLOWS_FROM" else RefType.CHILD_OF
    return parent[2], ref_type, links


def _events(logs: object) -> list[Event]:
    if not logs:
        return []
    if type(logs) is not list:
        raise must_be("logs", "list", logs)
    events = []
    for log in logs:
        fields = tags_of(log.get("fields"))
        name = fields.pop("event", None)
        if name is None:
            name = fields.pop("message", "log")
        events.append(
            Event(str(name), micros_to_ns(log.get("timestamp", 0), "log timestamp"), fields)
        )
    return events


def span_of(raw: dict, resource: Resource, trace_id: object = None) -> Span:
    """One Jaeger span; `trace_id` is its trace's, for spans that do not repeat it (Jaeger
    UI's own fixtures leave it out)."""
    trace_id = normalise_id(
        raw["traceID"] if "traceID" in raw or trace_id is None else trace_id, "traceID"
    )
    span_id = normalise_id(raw["spanID"], "spanID")
    name = raw.get("operationName", "")
    if type(name) is not str:
        raise must_be("operationName", "string", name)
    parent_id, ref_type, links = _parent_and_links(raw, trace_id)
    start_ns = micros_to_ns(raw.get("startTime", 0), "startTime")
    end_ns = start_ns + micros_to_ns(raw.get("duration", 0), "duration")
    attrs = tags_of(raw.get("tags"))
    kind = SpanKind.UNSPECIFIED
    kind_tag = attrs.get("span.kind")
    if isinstance(kind_tag, str) and kind_tag in _KINDS:
        kind = _KINDS[kind_tag]
        del attrs["span.kind"]
    status = StatusCode.UNSET
    if attrs.get("error") in (True, "true"):
        status = StatusCode.ERROR
    if attrs.get("error") in (True, False, "true", "false"):
        del attrs["error"]
    code = attrs.get("otel.status_code")
    if isinstance(code, str) and code in _STATUS:
        status = _STATUS[code]
        del attrs["otel.status_code"]
    message = attrs.pop("otel.status_description", "")
    scope_name = attrs.pop("otel.scope.name", None) or attrs.pop("otel.library.name", "")
    scope_version = attrs.pop("otel.scope.version", None) or attrs.pop("otel.library.version", "")
    for key in _DROPPED_TAGS:
        attrs.pop(key, None)
    return Span(
        trace_id,
        span_id,
        parent_id,
        name,
        kind,
        start_ns,
        end_ns,
        resource,
        attrs,
        _events(raw.get("logs")),
        links,
        status,
        str(message),
        Scope(str(scope_name), str(scope_version)),
        ref_type,
    )


def read_trace(trace: dict, out: Collected, where: str) -> None:
    """One Jaeger trace object: {"traceID", "spans": [...], "processes": {...}}."""
    spans = trace.get("spans") or []
    processes = trace.get("processes") or {}
    if type(spans) is not list or type(processes) is not dict:
        out.errors.append(
            (where, Message("spans must be a list and processes an object", "jaeger_shape"))
        )
        return
    resources: dict[str, Resource] = {}
    read_spans(spans, processes, resources, out, where, trace.get("traceID"))


def read_spans(
    spans: list,
    processes: dict,
    resources: dict[str, Resource],
    out: Collected,
    where: str,
    trace_id: object = None,
) -> None:
    for i, raw in enumerate(spans):
        try:
            process = raw.get("process")
            if process is None:
                process_id = raw.get("processID")
                resource = resources.get(process_id) if type(process_id) is str else None
                if resource is None:
                    if process_id not in processes:
                        got = describe(process_id)
                        raise BadInput(
                            Message(
                                f"processID {got} is not in processes", "unknown_process", got=got
                            )
                        )
                    resource = resources[process_id] = _resource(processes[process_id])
            else:
                resource = _resource(process)
            out.spans.append(span_of(raw, resource, trace_id))
        except READ_ERRORS as exc:
            out.errors.append((f"{where}spans[{i}]", problem_text(exc)))


def read_jaeger(document: object, out: Collected) -> None:
    """Any of the Jaeger JSON shapes listed in the module docstring."""
    if type(document) is dict and "data" in document:
        for message in document.get("errors") or []:
            out.warnings.append(("errors", f"the Jaeger response reports: {describe(message)}"))
        document = document["data"]
        prefix = "data"
    else:
        prefix = ""
    if type(document) is dict:
        read_trace(document, out, f"{prefix}." if prefix else "")
        return
    if type(document) is not list:
        out.errors.append((prefix, f"expected a trace or traces, got {describe(document)}"))
        return
    if document and type(document[0]) is dict and "spanID" in document[0]:
        read_spans(document, {}, {}, out, f"{prefix}")
        return
    for i, trace in enumerate(document):
        where = f"{prefix}[{i}]"
        if type(trace) is not dict:
            out.errors.append((where, f"expected a trace object, got {describe(trace)}"))
            continue
        read_trace(trace, out, where + ".")
