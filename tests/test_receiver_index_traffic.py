"""The receiver's index mode keeps the system map's hourly figures (explorer.receiver.calls):
the OpenTelemetry SDK's OTLP/HTTP exporter sends each service's spans of a trace as a batch of
its own, the pieces of each trace in a different order and one batch twice, to the receiver's
own HTTP server; HourlyTraffic then equals what the store computes over the same traces
whole (explorer.store.traffic.contributions), and the map and drift pages read whole hours in
English and Russian with no "newest traces" note. About 3 s (most of it the test database)."""

from __future__ import annotations

import itertools
import time

import pytest
from django.urls import reverse
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from explorer.c4.configured import current_mapping
from explorer.receiver.models import IndexedTrace
from explorer.store.hourly_figures import decode_bins
from explorer.store.models import HourlyTraffic
from explorer.store.traffic import Traffic, contributions
from explorer.traces.parsers import parse_bytes
from tests.test_receiver_index_figures import sent_to_index

HOUR_NS = 3600 * 10**9
SERVICES = ("shop-api", "crm-api", "mes-api")
TRACES = 6


def _traces() -> list[dict[str, list]]:
    """Per trace, each service's finished spans. shop-api's order call to crm-api is a client
    span without the attributes a peer rule reads (paired with crm-api's server span: the
    other end), crm-api's internal span calls mes-api without a client span (paired by the
    server span's parent), and shop-api's database call is named by a peer rule."""
    kept: list = []

    class Keep(SpanExporter):
        def export(self, spans):
            kept.extend(spans)
            return SpanExportResult.SUCCESS

    tracers = {}
    for service in SERVICES:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(Keep()))
        tracers[service] = provider.get_tracer("test")
    start = time.time_ns() - 3 * HOUR_NS
    traces = []
    for number in range(TRACES):
        at = start + number * 20 * 60 * 10**9  # across two hours
        kept.clear()
        shop, crm, mes = (tracers[s] for s in SERVICES)
        root = shop.start_span("POST /api/orders", kind=SpanKind.SERVER, start_time=at)
        db = shop.start_span(
            "INSERT shop.orders",
            context=set_span_in_context(root),
            kind=SpanKind.CLIENT,
            start_time=at + 10**6,
            attributes={"db.system.name": "postgresql", "db.namespace": "shop"},
        )
        db.end(end_time=at + 4 * 10**6)
        call = shop.start_span(
            "POST",
            context=set_span_in_context(root),
            kind=SpanKind.CLIENT,
            start_time=at + 5 * 10**6,
        )
        served = crm.start_span(
            "POST /orders",
            context=set_span_in_context(call),
            kind=SpanKind.SERVER,
            start_time=at + 6 * 10**6,
        )
        work = crm.start_span(
            "price", context=set_span_in_context(served), start_time=at + 7 * 10**6
        )
        priced = mes.start_span(
            "GET /price",
            context=set_span_in_context(work),
            kind=SpanKind.SERVER,
            start_time=at + 8 * 10**6,
        )
        if number % 3 == 0:
            priced.set_status(Status(StatusCode.ERROR))
        for span, end_ms in ((priced, 20 + number), (work, 30), (served, 40), (call, 45)):
            span.end(end_time=at + end_ms * 10**6)
        root.end(end_time=at + 50 * 10**6)
        pieces: dict[str, list] = {}
        for span in kept:
            pieces.setdefault(span.resource.attributes["service.name"], []).append(span)
        traces.append(pieces)
    return traces


def _store_figures(spans: list) -> dict:
    """What the store keeps for these spans ingested whole: its own computation."""
    body = encode_spans(spans).SerializePartialToString()
    totals: dict = {}
    for key, traffic in contributions(
        parse_bytes(body, fmt="otlp-proto").traces, current_mapping()
    ).items():
        totals.setdefault(key, Traffic()).merge(traffic)
    return {key: _figures(t) for key, t in totals.items() if t.calls}


def _figures(traffic: Traffic) -> tuple:
    return (traffic.calls, traffic.errors, traffic.duration_ns, traffic.buckets)


@pytest.fixture
def received(settings, transactional_db):
    """Every trace's pieces sent in another order (the six orders of three services), the
    first piece of all once more (an exporter's retry), beside a fake Tempo holding them."""
    traces = _traces()
    spans = [span for pieces in traces for piece in pieces.values() for span in piece]
    orders = list(itertools.permutations(SERVICES))
    batches = [
        pieces[service] for pieces, order in zip(traces, orders, strict=True) for service in order
    ]
    settings.EXPLORER_RECEIVER_INDEX_TRAFFIC = True
    with sent_to_index(settings, batches, spans):
        yield spans


def test_pieces_in_any_order_give_the_store_s_figures_once(received):
    rows = HourlyTraffic.objects.values_list(
        "hour", "kind", "source", "target", "calls", "errors", "duration_ns", "buckets"
    )
    kept = {
        (hour, kind, source, target): (calls, errors, ns, decode_bins(bytes(buckets)))
        for hour, kind, source, target, calls, errors, ns, buckets in rows
        if calls
    }
    expected = _store_figures(received)
    assert {key[1:] for key in expected} >= {
        ("pair", "shop_api", "crm_api"),  # a client span and its server child
        ("pair", "crm_api", "mes_api"),  # a server span and its internal parent
        ("pair", "shop_api", "shop_db"),  # a peer rule
    }
    assert kept == expected
    # What the index keeps to pair them holds no id (explorer.receiver.calls)
    for trace_id, calls in IndexedTrace.objects.values_list("trace_id", "calls"):
        record = bytes(calls)
        assert record and trace_id.encode() not in record
        assert not any(format(s.context.span_id, "016x").encode() in record for s in received)


def _page(client, name: str, language: str) -> str:
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    response = client.get(reverse(f"web:{name}"), {"window": "24h"})
    assert response.status_code == 200
    return response.content.decode()


def test_map_and_drift_read_whole_hours_in_english_and_russian(client, login_as, received):
    login_as("analyst")
    whole = {"en": "The numbers cover every call from", "ru": "Цифры — по всем вызовам с"}
    spans = {"en": "The numbers cover every span from", "ru": "Цифры — по всем спанам с"}
    # a 24-hour window: the receiver started counting within it, and says so
    since = {"en": "The receiver has counted spans since", "ru": "Приёмник считает спаны с"}
    for language in ("en", "ru"):
        body = _page(client, "system_map", language)
        assert whole[language] in body and since[language] in body
        assert "Shop API → CRM API" in body and "CRM API → MES API" in body
        drift = _page(client, "drift", language)
        assert spans[language] in drift and since[language] in drift
        for page in (body, drift):
            assert "newest" not in page and "самы" not in page  # самые новые, самым новым
            assert "keeps no hourly figures" not in page and "почасовых" not in page
