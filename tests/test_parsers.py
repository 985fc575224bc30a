"""Parsers: every supported format, auto-detected and explicit, from fixtures built here.

The builders below are also used by the other tests/test_parsers_*.py modules."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest

from explorer.traces.model import Event, Link, RefType, Scope, SpanKind, StatusCode
from explorer.traces.normalise import normalise
from explorer.traces.parsers import iter_file, parse_bytes

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
START = 1_700_000_000_000_000_000


def otlp_span(
    span_id: str,
    *,
    parent: str = "",
    name: str = "op",
    kind: object = 2,
    start: object = None,
    end: object = None,
    trace_id: str = TRACE_ID,
    **extra: object,
) -> dict:
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(START) if start is None else start,
        "endTimeUnixNano": str(START + 1_000_000) if end is None else end,
    }
    span.update(extra)
    return span


def otlp_doc(
    spans: list[dict],
    *,
    service: str = "shop-api",
    resource_key: str = "resourceSpans",
    scope_key: str = "scopeSpans",
    scope_name_key: str = "scope",
) -> dict:
    return {
        resource_key: [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "host.name", "value": {"stringValue": "node-1"}},
                    ]
                },
                scope_key: [
                    {
                        scope_name_key: {"name": "io.opentelemetry.spring", "version": "2.1"},
                        "spans": spans,
                    }
                ],
            }
        ]
    }


def otlp_bytes(spans: list[dict], **kwargs: object) -> bytes:
    return orjson.dumps(otlp_doc(spans, **kwargs))


def jaeger_span(
    span_id: str,
    *,
    refs: list[tuple[str, str]] = (),
    name: str = "op",
    start_us: int = 1_700_000_000_000_000,
    duration_us: int = 1000,
    tags: list[dict] = (),
    logs: list[dict] = (),
    process_id: str = "p1",
    trace_id: str = "0af7651916cd43dd",
) -> dict:
    return {
        "traceID": trace_id,
        "spanID": span_id,
        "operationName": name,
        "references": [{"refType": t, "traceID": trace_id, "spanID": s} for t, s in refs],
        "startTime": start_us,
        "duration": duration_us,
        "tags": list(tags),
        "logs": list(logs),
        "processID": process_id,
        "warnings": None,
    }


def jaeger_trace(spans: list[dict], processes: dict | None = None) -> dict:
    return {
        "traceID": spans[0]["traceID"] if spans else "",
        "spans": spans,
        "processes": processes
        or {
            "p1": {
                "serviceName": "crm-api",
                "tags": [{"key": "hostname", "type": "string", "value": "crm-1"}],
            }
        },
    }


def zipkin_span(
    span_id: str,
    *,
    parent: str | None = None,
    kind: str | None = "SERVER",
    service: str = "mes-api",
    trace_id: str = "463ac35c9f6413ad48485a3953bb6124",
    **extra: object,
) -> dict:
    span = {
        "traceId": trace_id,
        "id": span_id,
        "name": "get /orders",
        "timestamp": 1_700_000_000_000_000,
        "duration": 2500,
        "localEndpoint": {"serviceName": service, "ipv4": "10.0.0.5"},
    }
    if parent:
        span["parentId"] = parent
    if kind:
        span["kind"] = kind
    span.update(extra)
    return span


# --- OTLP JSON -------------------------------------------------------------------------------


def test_otlp_json_spans_resource_scope_and_times():
    data = otlp_bytes(
        [
            otlp_span(
                "b7ad6b7169203331",
                name="POST /api/orders",
                kind=2,
                status={"code": 2, "message": "boom"},
            ),
            otlp_span(
                "00f067aa0ba902b7",
                parent="b7ad6b7169203331",
                kind=3,
                start=START + 10,
                end=START + 20,
            ),
        ]
    )
    result = parse_bytes(data)
    assert result.errors == [] and result.format == "otlp-json"
    [trace] = result.traces
    assert trace.trace_id == TRACE_ID
    root, child = trace.spans
    assert (root.name, root.kind, root.status_code, root.status_message) == (
        "POST /api/orders",
        SpanKind.SERVER,
        StatusCode.ERROR,
        "boom",
    )
    assert root.start_ns == START and root.end_ns == START + 1_000_000
    assert (child.parent_id, child.kind, child.start_ns, child.end_ns) == (
        "b7ad6b7169203331",
        SpanKind.CLIENT,
        START + 10,
        START + 20,
    )
    assert root.resource is child.resource  # one Resource per resourceSpans entry
    assert root.resource.service_name == "shop-api"
    assert root.resource.attributes == {"service.name": "shop-api", "host.name": "node-1"}
    assert root.scope == Scope("io.opentelemetry.spring", "2.1")
    assert trace.roots() == [root]


def test_otlp_json_kind_and_status_as_names_and_times_as_numbers():
    data = otlp_bytes(
        [
            otlp_span(
                "b7ad6b7169203331",
                kind="SPAN_KIND_PRODUCER",
                start=START,
                end=START + 5,
                status={"code": "STATUS_CODE_OK"},
            )
        ]
    )
    [span] = parse_bytes(data).traces[0].spans
    assert (span.kind, span.status_code, span.end_ns) == (
        SpanKind.PRODUCER,
        StatusCode.OK,
        START + 5,
    )


def test_otlp_json_every_attribute_value_type():
    def kv(key, value):
        return {"key": key, "value": value}

    attributes = [
        kv("s", {"stringValue": "A-100042"}),
        kv("i_text", {"intValue": "9007199254740993"}),
        kv("i_number", {"intValue": 42}),
        kv("d", {"doubleValue": 1.5}),
        kv("b", {"boolValue": True}),
        kv("raw", {"bytesValue": base64.b64encode(b"\x00\x01\xff").decode()}),
        kv("list", {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "2"}]}}),
        kv("map", {"kvlistValue": {"values": [kv("inner", {"boolValue": False})]}}),
        kv("empty_list", {"arrayValue": {}}),
    ]
    data = otlp_bytes([otlp_span("b7ad6b7169203331", attributes=attributes)])
    [span] = parse_bytes(data).traces[0].spans
    assert span.attributes == {
        "s": "A-100042",
        "i_text": 9007199254740993,
        "i_number": 42,
        "d": 1.5,
        "b": True,
        "raw": b"\x00\x01\xff",
        "list": ["x", 2],
        "map": {"inner": False},
        "empty_list": [],
    }
    assert type(span.attributes["d"]) is float


def test_otlp_json_events_and_links():
    events = [
        {
            "timeUnixNano": str(START + 7),
            "name": "order.state_changed",
            "attributes": [{"key": "order.state.new", "value": {"stringValue": "SUBMITTED"}}],
        }
    ]
    links = [
        {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "attributes": [{"key": "messaging.system", "value": {"stringValue": "rabbitmq"}}],
        }
    ]
    data = otlp_bytes([otlp_span("b7ad6b7169203331", events=events, links=links)])
    [span] = parse_bytes(data).traces[0].spans
    assert span.events == [
        Event("order.state_changed", START + 7, {"order.state.new": "SUBMITTED"})
    ]
    assert span.links == [
        Link(
            "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", {"messaging.system": "rabbitmq"}
        )
    ]


def test_ids_base64_become_hex_and_others_are_kept_as_given():
    trace_b64 = base64.b64encode(bytes.fromhex(TRACE_ID)).decode()
    span_b64 = base64.b64encode(bytes.fromhex("b7ad6b7169203331")).decode()
    data = otlp_bytes(
        [
            otlp_span(span_b64, trace_id=trace_b64),
            otlp_span("00F067AA0BA902B7", parent=span_b64, trace_id=trace_b64),
            otlp_span("span-A", parent="00f067aa0ba902b7", trace_id=trace_b64),
        ]
    )
    result = parse_bytes(data)
    assert result.errors == [] and result.warnings == []
    [trace] = result.traces
    assert trace.trace_id == TRACE_ID
    assert [(s.span_id, s.parent_id) for s in trace.spans] == [
        ("b7ad6b7169203331", None),
        ("00f067aa0ba902b7", "b7ad6b7169203331"),
        ("span-A", "00f067aa0ba902b7"),
    ]


def test_older_instrumentation_library_spans():
    data = otlp_bytes(
        [otlp_span("b7ad6b7169203331")],
        scope_key="instrumentationLibrarySpans",
        scope_name_key="instrumentationLibrary",
    )
    result = parse_bytes(data)
    [span] = result.traces[0].spans
    assert span.scope == Scope("io.opentelemetry.spring", "2.1")


@pytest.mark.parametrize(
    "wrap",
    [
        lambda doc: {"batches": doc["resourceSpans"]},  # Tempo trace-by-id (v1)
        lambda doc: {"trace": doc},  # Tempo v2
        lambda doc: {"result": doc},  # Jaeger API v3
    ],
)
def test_otlp_json_wrappers(wrap):
    doc = otlp_doc([otlp_span("b7ad6b7169203331", kind=5, status={"code": 2})])
    result = parse_bytes(orjson.dumps(wrap(doc)))
    assert result.errors == [] and result.format == "otlp-json"
    [span] = result.traces[0].spans
    assert (span.kind, span.status_code, span.service) == (
        SpanKind.CONSUMER,
        StatusCode.ERROR,
        "shop-api",
    )


def test_jaeger_api_v3_answers_without_spans_are_not_errors():
    result = parse_bytes(b'{"services": ["shop-api"]}')
    assert result.errors == [] and result.traces == []
    assert "no spans" in result.warnings[0].message


def test_missing_service_name_is_unknown_service():
    doc = {
        "resourceSpans": [
            {"resource": {}, "scopeSpans": [{"spans": [otlp_span("b7ad6b7169203331")]}]}
        ]
    }
    [span] = parse_bytes(orjson.dumps(doc)).traces[0].spans
    assert span.service == "unknown_service"


# --- OTLP protobuf -----------------------------------------------------------------------------


def _proto_request() -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    request = ExportTraceServiceRequest()
    group = request.resource_spans.add()
    group.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="mes-api"))
    )
    scoped = group.scope_spans.add()
    scoped.scope.name = "dotnet"
    root = scoped.spans.add(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex("b7ad6b7169203331"),
        name="GET /orders",
        kind=2,
        start_time_unix_nano=START,
        end_time_unix_nano=START + 9,
    )
    root.attributes.append(KeyValue(key="order.id", value=AnyValue(string_value="A-100042")))
    root.attributes.append(KeyValue(key="retries", value=AnyValue(int_value=3)))
    root.status.code = 2
    event = root.events.add(name="order.state_changed", time_unix_nano=START + 1)
    event.attributes.append(
        KeyValue(key="order.state.new", value=AnyValue(string_value="PRICE_CALCULATED"))
    )
    scoped.spans.add(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex("00f067aa0ba902b7"),
        parent_span_id=bytes.fromhex("b7ad6b7169203331"),
        name="SELECT",
        kind=3,
        start_time_unix_nano=START + 2,
        end_time_unix_nano=START + 3,
    )
    return request.SerializeToString()


def test_otlp_protobuf_auto_detected_and_explicit():
    for fmt in (None, "otlp-proto"):
        result = parse_bytes(_proto_request(), fmt=fmt)
        assert result.errors == [] and result.format == "otlp-proto"
        [trace] = result.traces
        root, child = trace.spans
        assert (trace.trace_id, root.span_id, root.service, root.kind) == (
            TRACE_ID,
            "b7ad6b7169203331",
            "mes-api",
            SpanKind.SERVER,
        )
        assert root.attributes == {"order.id": "A-100042", "retries": 3}
        assert root.status_code == StatusCode.ERROR and root.scope.name == "dotnet"
        assert root.events == [
            Event("order.state_changed", START + 1, {"order.state.new": "PRICE_CALCULATED"})
        ]
        assert child.parent_id == "b7ad6b7169203331" and root.parent_id is None


def test_otlp_protobuf_file(tmp_path):
    path = tmp_path / "trace.pb"
    path.write_bytes(_proto_request())
    [result] = iter_file(path)
    assert result.errors == [] and result.span_count == 2


def test_otlp_protobuf_span_of_unknown_kind_or_status_is_rejected_alone():
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    message = TracesData()
    message.ParseFromString(_proto_request())
    root, child = message.resource_spans[0].scope_spans[0].spans
    root.kind = 9
    child.status.code = 7
    result = parse_bytes(message.SerializeToString(), fmt="otlp-proto")
    assert result.traces == []
    assert [p.message for p in result.errors] == [
        "resource_spans[0].scope_spans[0].spans[0]: kind 9 is not a span kind",
        "resource_spans[0].scope_spans[0].spans[1]: status code 7 is not a status code",
    ]
    child.status.code = 2
    [trace] = parse_bytes(message.SerializeToString(), fmt="otlp-proto").traces
    assert [(s.kind, s.status_code) for s in trace.spans] == [(SpanKind.CLIENT, StatusCode.ERROR)]


# --- Jaeger classic JSON -----------------------------------------------------------------------


def _jaeger_api_response() -> dict:
    tags = [
        {"key": "span.kind", "type": "string", "value": "server"},
        {"key": "error", "type": "bool", "value": True},
        {"key": "otel.status_description", "type": "string", "value": "db down"},
        {"key": "otel.library.name", "type": "string", "value": "spring"},
        {"key": "http.response.status_code", "type": "int64", "value": 500},
        {"key": "weight", "type": "float64", "value": 1.25},
        {"key": "order.id", "type": "string", "value": "A-100042"},
        {"key": "internal.span.format", "type": "string", "value": "otlp"},
    ]
    logs = [
        {
            "timestamp": 1_700_000_000_000_400,
            "fields": [
                {"key": "event", "type": "string", "value": "order.state_changed"},
                {"key": "order.state.new", "type": "string", "value": "CLOSED"},
            ],
        },
        {
            "timestamp": 1_700_000_000_000_500,
            "fields": [{"key": "message", "type": "string", "value": "retrying"}],
        },
    ]
    spans = [
        jaeger_span("00000000000000a1", tags=tags, logs=logs),
        jaeger_span(
            "00000000000000a2",
            refs=[("FOLLOWS_FROM", "00000000000000a9"), ("CHILD_OF", "00000000000000a1")],
            start_us=1_700_000_000_000_100,
            duration_us=50,
            tags=[
                {"key": "span.kind", "type": "string", "value": "client"},
                {"key": "otel.status_code", "type": "string", "value": "OK"},
            ],
        ),
        jaeger_span(
            "00000000000000a3", refs=[("FOLLOWS_FROM", "00000000000000a2")], process_id="p2"
        ),
    ]
    processes = {
        "p1": {
            "serviceName": "crm-api",
            "tags": [{"key": "hostname", "type": "string", "value": "crm-1"}],
        },
        "p2": {"serviceName": "mes-api", "tags": []},
    }
    return {"data": [jaeger_trace(spans, processes)], "total": 0, "errors": None}


def test_jaeger_api_traces_response():
    result = parse_bytes(orjson.dumps(_jaeger_api_response()))
    assert result.errors == [] and result.format == "jaeger-json"
    [trace] = result.traces
    root, child, follower = trace.spans
    assert trace.trace_id == "0af7651916cd43dd"
    assert (root.kind, root.status_code, root.status_message, root.scope.name) == (
        SpanKind.SERVER,
        StatusCode.ERROR,
        "db down",
        "spring",
    )
    assert root.attributes == {
        "http.response.status_code": 500,
        "weight": 1.25,
        "order.id": "A-100042",
    }
    assert root.start_ns == 1_700_000_000_000_000_000
    assert root.end_ns == root.start_ns + 1_000_000
    assert root.resource.service_name == "crm-api"
    assert root.resource.attributes == {"hostname": "crm-1", "service.name": "crm-api"}
    assert root.events == [
        Event("order.state_changed", 1_700_000_000_000_400_000, {"order.state.new": "CLOSED"}),
        Event("retrying", 1_700_000_000_000_500_000, {}),
    ]
    # CHILD_OF is preferred as the parent even when listed second; the other reference is a link
    assert (child.parent_id, child.parent_ref) == ("00000000000000a1", RefType.CHILD_OF)
    assert child.links == [Link("0af7651916cd43dd", "00000000000000a9")]
    assert (child.kind, child.status_code) == (SpanKind.CLIENT, StatusCode.OK)
    assert (follower.parent_id, follower.parent_ref) == ("00000000000000a2", RefType.FOLLOWS_FROM)
    assert follower.service == "mes-api"


def test_jaeger_single_trace_and_span_list_and_ids_kept_as_given():
    spans = [
        jaeger_span("span-A", trace_id="trace-1"),
        jaeger_span(
            "span-B",
            refs=[("CHILD_OF", "span-A")],
            trace_id="trace-1",
            tags=[{"key": "error", "type": "bool", "value": "true"}],
        ),
    ]
    single = parse_bytes(orjson.dumps(jaeger_trace(spans)))
    as_list = [dict(span, process={"serviceName": "crm-api", "tags": []}) for span in spans]
    listed = parse_bytes(orjson.dumps(as_list))
    for result in (single, listed):
        assert result.errors == [] and result.format == "jaeger-json"
        [trace] = result.traces
        assert trace.trace_id == "trace-1"
        assert [(s.span_id, s.parent_id) for s in trace.spans] == [
            ("span-A", None),
            ("span-B", "span-A"),
        ]
        assert trace.spans[1].status_code == StatusCode.ERROR
        assert "error" not in trace.spans[1].attributes


def test_jaeger_ui_trace_state_file_with_data_object():
    trace = jaeger_trace([jaeger_span("00000000000000a1")])
    result = parse_bytes(orjson.dumps({"data": trace, "id": "x", "state": "FETCH_DONE"}))
    assert result.errors == [] and result.span_count == 1


# --- Zipkin v2 ---------------------------------------------------------------------------------


def test_zipkin_v2_spans():
    spans = [
        zipkin_span(
            "a2fb4a1d1a96d312",
            kind="SERVER",
            tags={"order.id": "A-100042"},
            annotations=[{"timestamp": 1_700_000_000_000_100, "value": "ws"}],
        ),
        zipkin_span(
            "0020000000000001",
            parent="a2fb4a1d1a96d312",
            kind="CLIENT",
            remoteEndpoint={"serviceName": "mes-db", "ipv4": "10.0.0.9", "port": 5432},
            tags={"error": "connection refused"},
        ),
        zipkin_span("0020000000000002", parent="a2fb4a1d1a96d312", kind="PRODUCER"),
        zipkin_span("0020000000000003", parent="a2fb4a1d1a96d312", kind=None),
    ]
    result = parse_bytes(orjson.dumps(spans))
    assert result.errors == [] and result.format == "zipkin-json"
    [trace] = result.traces
    server, client, producer, local = trace.spans
    assert trace.trace_id == "463ac35c9f6413ad48485a3953bb6124"
    assert (server.kind, server.service, server.attributes) == (
        SpanKind.SERVER,
        "mes-api",
        {"order.id": "A-100042"},
    )
    assert server.start_ns == 1_700_000_000_000_000_000
    assert server.end_ns == server.start_ns + 2_500_000
    assert server.events == [Event("ws", 1_700_000_000_000_100_000, {})]
    assert client.attributes == {
        "peer.service": "mes-db",
        "server.address": "10.0.0.9",
        "server.port": 5432,
    }
    assert (client.status_code, client.status_message) == (StatusCode.ERROR, "connection refused")
    assert (producer.kind, local.kind) == (SpanKind.PRODUCER, SpanKind.INTERNAL)
    assert server.resource is client.resource


def test_zipkin_64_bit_trace_ids():
    result = parse_bytes(
        orjson.dumps([zipkin_span("a2fb4a1d1a96d312", trace_id="48485A3953BB6124")])
    )
    assert result.traces[0].trace_id == "48485a3953bb6124"


def test_zipkin_shared_server_span_keeps_both_halves():
    spans = [
        zipkin_span("a2fb4a1d1a96d312", kind="CLIENT", service="crm-api"),
        zipkin_span("a2fb4a1d1a96d312", kind="SERVER", service="mes-api", shared=True),
        zipkin_span(
            "0020000000000009", parent="a2fb4a1d1a96d312", kind="CLIENT", service="mes-api"
        ),
    ]
    first = parse_bytes(orjson.dumps(spans))
    again = parse_bytes(orjson.dumps(spans))
    assert first.errors == [] and first.warnings == []
    client, server, db_call = first.traces[0].spans
    assert server.span_id not in ("a2fb4a1d1a96d312", "") and server.kind == SpanKind.SERVER
    assert server.parent_id == client.span_id == "a2fb4a1d1a96d312"
    assert db_call.parent_id == server.span_id  # the server's own child follows it
    assert again.traces[0].spans[1].span_id == server.span_id  # derived id is stable


# --- JSON lines and files ---------------------------------------------------------------------


def _jsonl(*documents: bytes) -> bytes:
    return b"\n".join(documents) + b"\n"


def test_json_lines_in_memory_with_a_bad_line():
    good1 = otlp_bytes([otlp_span("b7ad6b7169203331")])
    good2 = otlp_bytes([otlp_span("00f067aa0ba902b7", parent="b7ad6b7169203331")])
    result = parse_bytes(_jsonl(good1, b'{"resourceSpans": [', good2))
    assert result.format == "jsonl"
    assert [e.position for e in result.errors] == ["line 2"]
    assert "truncated" in result.errors[0].message
    [trace] = result.traces  # spans of one trace in two lines are grouped
    assert [s.span_id for s in trace.spans] == ["b7ad6b7169203331", "00f067aa0ba902b7"]


def test_iter_file_streams_json_lines_one_result_per_line(tmp_path):
    path = tmp_path / "collector.jsonl"
    lines = [otlp_bytes([otlp_span(f"{i:016x}", trace_id=f"{i:032x}")]) for i in range(1, 4)]
    path.write_bytes(_jsonl(lines[0], b"", b"not json", lines[1], lines[2]))
    results = list(iter_file(path))
    assert len(results) == 4
    assert [r.span_count for r in results] == [1, 0, 1, 1]
    assert results[1].errors[0].position == "line 3"
    assert results[1].errors[0].source == str(path)


def test_iter_file_single_pretty_printed_document(tmp_path):
    path = tmp_path / "trace.json"
    path.write_bytes(
        orjson.dumps(otlp_doc([otlp_span("b7ad6b7169203331")]), option=orjson.OPT_INDENT_2)
    )
    [result] = iter_file(path)
    assert result.errors == [] and result.span_count == 1


def test_iter_file_gzip(tmp_path):
    path = tmp_path / "trace.jsonl.gz"
    lines = [otlp_bytes([otlp_span(f"{i:016x}")]) for i in range(1, 3)]
    path.write_bytes(gzip.compress(_jsonl(*lines)))
    results = list(iter_file(path))
    assert [r.span_count for r in results] == [1, 1]
    assert parse_bytes(gzip.compress(lines[0])).span_count == 1


def test_iter_file_explicit_format(tmp_path):
    path = tmp_path / "spans.json"
    path.write_bytes(orjson.dumps([zipkin_span("a2fb4a1d1a96d312")]))
    [result] = iter_file(path, fmt="zipkin-json")
    assert result.span_count == 1
    [wrong] = iter_file(path, fmt="otlp-json")
    assert wrong.traces == [] and "not OTLP JSON" in wrong.errors[0].message


def test_iter_file_missing_file(tmp_path):
    [result] = iter_file(tmp_path / "absent.json")
    assert "cannot read the file" in result.errors[0].message


# --- normalise ---------------------------------------------------------------------------------


def test_normalise_groups_by_trace_and_later_spans_attach_to_kept_parent_ids():
    first = parse_bytes(
        otlp_bytes(
            [
                otlp_span("00f067aa0ba902b7", parent="b7ad6b7169203331"),
                otlp_span("1111111111111111", trace_id="f" * 32),
            ]
        )
    )
    assert [t.trace_id for t in first.traces] == [TRACE_ID, "f" * 32]
    orphan = first.traces[0].spans[0]
    assert orphan.parent_id == "b7ad6b7169203331"  # kept as given, not rewritten
    assert first.traces[0].warnings == [
        "parent b7ad6b7169203331 absent (1 span shown as roots until it arrives)"
    ]
    later = parse_bytes(otlp_bytes([otlp_span("b7ad6b7169203331")])).traces[0].spans
    [merged] = normalise(first.traces[0].spans + later)
    assert merged.warnings == []
    assert [s.span_id for s in merged.roots()] == ["b7ad6b7169203331"]


def test_jaeger_spans_without_their_own_trace_id_take_the_traces():
    with_id = jaeger_span("span-A", trace_id="trace-1")
    without_id = {
        k: v
        for k, v in jaeger_span("span-B", refs=[("CHILD_OF", "span-A")], trace_id="trace-1").items()
        if k != "traceID"
    }
    result = parse_bytes(orjson.dumps({"data": [jaeger_trace([with_id, without_id])]}))
    assert result.errors == []
    [trace] = result.traces
    assert [(s.trace_id, s.span_id) for s in trace.spans] == [
        ("trace-1", "span-A"),
        ("trace-1", "span-B"),
    ]
