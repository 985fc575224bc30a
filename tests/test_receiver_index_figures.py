"""The receiver's index mode keeps the hourly operation figures (explorer.store
.hourly_operations) as spans arrive: the OpenTelemetry SDK's OTLP/HTTP exporter sends them to
the receiver's own HTTP server (decode, index, figures, one transaction), a batch twice and a
trace in two pieces; the SLA and anomaly pages then count every span sent, in English and
Russian, with no "newest traces" note, and a breach's trace loads from the (fake) Tempo. The
whole file takes about 5 s (most of it the test database)."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from explorer.caching import reset_caches
from explorer.receiver.config import load
from explorer.receiver.http_server import ReceiverHTTPServer
from explorer.receiver.service import Receiver
from explorer.store.hourly_figures import unpack_examples
from explorer.store.hourly_operations import window
from explorer.store.models import HourlyOperation
from explorer.traces.parsers import parse_bytes
from tests.backends_support import ReplayServer, tempo_replay
from tests.receiver_support import TOKEN, TOKENS

HOUR_NS = 3600 * 10**9
LIMIT_MS = 500  # shop_api's POST /api/orders (explorer/alexandrite/sla.json)
# (duration of POST /api/orders in ms, whether it fails); the third is slow and in two pieces
ORDERS = [(120, False), (640, False), (900, True), (80, False), (700, False), (300, True)]


def _batches() -> tuple[list[list], list]:
    """Batches of finished SDK spans: one trace each (a SERVER span with the order and
    customer type, two CLIENT calls), but the third trace's calls come in a batch of their
    own after it, without the customer type; and every span."""
    kept: list = []

    class Keep(SpanExporter):
        def export(self, spans):
            kept.extend(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "shop-api"}))
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    tracer = provider.get_tracer("test")
    start = time.time_ns() - 3 * HOUR_NS
    batches: list[list] = []
    for number, (duration_ms, fails) in enumerate(ORDERS):
        at = start + number * 10 * 60 * 10**9
        attributes = {
            "order.id": f"F-{number}",
            "customer.type": "vip",
            "customer.id": f"C-{number:05d}",
        }
        root = tracer.start_span(
            "POST /api/orders", kind=SpanKind.SERVER, start_time=at, attributes=attributes
        )
        for call in range(2):
            child = tracer.start_span(
                "SELECT shop.orders",
                context=set_span_in_context(root),
                kind=SpanKind.CLIENT,
                start_time=at + call * 10**6,
                attributes={"db.system": "postgresql"},
            )
            child.end(end_time=at + (call + 5) * 10**6)
        if fails:
            root.set_status(Status(StatusCode.ERROR))
        root.end(end_time=at + duration_ms * 10**6)
        spans = kept[-3:]
        if number == 2:  # the root with the order and customer type, then the calls
            batches += [spans[2:], spans[:2]]
        else:
            batches.append(spans)
    return batches, kept


@contextmanager
def _receiver_http_server() -> Iterator[str]:
    """The receiver's own HTTP server (waitress) on a free loopback port, writing in its
    request threads (no writer processes) into the test database; its URL."""
    receiver = Receiver(replace(load(), writers=0), sqlite=connection.vendor == "sqlite")
    receiver.start()
    sock = socket.create_server(("127.0.0.1", 0))
    server = ReceiverHTTPServer(receiver, sock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1/traces"
    finally:
        server.shutdown(grace_s=1)
        thread.join(5)
        receiver.stop()


@contextmanager
def sent_to_index(settings, batches: list[list], spans: list) -> Iterator[None]:
    """These batches sent by the SDK's OTLP/HTTP exporter to the receiver in index mode (the
    first one twice, as an exporter's retry), beside a fake Tempo that holds their traces
    (`spans`: all of them), which stays up while the caller reads."""
    body = encode_spans(spans).SerializePartialToString()
    with ReplayServer(tempo_replay(parse_bytes(body, fmt="otlp-proto").traces)) as tempo:
        settings.EXPLORER_BACKENDS = {"tempo": {"kind": "tempo", "url": tempo.url, "retries": 0}}
        settings.EXPLORER_DEFAULT_BACKEND = "tempo"
        settings.EXPLORER_RECEIVER_MODE = "index"
        settings.EXPLORER_RECEIVER_TOKENS = TOKENS
        reset_caches()
        with _receiver_http_server() as url:
            exporter = OTLPSpanExporter(endpoint=url, headers={"authorization": f"Bearer {TOKEN}"})
            for batch in [*batches, batches[0]]:
                assert exporter.export(batch) is SpanExportResult.SUCCESS
            exporter.shutdown()
        yield
    reset_caches()


@pytest.fixture
def received(settings, transactional_db):
    """The batches of _batches() sent to the receiver in index mode (sent_to_index)."""
    batches, spans = _batches()
    with sent_to_index(settings, batches, spans):
        yield spans


def _page(client, name: str, language: str) -> str:
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    response = client.get(reverse(f"web:{name}"), {"window": "24h"})
    assert response.status_code == 200
    return response.content.decode()


def _number(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def test_figures_count_each_span_once_under_its_trace_s_customer_type(received):
    start = received[0].start_time - HOUR_NS
    _covered, totals = window(start, start + 6 * HOUR_NS)
    count = {op[2]: figures.count for op, figures in totals.items()}
    assert count == {"POST /api/orders": len(ORDERS), "SELECT shop.orders": 2 * len(ORDERS)}
    errors = {op[2]: figures.errors for op, figures in totals.items()}
    assert errors["POST /api/orders"] == sum(fails for _ms, fails in ORDERS)
    server = next(f for op, f in totals.items() if op[2] == "POST /api/orders")
    assert server.over_limit == sum(ms > LIMIT_MS for ms, _fails in ORDERS)
    # The calls of the trace in two pieces came after its customer type: counted under it.
    assert {f.by_customer_type.get("vip") for f in totals.values()} == {server.count, 2 * 6}
    untyped = HourlyOperation.objects.filter(key__customer_type="").values_list("count", flat=True)
    assert sum(untyped) == 0  # counted under none, then moved: rows of 0


@pytest.mark.parametrize("language", ["en", "ru"])
def test_sla_and_anomaly_pages_count_every_span_received(client, login_as, received, language):
    login_as("analyst")
    body = _page(client, "sla", language)
    assert "newest" not in body and "самые новые" not in body
    heading = re.search(r"<h2>([\d\s\u00a0\u202f,]+) (breach|наруш)", body)
    assert heading and _number(heading.group(1)) == sum(ms > LIMIT_MS for ms, _ in ORDERS)
    slowest = max((s for s in received if s.name == "POST /api/orders"), key=_duration)
    trace_id = format(slowest.context.trace_id, "032x")
    assert f"/traces/{trace_id}/?span={format(slowest.context.span_id, '016x')}" in body
    assert 'href="/orders/F-2/"' in body  # breaches link to their orders
    assert client.get(f"/traces/{trace_id}/").status_code == 200  # from Tempo
    anomalies = _page(client, "anomalies", language)
    assert "newest" not in anomalies and "самые новые" not in anomalies


def _duration(span) -> int:
    return span.end_time - span.start_time


def test_a_window_before_the_receiver_started_says_so(client, login_as, received):
    login_as("analyst")
    body = _page(client, "sla", "en")  # 24 hours; the spans came 3 hours ago
    assert "The receiver has counted spans since" in body
    russian = _page(client, "anomalies", "ru")
    assert "Приёмник считает спаны с" in russian


def test_recount_refuses_index_mode_rather_than_wipe_the_figures(received):
    kept = HourlyOperation.objects.count()
    with pytest.raises(CommandError, match="index mode"):
        call_command("ingest", recount_hourly=True)
    assert HourlyOperation.objects.count() == kept > 0


def test_forgetting_a_customer_drops_the_examples_of_their_indexed_traces(received):
    gone = {format(s.context.trace_id, "032x") for s in received[3:6]}  # order F-1's trace
    examples = {
        e[1]
        for row in HourlyOperation.objects.values_list("slowest", flat=True)
        for e in unpack_examples(row)
    }
    assert gone <= examples
    out = io.StringIO()
    call_command("forget-customer", "C-00001", "--reason", "request 1", "--no-vacuum", stdout=out)
    examples = {
        e[1]
        for row in HourlyOperation.objects.values_list("slowest", flat=True)
        for e in unpack_examples(row)
    }
    assert examples and not gone & examples


def test_an_operation_s_trend_is_charted_from_the_receiver_s_figures(client, login_as, received):
    login_as("analyst")
    query = {"service": "shop-api", "operation": "POST /api/orders", "window": "24h"}
    body = client.get(reverse("web:trend"), query).content.decode()
    assert "keeps no hourly figures" not in body
    assert "<svg" in body
