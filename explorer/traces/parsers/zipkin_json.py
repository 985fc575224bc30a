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
- a single span object (not in a list) is one span.

Spans are cleaned and merged as Zipkin itself does (zipkin2.internal.Trace.merge, Zipkin Lens's
span-cleaner, span-node and clock-skew), per trace:
- a 64-bit trace id (or one padded to 128 bits) and the one 128-bit id ending in it are one
  trace, under the 128-bit id;
- a parent id equal to the span's own id is dropped; `shared` on a CLIENT span is ignored;
- spans with the same id, the same `shared` flag and compatible local endpoints (service name,
  IPv4, IPv6 and port equal where both give them) are one span sent in pieces: they merge into
  one (the client or first piece wins, missing fields come from the others; tags and
  annotations are united), so a fragment without a timestamp that reuses a client span's id
  completes the client span instead of replacing it;
- spans with the same id on different endpoints stay separate spans: a SERVER answering a
  CLIENT of the same id is marked shared (some instrumentation omits the flag) and gets the
  client's parent when it has none. The id stays with the client (or the first span); every
  other span of that id gets a derived id (stable, so ingesting twice stays idempotent) and,
  when it is a server or consumer answering a client or producer of that id (or shared), that
  span as its parent; otherwise its own parent. A child naming the shared id goes to the span
  of that id on its own endpoint (as Zipkin Lens attaches it), else to the one keeping the id.
  A shared server without its client keeps its propagated parent, so the tree stays one;
- clock skew: a SERVER child of a CLIENT on another host that appears to start before its
  client is moved (with its descendants on that host) by Zipkin Lens's estimate (half the
  difference of the durations as network latency), with a warning;
- a span still without a timestamp after merging is placed at the start of its nearest timed
  ancestor (or of the trace), its duration kept, with a warning, never at epoch 0; when
  nothing in its trace has a timestamp it is rejected.
"""

from __future__ import annotations

import hashlib
import json

from explorer.traces.model import Event, Resource, Scope, Span, SpanKind, StatusCode
from explorer.traces.parsers.common import (
    READ_ERRORS,
    Collected,
    describe,
    micros_to_ns,
    must_be,
    normalise_id,
    optional_id,
    problem_text,
    unknown_value,
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
    """Zipkin leaves a timestamp or duration out (or null) where it has none: 0."""
    return 0 if value is None else micros_to_ns(value, what)


def _endpoint(raw: object, what: str) -> dict:
    if raw is None:
        return {}
    if type(raw) is not dict:
        raise must_be(f"{what}", "object", raw)
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


def clean(raw: object) -> dict:
    """One Zipkin span checked and cleaned: ids normalised, types checked, a self-parent and
    a CLIENT's `shared` dropped, zero times as absent (Zipkin Lens's span-cleaner)."""
    if type(raw) is not dict:
        raise must_be("a Zipkin span", "object", raw)
    span = dict(raw)
    span["traceId"] = normalise_id(raw["traceId"], "traceId")
    span["id"] = normalise_id(raw["id"], "id")
    parent_id = optional_id(raw.get("parentId"), "parentId")
    span["parentId"] = parent_id if parent_id != span["id"] else None
    name = raw.get("name") or ""
    if type(name) is not str:
        raise must_be("name", "string", name)
    span["name"] = "" if name == "unknown" else name
    kind_name = raw.get("kind")
    if kind_name is not None and kind_name not in _KINDS:
        raise unknown_value(
            f"kind {describe(kind_name)} is not a Zipkin span kind", "kind", kind_name
        )
    span["timestamp"] = _micros(raw.get("timestamp"), "timestamp") or None
    span["duration"] = _micros(raw.get("duration"), "duration")
    span["localEndpoint"] = _endpoint(raw.get("localEndpoint"), "localEndpoint")
    span["remoteEndpoint"] = _endpoint(raw.get("remoteEndpoint"), "remoteEndpoint")
    tags = raw.get("tags") or {}
    if type(tags) is not dict:
        raise must_be("tags", "object", tags)
    span["tags"] = tags
    annotations = raw.get("annotations") or []
    if type(annotations) is not list or not all(type(a) is dict for a in annotations):
        raise must_be("annotations", "object_list", annotations)
    span["annotations"] = [
        {
            "timestamp": _micros(a.get("timestamp"), "annotation timestamp"),
            "value": str(a.get("value", "")),
        }
        for a in annotations
    ]
    span["shared"] = raw.get("shared") is True and kind_name != "CLIENT"
    return span


def span_of(span: dict, resources: dict[str, Resource]) -> Span:
    """A cleaned Zipkin span (times in nanoseconds) as a span of the model."""
    kind_name = span.get("kind")
    kind = _KINDS[kind_name] if kind_name is not None else SpanKind.INTERNAL
    start_ns = span["timestamp"] or 0
    end_ns = start_ns + span["duration"]
    service = span["localEndpoint"].get("serviceName")
    service = service if type(service) is str and service else UNKNOWN_SERVICE
    resource = resources.get(service)
    if resource is None:
        resource = resources[service] = Resource(service, {"service.name": service})

    # Status and scope come from the tags (all strings), never from the peer attributes.
    tags = {str(k): v if type(v) is str else str(v) for k, v in span["tags"].items()}
    status, message = StatusCode.UNSET, ""
    if "error" in tags:
        status, message = StatusCode.ERROR, tags.pop("error")
    if tags.get("otel.status_code") in _STATUS:
        status = _STATUS[tags.pop("otel.status_code")]
    message = tags.pop("otel.status_description", message)
    scope = Scope(
        tags.pop("otel.scope.name", "") or tags.pop("otel.library.name", ""),
        tags.pop("otel.scope.version", "") or tags.pop("otel.library.version", ""),
    )
    attrs = _peer_attributes(span["remoteEndpoint"], kind)
    attrs.update(tags)
    events = []
    for annotation in span["annotations"]:
        event_name, attributes = _event_of(annotation["value"])
        events.append(Event(event_name, annotation["timestamp"], attributes))
    return Span(
        span["traceId"],
        span["id"],
        span["parentId"],
        span["name"],
        kind,
        start_ns,
        end_ns,
        resource,
        attrs,
        events,
        [],
        status,
        message,
        scope,
    )


def _event_of(value: str) -> tuple[str, dict]:
    """An annotation value as an event name and attributes (see the module docstring); a value
    in neither packing is the name, with no attributes."""
    name, bar, rest = value.partition("|")
    if bar and rest.startswith("{"):
        attributes_json, bar, dropped = rest.rpartition("|")
        if bar and dropped.isdigit():
            attributes = _json_object(attributes_json)
            if attributes is not None:
                return name, attributes
    elif value.startswith("{"):
        whole = _json_object(value)
        if whole is not None and len(whole) == 1:
            [(event_name, packed)] = whole.items()
            if isinstance(packed, dict):
                return event_name, packed
    return value, {}


def _json_object(text: str) -> dict | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def read_zipkin(document: list | dict, out: Collected) -> None:
    """Read a list of Zipkin v2 spans (or one span object), merged and cleaned per trace."""
    single = type(document) is dict
    raws = [document] if isinstance(document, dict) else document
    if not raws:
        out.warnings.append(("", "an empty list: no spans"))
    traces: dict[str, list[dict]] = {}
    for i, raw in enumerate(raws):
        try:
            span = clean(raw)
        except READ_ERRORS as exc:
            out.errors.append(("" if single else f"[{i}]", problem_text(exc)))
            continue
        span["_position"] = i
        traces.setdefault(span["traceId"], []).append(span)
    traces = _join_trace_id_lengths(traces)
    resources: dict[str, Resource] = {}
    for trace_id, spans in traces.items():
        spans = _merge(spans)
        _separate_shared_ids(trace_id, spans)
        _correct_clock_skew(spans, out)
        for span in _place_untimed(trace_id, spans, out):
            out.spans.append(span_of(span, resources))


def _join_trace_id_lengths(traces: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Zipkin's rule for mixed-length trace ids: a 64-bit id (or one padded with zeros to 128
    bits) and a 128-bit id ending in it are one trace, under the 128-bit id, unless several
    128-bit ids end in it."""
    highs: dict[str, set[str]] = {}
    for trace_id in traces:
        if len(trace_id) == 32 and trace_id[:16].strip("0"):
            highs.setdefault(trace_id[16:], set()).add(trace_id[:16])
    if not highs:
        return traces
    joined: dict[str, list[dict]] = {}
    for trace_id, spans in traces.items():
        low = trace_id[-16:] if len(trace_id) in (16, 32) else None
        high = highs.get(low or "")
        if (
            high is not None
            and len(high) == 1
            and (len(trace_id) == 16 or not trace_id[:16].strip("0"))
        ):
            trace_id = next(iter(high)) + trace_id[-16:]
            for span in spans:
                span["traceId"] = trace_id
        joined.setdefault(trace_id, []).extend(spans)
    return joined


def _endpoint_key(span: dict) -> tuple:
    endpoint = span["localEndpoint"]
    return (
        endpoint.get("serviceName"),
        endpoint.get("ipv4"),
        endpoint.get("ipv6"),
        endpoint.get("port"),
    )


def _cleanup_order(span: dict) -> tuple:
    """Zipkin's merge order: by id; non-shared first, clients first among them; spans without
    a local endpoint first, then by service name, IPv4, IPv6 (absent values last)."""
    rank = 2 if span["shared"] else (0 if span.get("kind") == "CLIENT" else 1)
    endpoint = span["localEndpoint"]
    return (
        span["id"],
        rank,
        bool(endpoint),
        *((value is None, str(value or "")) for value in _endpoint_key(span)[:3]),
    )


def _compatible(seen: dict, endpoint: dict) -> bool:
    """Zipkin's EndpointTracker: whether an endpoint may belong to the same span as the ones
    seen so far (no field contradicts); if so, its fields are added to `seen`."""
    for field in ("serviceName", "ipv4", "ipv6", "port"):
        if seen.get(field) and endpoint.get(field) and seen[field] != endpoint[field]:
            return False
    for field in ("serviceName", "ipv4", "ipv6", "port"):
        if not seen.get(field) and endpoint.get(field):
            seen[field] = endpoint[field]
    return True


def _merged(left: dict, right: dict) -> dict:
    """Two pieces of one span: the left one's values win, the right one fills what is missing;
    endpoints and tags are united, annotations too (without duplicates, by time)."""
    span = dict(left)
    for field in ("parentId", "name", "kind", "timestamp", "duration"):
        span[field] = left.get(field) or right.get(field)
    for field in ("localEndpoint", "remoteEndpoint", "tags"):
        span[field] = {**left[field], **right[field]}
    annotations = {
        (a["timestamp"], a["value"]): a for a in left["annotations"] + right["annotations"]
    }
    span["annotations"] = [annotations[key] for key in sorted(annotations)]
    span["shared"] = left["shared"] or right["shared"]
    span["_position"] = min(left["_position"], right["_position"])
    return span


def _merge(spans: list[dict]) -> list[dict]:
    """Zipkin's Trace.merge over the spans of one trace, in the input order of each result's
    first piece."""
    ordered = sorted(spans, key=_cleanup_order)
    result: list[dict] = []
    seen: dict = {}
    for span in ordered:
        last = result[-1] if result else None
        if last is not None and last["id"] == span["id"]:
            if last["shared"] == span["shared"] and _compatible(seen, span["localEndpoint"]):
                result[-1] = _merged(last, span)
                continue
            if last.get("kind") == "CLIENT" and span.get("kind") == "SERVER":
                span = {**span, "shared": True}  # some instrumentation omits the flag
            if span["shared"] and not span["parentId"] and last["parentId"]:
                span = {**span, "parentId": last["parentId"]}
        seen = dict(span["localEndpoint"])
        result.append(span)
    result.sort(key=lambda s: s["_position"])
    return result


_CALLERS = ("CLIENT", "PRODUCER")
_ANSWERS = ("SERVER", "CONSUMER")


def _separate_shared_ids(trace_id: str, spans: list[dict]) -> None:
    """Give every span of an id used on several endpoints but one a derived id, and its
    parent (see the module docstring)."""
    by_id: dict[str, list[dict]] = {}
    for span in spans:
        by_id.setdefault(span["id"], []).append(span)
    # id -> (the endpoint of the span keeping it or None, endpoint -> id of that endpoint's span)
    moved: dict[str, tuple[tuple | None, dict[tuple, str]]] = {}
    for span_id, group in by_id.items():
        callers = [s for s in group if not s["shared"]]
        keeper = min(
            callers,
            key=lambda s: (s.get("kind") not in _CALLERS, s["timestamp"] or 0, s["_position"]),
            default=None,
        )
        if keeper is None and len(group) == 1 and not group[0]["parentId"]:
            continue  # a shared root without its client: an ordinary root, as in Zipkin Lens
        if len(group) == 1 and keeper is not None:
            continue
        endpoints: dict[tuple, str] = {}
        moved[span_id] = (_endpoint_key(keeper) if keeper else None, endpoints)
        shared_servers = len(group) - len(callers)
        for span in group:
            if span is keeper:
                continue
            if span["shared"] and shared_servers == 1:
                span["id"] = shared_server_id(trace_id, span_id)
            else:
                span["id"] = _derived_id(trace_id, span_id, span)
            if keeper is not None and (
                span["shared"] or (keeper.get("kind") in _CALLERS and span.get("kind") in _ANSWERS)
            ):
                span["parentId"] = span_id
            endpoints.setdefault(_endpoint_key(span), span["id"])
    for span in spans:
        parent = span["parentId"]
        if parent is None or parent not in moved:
            continue
        kept, endpoints = moved[parent]
        key = _endpoint_key(span)
        if key == kept:
            continue
        new_parent = endpoints.get(key)
        if new_parent is None:
            same_service = [i for e, i in endpoints.items() if e[0] == key[0]]
            new_parent = same_service[0] if same_service else None
        if new_parent is None and kept is None:
            new_parent = next(iter(endpoints.values()))
        if new_parent is not None and new_parent != span["id"]:
            span["parentId"] = new_parent


def _derived_id(trace_id: str, span_id: str, span: dict) -> str:
    """The id of another span reusing `span_id`, from its endpoint and kind."""
    identity = "/".join(str(v) for v in (*_endpoint_key(span), span.get("kind"), span["shared"]))
    return hashlib.blake2b(f"{trace_id}/{span_id}/{identity}".encode(), digest_size=8).hexdigest()


def _same_host(a: dict, b: dict) -> bool:
    """Zipkin Lens's ipsMatch: the same IPv6, or the same IPv4 when either has one."""
    if a.get("ipv6") and a.get("ipv6") == b.get("ipv6"):
        return True
    if not a.get("ipv4") and not b.get("ipv4"):
        return False
    return a.get("ipv4") == b.get("ipv4")


def _skew_of(client: dict, server: dict) -> int | None:
    """Zipkin Lens's getClockSkew (in nanoseconds) of a SERVER under a CLIENT, or None."""
    if client.get("kind") != "CLIENT" or server.get("kind") != "SERVER":
        return None
    client_ts, server_ts = client["timestamp"], server["timestamp"]
    if not client_ts or not server_ts or server_ts > client_ts:
        return None
    if not client["localEndpoint"] or not server["localEndpoint"]:
        return None
    if _same_host(server["localEndpoint"], client["localEndpoint"]):
        return None
    client_duration, server_duration = client["duration"], server["duration"]
    if not client_duration or not server_duration:  # one-way: push them 1 µs apart
        latency = server_ts - client_ts
        return latency - 1000 if latency <= 0 else None
    if client_duration < server_duration:
        return server_ts - client_ts - 1000
    latency = (client_duration - server_duration) // 2
    skew = server_ts - latency - client_ts
    return skew or None


def _correct_clock_skew(spans: list[dict], out: Collected) -> None:
    """Zipkin Lens's clock-skew correction, from the trace's only root down."""
    by_id = {span["id"]: span for span in spans}
    roots = [s for s in spans if s["parentId"] is None or s["parentId"] not in by_id]
    if len(roots) != 1:
        return  # Zipkin Lens corrects nothing on a headless trace or one with redundant roots
    children: dict[str, list[dict]] = {}
    for span in spans:
        if span is not roots[0] and span["parentId"] in by_id:
            children.setdefault(span["parentId"], []).append(span)
    stack: list[tuple[dict, tuple[dict, int] | None]] = [(roots[0], None)]
    visited = set()
    while stack:
        span, inherited = stack.pop()
        if id(span) in visited:
            continue
        visited.add(id(span))
        if inherited is not None:
            _shift(span, *inherited)
        parent = by_id.get(span["parentId"]) if span is not roots[0] else None
        skew = _skew_of(parent, span) if parent is not None else None
        if skew is not None:
            host = span["localEndpoint"]
            _shift(span, host, skew)
            out.warnings.append(
                (
                    f"[{span['_position']}]",
                    (
                        f"clock skew: span {span['id']} of "
                        f"{host.get('serviceName') or host.get('ipv4') or host.get('ipv6')} starts "
                        f"before its client; moved by {skew // 1000} µs as Zipkin does"
                    ),
                )
            )
            inherited = (host, skew)
        stack.extend((child, inherited) for child in children.get(span["id"], ()))


def _shift(span: dict, host: dict, skew: int) -> None:
    if not _same_host(host, span["localEndpoint"]):
        return
    if span["timestamp"]:
        span["timestamp"] -= skew
    span["annotations"] = [
        {"timestamp": a["timestamp"] - skew, "value": a["value"]} for a in span["annotations"]
    ]


def _place_untimed(trace_id: str, spans: list[dict], out: Collected) -> list[dict]:
    """The spans of a trace, those without a timestamp placed at their nearest timed
    ancestor's start (or the trace's), never at epoch 0; rejected when nothing is timed."""
    timed = [s["timestamp"] for s in spans if s["timestamp"]]
    by_id = {span["id"]: span for span in spans}
    kept = []
    for span in spans:
        if span["timestamp"]:
            kept.append(span)
            continue
        where = f"[{span['_position']}]"
        if not timed:
            out.errors.append(
                (
                    where,
                    f"span {span['id']} of trace {trace_id} has no timestamp "
                    "and nothing in its trace has one to place it by",
                )
            )
            continue
        ancestor, seen = by_id.get(span["parentId"] or ""), {span["id"]}
        while ancestor is not None and not ancestor["timestamp"] and ancestor["id"] not in seen:
            seen.add(ancestor["id"])
            ancestor = by_id.get(ancestor["parentId"] or "")
        if ancestor is not None and ancestor["timestamp"]:
            span["timestamp"], what = ancestor["timestamp"], f"its ancestor {ancestor['id']}"
        else:
            span["timestamp"], what = min(timed), "its trace"
        out.warnings.append(
            (
                where,
                f"span {span['id']} has no timestamp and no timed span of "
                f"the same id to merge into: placed at the start of {what}",
            )
        )
        kept.append(span)
    return kept
