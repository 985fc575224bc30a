"""Jaeger (API v3 and classic), Tempo and Zipkin sources against real HTTP servers on
127.0.0.1 replaying the project's own recordings (tests/fixtures/backends), and the peer
reference recordings when they are present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from explorer.journeys.state_graph import ContainerSla, Sla
from explorer.sources.base import SourceError, TraceNotFound, TraceQuery
from explorer.sources.config import BackendConfig
from explorer.sources.jaeger import JaegerSource
from explorer.sources.tempo import TempoSource, traceql, traceql_string, unwrap_v2_protobuf
from explorer.sources.zipkin import ZipkinSource, annotation_query
from explorer.traces.parsers import parse_bytes
from tests.backends_support import ReplayServer, Reply
from tests.conftest import reference_dir

FIXTURES = Path(__file__).parent / "fixtures" / "backends"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
FAST = {"timeout_connect": 0.5, "timeout_read": 1.0, "backoff": 0.0, "retries": 0}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def as_json(data) -> Reply:
    return Reply(body=json.dumps(data).encode())


NOT_FOUND = Reply(status=404, body=b"404 page not found", content_type="text/plain")


def tempo_protobuf(v2: bool) -> bytes:
    """The Tempo recording as protobuf: TracesData, or wrapped as a v2 TraceByIDResponse."""
    trace = json.loads(fixture("tempo-v2-trace.json"))["trace"]
    data = json_format.Parse(json.dumps(trace), TracesData()).SerializeToString()
    if not v2:
        return data
    return b"\x0a" + _varint(len(data)) + data + b"\x18\x00"  # field 1 trace, 3 status


def jaeger_v3(seen) -> Reply:
    if seen.path == f"/api/v3/traces/{TRACE_ID}" or seen.path == "/api/v3/traces":
        return Reply(body=fixture("jaeger-v3-trace.json"))
    if seen.path == "/api/v3/services":
        return as_json({"services": ["shop-api", "mes-api"]})
    if seen.path == "/api/v3/operations":
        return as_json({"operations": [{"name": "POST /api/orders", "spanKind": "server"}]})
    if seen.path == "/api/dependencies":
        return as_json({"data": [{"parent": "shop-api", "child": "mes-api", "callCount": 3}]})
    if seen.path.startswith("/api/v3/traces/"):
        return Reply(status=404, body=b'{"error":{"httpCode":404,"message":"trace not found"}}')
    return NOT_FOUND


def jaeger_classic(seen) -> Reply:
    if seen.path.startswith("/api/v3/"):
        return NOT_FOUND  # Jaeger 1.x
    if seen.path in (f"/api/traces/{TRACE_ID}", "/api/traces"):
        return Reply(body=fixture("jaeger-classic-trace.json"))
    if seen.path == "/api/services":
        return as_json({"data": ["shop-api", "mes-api"], "total": 2, "errors": None})
    if seen.path == "/api/services/shop-api/operations":
        return as_json({"data": ["POST /api/orders", "INSERT shop.orders"], "total": 2})
    if seen.path.startswith("/api/traces/"):
        return Reply(
            status=404, body=b'{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}'
        )
    return NOT_FOUND


def tempo(protobuf: bool):
    def answer(seen) -> Reply:
        wants_proto = seen.headers.get("Accept") == "application/protobuf"
        if seen.path == f"/api/v2/traces/{TRACE_ID}":
            if protobuf and wants_proto:
                return Reply(body=tempo_protobuf(True), content_type="application/protobuf")
            return Reply(body=fixture("tempo-v2-trace.json"))
        if seen.path == "/api/search":
            return Reply(body=fixture("tempo-search.json"))
        if seen.path == "/api/v2/search/tag/resource.service.name/values":
            return as_json(
                {
                    "tagValues": [
                        {"type": "string", "value": "shop-api"},
                        {"type": "string", "value": "mes-api"},
                    ]
                }
            )
        if seen.path == "/api/v2/search/tag/name/values":
            return as_json({"tagValues": [{"type": "string", "value": "POST /api/orders"}]})
        if seen.path == "/api/echo":
            return Reply(body=b"echo", content_type="text/plain; charset=utf-8")
        if seen.path == "/api/status/buildinfo":
            return as_json({"version": "2.6.1", "revision": "c1b2d3", "branch": "HEAD"})
        if seen.path == "/api/search/tags":
            return as_json({"tagNames": ["customer.id", "customer.type", "order.id"]})
        return Reply(status=404, body=b"trace not found", content_type="text/plain")

    return answer


def tempo_v1(seen) -> Reply:
    """Tempo 1.x: no v2 endpoints; /api/traces/{id} answers protobuf or {"batches": [...]}."""
    if seen.path == f"/api/traces/{TRACE_ID}":
        if seen.headers.get("Accept") == "application/protobuf":
            return Reply(body=tempo_protobuf(False), content_type="application/protobuf")
        trace = json.loads(fixture("tempo-v2-trace.json"))["trace"]
        return as_json({"batches": trace["resourceSpans"]})
    return Reply(status=404, body=b"404 page not found", content_type="text/plain")


def zipkin(seen) -> Reply:
    if seen.path == f"/api/v2/trace/{TRACE_ID}":
        return Reply(body=fixture("zipkin-trace.json"))
    if seen.path == "/api/v2/traces":
        return Reply(body=b"[" + fixture("zipkin-trace.json") + b"]")
    if seen.path == "/api/v2/services":
        return as_json(["shop-api", "mes-api"])
    if seen.path == "/api/v2/spans":
        return as_json(["post /api/orders", "insert shop.orders"])
    if seen.path == "/api/v2/dependencies":
        return as_json([{"parent": "shop-api", "child": "mes-api", "callCount": 3}])
    if seen.path == "/info":
        return as_json({"zipkin": {"version": "3.4.2"}})
    return NOT_FOUND


BACKENDS = {
    "jaeger-v3": (JaegerSource, jaeger_v3, {}),
    "jaeger-classic": (JaegerSource, jaeger_classic, {}),
    "jaeger-classic-configured": (JaegerSource, jaeger_classic, {"api": "classic"}),
    "tempo-protobuf": (TempoSource, tempo(protobuf=True), {}),
    "tempo-json": (TempoSource, tempo(protobuf=False), {}),
    "tempo-v1": (TempoSource, tempo_v1, {}),
    "zipkin": (ZipkinSource, zipkin, {}),
}


def make_source(kind: str, url: str):
    cls, _, options = BACKENDS[kind]
    config = BackendConfig(name=kind, kind=cls.kind, url=url, **{**FAST, **options})
    return cls(config)


def _replay(kind):
    with ReplayServer(BACKENDS[kind][1]) as server:
        yield kind, make_source(kind, server.url), server


@pytest.fixture(params=list(BACKENDS))
def replay(request):
    yield from _replay(request.param)


# The Tempo 1.x recording answers trace by id only: no search, services or operations.
@pytest.fixture(params=[kind for kind in BACKENDS if kind != "tempo-v1"])
def searchable_replay(request):
    yield from _replay(request.param)


def normalised(trace, lower_names=False):
    return sorted(
        (
            s.span_id,
            s.parent_id,
            s.name.lower() if lower_names else s.name,
            s.service,
            s.kind,
            s.status_code,
            s.start_ns,
            s.end_ns,
        )
        for s in trace.spans
    )


def test_same_spans_from_every_backend(replay):
    kind, source, _server = replay
    expected = parse_bytes(fixture("jaeger-v3-trace.json"), fmt="otlp-json").traces[0]
    trace = source.get_trace(TRACE_ID.upper())  # ids are not case-sensitive
    assert trace.trace_id == TRACE_ID
    zipkin_names = kind == "zipkin"  # Zipkin keeps span names in lower case
    assert normalised(trace, zipkin_names) == normalised(expected, zipkin_names)
    got = {s.span_id: s for s in trace.spans}
    for span in expected.spans:
        attributes = got[span.span_id].attributes
        for key, value in span.attributes.items():
            assert str(attributes[key]) == str(value), (kind, span.name, key)


def test_search_finds_the_order(searchable_replay):
    kind, source, server = searchable_replay
    found = source.find_traces(
        "order.id", "A-100042", start_ns=1_699_999_000 * 10**9, end_ns=1_700_001_000 * 10**9
    )
    assert [s.trace_id for s in found] == [TRACE_ID]
    summary = found[0]
    assert summary.root_service == "shop-api"
    assert summary.root_name.lower() == "post /api/orders"
    assert summary.start_ns == 1_700_000_000 * 10**9
    assert summary.duration_ns == 120 * 10**6
    assert summary.span_count == 4 and summary.error_count == 1
    assert summary.services == ["mes-api", "shop-api"]
    assert summary.attributes["order.id"] == "A-100042"


def test_services_and_operations(searchable_replay):
    kind, source, _server = searchable_replay
    assert source.services() == ["mes-api", "shop-api"]
    assert "post /api/orders" in [name.lower() for name in source.operations("shop-api")]


def test_unknown_trace_is_not_found(replay):
    _kind, source, _server = replay
    with pytest.raises(TraceNotFound):
        source.get_trace("0123456789abcdef0123456789abcdef")


def test_garbage_trace_id_is_refused_before_any_request(replay):
    _kind, source, server = replay
    for bad in ("../../admin", "A-100042", "x" * 40, ""):
        with pytest.raises(TraceNotFound, match="is not a trace id"):
            source.get_trace(bad)
    assert server.seen == []


def test_jaeger_v3_query_parameters():
    with ReplayServer(jaeger_v3) as server:
        source = make_source("jaeger-v3", server.url)
        source.search(
            TraceQuery(
                service="shop-api",
                attributes={"order.id": 'A-1"042'},
                min_duration_ns=1_500_000,
                start_ns=1_700_000_000_123_456_789,
                end_ns=1_700_000_060 * 10**9,
                limit=20,
            )
        )
        edges = source.dependencies(0, 1_700_000_000 * 10**9)
    query = server.seen[0].query
    assert server.seen[0].path == "/api/v3/traces"
    assert query["query.service_name"] == ["shop-api"]
    assert json.loads(query["query.attributes"][0]) == {"order.id": 'A-1"042'}
    assert query["query.start_time_min"] == ["2023-11-14T22:13:20.123456789Z"]
    assert query["query.start_time_max"] == ["2023-11-14T22:14:20.000000000Z"]
    assert query["query.duration_min"] == ["1500000ns"]
    assert query["query.num_traces"] == ["20"]
    assert [(e.parent, e.child, e.call_count) for e in edges] == [("shop-api", "mes-api", 3)]


def test_jaeger_search_without_service_asks_each_service():
    with ReplayServer(jaeger_classic) as server:
        source = make_source("jaeger-classic-configured", server.url)
        found = source.find_traces("customer.id", "C-00123")
    searched = [s.query["service"][0] for s in server.seen if s.path == "/api/traces"]
    assert sorted(searched) == ["mes-api", "shop-api"]
    assert [s.trace_id for s in found] == [TRACE_ID]  # found twice, listed once
    assert json.loads(server.seen[-1].query["tags"][0]) == {"customer.id": "C-00123"}


def test_jaeger_falls_back_to_classic_once():
    with ReplayServer(jaeger_classic) as server:
        source = make_source("jaeger-v3", server.url)
        assert source.services() == ["mes-api", "shop-api"]
        assert source.services() == ["mes-api", "shop-api"]
    assert [s.path for s in server.seen] == ["/api/v3/services", "/api/services", "/api/services"]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("A-1042", '"A-1042"'),
        ('A" } || { true', '"A\\" } || { true"'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak\x01", '"line\\nbreak\\u0001"'),
    ],
)
def test_traceql_strings_are_escaped(value, literal):
    assert traceql_string(value) == literal


def test_traceql_query():
    query = TraceQuery(
        service="shop-api",
        errors_only=True,
        min_duration_ns=2_000_000,
        attributes={"order.id": "A-1042", "odd key": "x"},
    )
    assert traceql(query) == (
        '{ resource.service.name = "shop-api" && status = error && traceDuration >= 2000000ns }'
        ' && { span.order.id = "A-1042" || resource.order.id = "A-1042" }'
        ' && { span."odd key" = "x" || resource."odd key" = "x" }'
    )
    assert traceql(TraceQuery()) == "{ }"
    assert traceql(TraceQuery(), select=["order.id"]) == (
        "{ } | select(span.order.id, resource.order.id)"
    )


def test_tempo_search_request_and_check():
    with ReplayServer(tempo(protobuf=True)) as server:
        source = make_source("tempo-protobuf", server.url)
        source.find_traces("order.id", 'A-1"042', start_ns=10**18, end_ns=10**18 + 1)
        assert source.check() == "version 2.6.1, API v2, 3 searchable tags"
    search = server.seen[0]
    assert search.query["q"] == [
        '{ span.order.id = "A-1\\"042" || resource.order.id = "A-1\\"042" }'
        " | select(span.order.id, resource.order.id, span.customer.id, resource.customer.id,"
        " span.customer.type, resource.customer.type)"
    ]
    assert search.query["start"] == ["1000000000"] and search.query["end"] == ["1000000001"]


def test_tempo_asks_for_protobuf():
    with ReplayServer(tempo(protobuf=True)) as server:
        make_source("tempo-protobuf", server.url).get_trace(TRACE_ID)
    assert server.seen[0].headers["Accept"] == "application/protobuf"


def test_unwrap_v2_protobuf_rejects_truncation():
    with pytest.raises(ValueError, match="truncated"):
        unwrap_v2_protobuf(tempo_protobuf(True)[:-10])


def test_zipkin_search_request():
    with ReplayServer(zipkin) as server:
        source = make_source("zipkin", server.url)
        source.search(
            TraceQuery(
                attributes={"order.id": "A-1042"},
                errors_only=True,
                start_ns=1_000 * 10**9,
                end_ns=1_060 * 10**9,
            )
        )
        assert source.check() == "version 3.4.2, 2 services"
        assert [(e.parent, e.child) for e in source.dependencies(0, 10**18)] == [
            ("shop-api", "mes-api")
        ]
    query = server.seen[0].query
    assert query["annotationQuery"] == ["order.id=A-1042 and error"]
    assert query["endTs"] == ["1060000"] and query["lookback"] == ["60000"]


def test_zipkin_refuses_what_annotation_query_cannot_say():
    with pytest.raises(SourceError, match="' and '"):
        annotation_query(TraceQuery(attributes={"order.id": "A-1 and error"}))


def test_malformed_answers_are_source_errors():
    def broken(seen):
        if seen.path == "/api/v2/services":
            return as_json({"not": "a list"})
        return Reply(body=b'[{"traceId": 12}]')

    with ReplayServer(broken) as server:
        source = make_source("zipkin", server.url)
        with pytest.raises(SourceError, match="list of names"):
            source.services()
        with pytest.raises(SourceError, match="cannot read trace"):
            source.get_trace(TRACE_ID)


# --- conformance with the peer reference recordings ----------------------------------------
def test_reference_jaeger_v3_recordings():
    folder = reference_dir("backends")
    answers = {
        "/api/v3/traces/00000000000000000000000000000001": "jaeger-apiv3-GetTrace.json",
        "/api/v3/traces": "jaeger-apiv3-FindTraces.json",
        "/api/v3/services": "jaeger-apiv3-GetServices.json",
        "/api/v3/operations": "jaeger-apiv3-GetOperations.json",
    }

    def answer(seen):
        name = answers.get(seen.path)
        return Reply(body=(folder / name).read_bytes()) if name else NOT_FOUND

    with ReplayServer(answer) as server:
        source = make_source("jaeger-v3", server.url)
        trace = source.get_trace("00000000000000000000000000000001")
        found = source.search(TraceQuery(service="foo"))
        assert source.services() == ["foo"]
        assert source.operations("foo") == ["get_users"]
    assert trace.trace_id == "00000000000000000000000000000001"
    assert [(s.span_id, s.name) for s in trace.spans] == [("0000000000000002", "foobar")]
    assert trace.spans[0].is_error
    assert [s.trace_id for s in found] == ["00000000000000000000000000000001"]


def test_reference_jaeger_classic_recordings():
    folder = reference_dir("backends")
    document = json.loads((folder / "jaeger-v1-api-trace-57spans.json").read_bytes())
    trace_json = document.get("data", document)
    trace_id = trace_json["traceID"]
    expected = parse_bytes(json.dumps({"data": [trace_json]}).encode(), fmt="jaeger-json")

    def answer(seen):
        if seen.path == f"/api/traces/{trace_id}":
            return as_json({"data": [trace_json]})
        return NOT_FOUND

    with ReplayServer(answer) as server:
        trace = make_source("jaeger-classic-configured", server.url).get_trace(trace_id)
    assert normalised(trace) == normalised(expected.traces[0])


def test_reference_tempo_recording_over_json_and_protobuf():
    folder = reference_dir("backends")
    raw = json.loads((folder / "tempo-otlp-base64-ids.json").read_bytes())
    expected = parse_bytes(json.dumps(raw).encode(), fmt="otlp-json").traces[0]
    proto = json_format.Parse(json.dumps(raw), TracesData(), ignore_unknown_fields=True)

    for as_protobuf in (False, True):

        def answer(seen, as_protobuf=as_protobuf):
            if not seen.path.startswith("/api/v2/traces/"):
                return NOT_FOUND
            if as_protobuf:
                data = proto.SerializeToString()
                return Reply(
                    body=b"\x0a" + _varint(len(data)) + data, content_type="application/protobuf"
                )
            return as_json({"trace": raw})

        with ReplayServer(answer) as server:
            trace = make_source("tempo-json", server.url).get_trace(expected.trace_id)
        assert normalised(trace) == normalised(expected)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


# --- fixes found by the parity test (tests/test_backends_parity.py) -------------------------


def test_zipkin_annotations_carry_event_attributes():
    span = {
        "traceId": TRACE_ID,
        "id": "eee19b7ec3c1b174",
        "name": "post /api/orders",
        "timestamp": 1_700_000_000_000_000,
        "duration": 5,
        "localEndpoint": {"serviceName": "shop-api"},
        "annotations": [
            {"timestamp": 1, "value": 'order.state_changed|{"order.state.new":"SUBMITTED"}|0'},
            {"timestamp": 2, "value": '{"exception":{"exception.type":"Boom"}}'},
            {"timestamp": 3, "value": "ws"},
            {"timestamp": 4, "value": "a|{not json|0"},
            {"timestamp": 5, "value": '{"a": 1, "b": 2}'},
        ],
    }
    [trace] = parse_bytes(json.dumps([span]).encode(), fmt="zipkin-json").traces
    events = [(e.name, e.attributes) for e in trace.spans[0].events]
    assert events == [
        ("order.state_changed", {"order.state.new": "SUBMITTED"}),  # the Collector's packing
        ("exception", {"exception.type": "Boom"}),  # the SDKs' packing
        ("ws", {}),
        ("a|{not json|0", {}),
        ('{"a": 1, "b": 2}', {}),
    ]
    assert trace.spans[0].name == "post /api/orders"


@pytest.mark.parametrize(("options", "days"), [({}, 30), ({"lookback_days": 2}, 2)])
def test_search_without_a_start_looks_back_lookback_days(options, days):
    with ReplayServer(zipkin) as server:
        config = BackendConfig(name="z", kind="zipkin", url=server.url, **FAST, **options)
        ZipkinSource(config).find_traces("order.id", "A-1")
    assert server.seen[0].query["lookback"] == [str(days * 86_400_000)]


def test_jaeger_v3_not_found_answers_are_not_a_missing_api():
    gateway_404 = Reply(status=404, body=b'{"error":{"httpCode":404,"message":"No traces found"}}')

    def answer(seen):
        if seen.path in ("/api/v3/traces", f"/api/v3/traces/{TRACE_ID}"):
            return gateway_404
        return jaeger_v3(seen)

    with ReplayServer(answer) as server:
        source = make_source("jaeger-v3", server.url)
        assert source.search(TraceQuery(service="shop-api")) == []
        with pytest.raises(TraceNotFound):
            source.get_trace(TRACE_ID)
        assert source.api == "v3"
    assert [s.path for s in server.seen] == ["/api/v3/traces", f"/api/v3/traces/{TRACE_ID}"]


def test_sla_endpoints_match_zipkin_lower_cased_span_names():
    sla = Sla({"shop_api": ContainerSla(800, {"PUT /api/orders/{id}/model": 2000})})
    assert sla.limit_ms("shop_api", "PUT /api/orders/{id}/model") == 2000
    assert sla.limit_ms("shop_api", "put /api/orders/{id}/model") == 2000
    assert sla.limit_ms("shop_api", "GET /api/items") == 800
    assert sla.limit_ms("crm_api", "GET /api/items") is None
