"""The OTLP receiver (`manage.py receive`) as a real process, with the real SDK exporters as
clients, and every kind of bad input refused precisely while the next request is served."""

from __future__ import annotations

import gzip
import json
import secrets

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from tests.receiver_support import (
    TOKEN,
    migrate,
    receiver_env,
    start_receiver,
    stored,
    stored_spans,
)

pytestmark = pytest.mark.slow
MAX_BYTES = 2_000_000
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    env = receiver_env(
        tmp_path_factory.mktemp("receiver"),
        EXPLORER_RECEIVER_MAX_BYTES=str(MAX_BYTES),
        EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES="10000",
    )
    migrate(env)
    running = start_receiver(env)
    yield running
    running.stop()


def _attr(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def request_body(trace_byte: int, spans: int = 2, big: int = 0) -> bytes:
    """An ExportTraceServiceRequest of one trace; `big`: the last span has an attribute of
    that many characters."""
    span_list = []
    for n in range(spans):
        attributes = [_attr("order.id", f"A-{trace_byte}")]
        if big and n == spans - 1:
            # Random hex: it compresses only by half, as real payloads do.
            attributes.append(_attr("payload", secrets.token_hex(big // 2)))
        span_list.append(
            trace_pb2.Span(
                trace_id=bytes([trace_byte]) * 16,
                span_id=bytes([trace_byte, n + 1]) * 4,
                parent_span_id=b"" if n == 0 else bytes([trace_byte, 1]) * 4,
                name=f"step {n}",
                start_time_unix_nano=1_700_000_000_000_000_000 + n,
                end_time_unix_nano=1_700_000_000_000_001_000 + n,
                attributes=attributes,
            )
        )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[_attr("service.name", "shop-api")]),
                scope_spans=[trace_pb2.ScopeSpans(spans=span_list)],
            )
        ]
    )
    return request.SerializeToString()


def trace_id(trace_byte: int) -> str:
    return (bytes([trace_byte]) * 16).hex()


def post(receiver, body: bytes, **headers) -> requests.Response:
    return requests.post(receiver.url, data=body, headers={**HEADERS, **headers}, timeout=30)


def assert_still_serving(receiver, trace_byte: int) -> None:
    answer = post(receiver, request_body(trace_byte))
    assert answer.status_code == 200, answer.content
    assert stored_spans(receiver.data_dir)[trace_id(trace_byte)] == 2


def _export_with(exporter) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "crm-api"}))
    results = []

    class Recording(SimpleSpanProcessor):
        def on_end(self, span):
            results.append(self.span_exporter.export([span]))

    provider.add_span_processor(Recording(exporter))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("approve", attributes={"order.id": "A-900"}) as root,
        tracer.start_as_current_span("publish"),
    ):
        pass
    provider.shutdown()
    assert results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]
    return format(root.get_span_context().trace_id, "032x")


def test_http_exporter_spans_are_stored(receiver):
    tid = _export_with(
        HttpExporter(endpoint=receiver.url, headers={"authorization": f"Bearer {TOKEN}"})
    )
    assert stored_spans(receiver.data_dir)[tid] == 2
    audit = stored(
        receiver.data_dir,
        "SELECT username, action, address FROM accounts_auditentry WHERE object_type = 'receiver'",
    )
    assert ("shop-collector", "login", "127.0.0.1") in audit


def test_http_exporter_gzip(receiver):
    from opentelemetry.exporter.otlp.proto.http import Compression

    tid = _export_with(
        HttpExporter(
            endpoint=receiver.url,
            compression=Compression.Gzip,
            headers={"authorization": f"Bearer {TOKEN}"},
        )
    )
    assert stored_spans(receiver.data_dir)[tid] == 2


def test_grpc_exporter_spans_are_stored(receiver):
    from grpc import Compression

    tid = _export_with(
        GrpcExporter(
            endpoint=receiver.grpc_endpoint,
            insecure=True,
            compression=Compression.Gzip,
            headers={"authorization": f"Bearer {TOKEN}"},
        )
    )
    assert stored_spans(receiver.data_dir)[tid] == 2


def test_grpc_wrong_token_is_unauthenticated(receiver):
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    with grpc.insecure_channel(receiver.grpc_endpoint) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(request_body(70))
        with pytest.raises(grpc.RpcError) as caught:
            stub.Export(request, metadata=(("authorization", "Bearer nope"),), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "wrong bearer token" in caught.value.details()
    assert trace_id(70) not in stored_spans(receiver.data_dir)


def test_json_body_and_idempotent_resend(receiver):
    from google.protobuf import json_format

    body = json_format.MessageToJson(
        trace_service_pb2.ExportTraceServiceRequest.FromString(request_body(71))
    )
    for _ in range(2):
        answer = post(receiver, body.encode(), **{"Content-Type": "application/json"})
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json"
        assert json.loads(answer.content) == {}
    assert stored_spans(receiver.data_dir)[trace_id(71)] == 2


def test_body_that_is_not_otlp_is_400(receiver):
    answer = post(receiver, b"\x00\x01 definitely not protobuf \xff\xfe" * 10)
    assert answer.status_code == 400
    status = status_pb2.Status.FromString(answer.content)
    assert "does not decode as OTLP (otlp-proto)" in status.message
    answer = post(receiver, b'{"hello": "world"', **{"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "does not decode as OTLP (otlp-json)" in json.loads(answer.content)["message"]
    assert "refused a request from 127.0.0.1 (sender shop-collector): 400" in receiver.log_text()
    assert_still_serving(receiver, 72)


def test_wrong_content_type_is_415(receiver):
    answer = post(receiver, request_body(73), **{"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert (
        "unsupported content type 'text/plain'"
        in status_pb2.Status.FromString(answer.content).message
    )
    assert trace_id(73) not in stored_spans(receiver.data_dir)
    assert_still_serving(receiver, 74)


def test_oversize_body_is_413_unread(receiver):
    answer = post(receiver, request_body(75, big=MAX_BYTES))
    assert answer.status_code == 413
    assert "over the limit of 2000000" in status_pb2.Status.FromString(answer.content).message
    assert trace_id(75) not in stored_spans(receiver.data_dir)
    assert_still_serving(receiver, 76)


def test_gzip_bomb_is_413_and_inflation_stops(receiver):
    bomb = gzip.compress(b"\x00" * (20 * MAX_BYTES))
    assert len(bomb) < MAX_BYTES
    answer = post(receiver, bomb, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 413
    assert "inflates past" in status_pb2.Status.FromString(answer.content).message
    broken = gzip.compress(request_body(77))[:-20]
    answer = post(receiver, broken, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 400
    assert "not valid gzip data" in status_pb2.Status.FromString(answer.content).message
    assert_still_serving(receiver, 78)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Basic c2hvcDpzM2NyZXQ=", "Bearer other-token-but-longer"],
)
def test_missing_or_wrong_token_is_401(receiver, authorization):
    headers = {"Content-Type": "application/x-protobuf"}
    if authorization:
        headers["Authorization"] = authorization
    answer = requests.post(receiver.url, data=request_body(79), headers=headers, timeout=30)
    assert answer.status_code == 401
    assert "bearer token" in status_pb2.Status.FromString(answer.content).message
    assert trace_id(79) not in stored_spans(receiver.data_dir)
    refused = stored(
        receiver.data_dir,
        "SELECT detail FROM accounts_auditentry WHERE "
        "action = 'login_failed' AND object_type = 'receiver'",
    )
    assert refused and "OTLP sender refused" in refused[0][0]


def test_other_sender_token_names_that_sender(receiver):
    answer = post(receiver, request_body(80), Authorization="Bearer other-token")
    assert answer.status_code == 200
    assert "sender crm-collector sends from 127.0.0.1" in receiver.log_text()


def test_span_with_1mb_attribute_is_rejected_alone(receiver, tmp_path):
    body = request_body(81, spans=3, big=1 << 20)
    answer = post(receiver, gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1
    message = response.partial_success.error_message
    assert "attribute 'payload' holds 1048576 bytes" in message
    assert (bytes([81, 3]) * 4).hex() in message
    assert stored_spans(receiver.data_dir)[trace_id(81)] == 2  # the other spans, no more
    assert "1 spans from shop-collector (127.0.0.1) rejected" in receiver.log_text()
    assert_still_serving(receiver, 82)


def test_wrong_method_and_path(receiver):
    assert requests.get(receiver.url, timeout=10).status_code == 405
    answer = requests.post(
        receiver.url.replace("traces", "metrics"), data=b"x", headers=HEADERS, timeout=10
    )
    assert answer.status_code == 404


def test_no_tokens_refuses_to_listen_beyond_loopback(tmp_path):
    import subprocess
    import sys

    from tests.receiver_support import ROOT

    env = receiver_env(tmp_path, EXPLORER_RECEIVER_TOKENS="")
    done = subprocess.run(
        [sys.executable, "manage.py", "receive", "--http", "0.0.0.0:0", "--grpc", "off"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "listens on loopback only" in done.stderr
    env = receiver_env(tmp_path, EXPLORER_RECEIVER_TOKENS='{"a": ')
    done = subprocess.run(
        [sys.executable, "manage.py", "receive"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "EXPLORER_RECEIVER_TOKENS is not JSON" in done.stderr


def test_grpc_bad_body_and_oversize(receiver):
    import grpc

    method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    with grpc.insecure_channel(receiver.grpc_endpoint) as channel:
        export = channel.unary_unary(method)  # raw bytes both ways
        with pytest.raises(grpc.RpcError) as caught:
            export(b"\x00\x01 definitely not protobuf \xff\xfe", metadata=metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "does not decode as OTLP (otlp-proto)" in caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            export(request_body(83, big=MAX_BYTES), metadata=metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        answer = trace_service_pb2.ExportTraceServiceResponse.FromString(
            export(request_body(84), metadata=metadata, timeout=10)
        )
        assert not answer.HasField("partial_success")
    spans = stored_spans(receiver.data_dir)
    assert trace_id(83) not in spans and spans[trace_id(84)] == 2


def _hostile_spans(trace_byte: int) -> trace_service_pb2.ExportTraceServiceRequest:
    """Three spans of one trace: a good one, one with a 300-deep arrayValue, one starting
    past the largest time the store keeps (2**64 - 1 ns, a valid fixed64)."""
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(
        request_body(trace_byte, spans=3)
    )
    spans = request.resource_spans[0].scope_spans[0].spans
    # An array in an array ... 300 times, around one string (made in place: copying a
    # message this deep would parse it, which protobuf refuses).
    inner = spans[1].attributes.add(key="deep").value
    for _ in range(300):
        inner = inner.array_value.values.add()
    inner.string_value = "bottom"
    spans[2].start_time_unix_nano = 2**64 - 1
    return request


def test_hostile_spans_in_protobuf_are_rejected_alone(receiver):
    answer = post(receiver, _hostile_spans(100).SerializeToString())
    assert answer.status_code == 200, answer.content
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 2
    message = response.partial_success.error_message
    assert "spans[1]" in message and "spans[2]" in message
    assert stored_spans(receiver.data_dir)[trace_id(100)] == 1
    assert_still_serving(receiver, 101)


def test_hostile_spans_in_json_are_rejected_alone(receiver):
    from google.protobuf import json_format

    request = trace_service_pb2.ExportTraceServiceRequest.FromString(request_body(102, spans=3))
    document = json_format.MessageToDict(request)
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    deep: dict = {"stringValue": "bottom"}
    for _ in range(300):
        deep = {"arrayValue": {"values": [deep]}}
    spans[1]["attributes"].append({"key": "deep", "value": deep})
    spans[2]["startTimeUnixNano"] = "9" * 400
    body = json.dumps(document).encode()
    answer = post(receiver, body, **{"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.content
    response = json.loads(answer.content)["partialSuccess"]
    assert response["rejectedSpans"] == "2"
    assert "spans[1]" in response["errorMessage"] and "spans[2]" in response["errorMessage"]
    assert stored_spans(receiver.data_dir)[trace_id(102)] == 1
    assert_still_serving(receiver, 103)
