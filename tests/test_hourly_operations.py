"""The per-operation hourly figures (explorer.store.hourly_operations) and the SLA, anomaly and
drift pages read from them: counts equal a brute-force recount over every stored trace of
the window, percentiles are within the sketch's 1 %, breaches and anomalies are the
simulation's injected slow price calculations, late spans count once.

The tests over 60 days share one ingested simulation (about 8 s to make: `slow`)."""

from __future__ import annotations

import io
import math
import random
import re
from collections import defaultdict

import pytest
from ddsketch import DDSketch
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from explorer.configuration import explorer_config
from explorer.journeys.anomalies import operation_of
from explorer.journeys.now import latest_time_ns
from explorer.journeys.sla import breaches
from explorer.store import hourly_operations
from explorer.store.hourly_figures import (
    HOUR_NS,
    MAPPING,
    RELATIVE_ACCURACY,
    Sketch,
    bin_of,
    unpack_examples,
)
from explorer.store.ingest import ingest, store_traces
from explorer.store.models import HourlyOperation, StoredTrace
from explorer.store.source import StoreSource
from explorer.traces.model import SpanKind
from tests.simulation_support import empty_store_and_orders
from tests.test_store_pieces import pieces

FAULTS = {"slow_price": 0.15, "crm_5xx": 0.1}
PARTNER_SUBMIT = "POST /partner/v1/orders/{id}/submit"
PRICE = "PriceCalculator.Calculate"


def _run(simulation):
    return simulation(orders=60, days=60, seed=11, fault_rates=FAULTS)


@pytest.fixture(scope="module")
def stored(django_db_setup, django_db_blocker, simulation):
    """60 orders over 60 days (about 1,800 traces) ingested once for the module; the store's
    tables emptied afterwards, as the other modules expect them."""
    run = _run(simulation)
    with django_db_blocker.unblock():
        ingest(run.files, workers=1)
        yield run
        empty_store_and_orders()


@pytest.fixture(scope="module")
def every_span(stored):
    """Every stored span with its trace's order and the element and operation it counts
    under: the brute force the figures are checked against."""
    mapping = explorer_config().mapping
    out = []
    for trace in stored.traces():
        order = next(
            (s.attributes["order.id"] for s in trace.spans if "order.id" in s.attributes), ""
        )
        for span in trace.spans:
            element = mapping.service_element(span.resource) or ""
            out.append((element, operation_of(span), span, order))
    return out


def _brute_force(every_span, start: int, end: int) -> dict:
    totals: dict = defaultdict(lambda: {"count": 0, "errors": 0, "durations": []})
    for element, operation, span, _order in every_span:
        if start <= span.start_ns - span.start_ns % HOUR_NS < end:
            row = totals[(element, span.service, operation, int(span.kind))]
            row["count"] += 1
            row["errors"] += span.is_error
            row["durations"].append(max(span.duration_ns, 0))
    return totals


# --- The sketch -------------------------------------------------------------------------------


def test_bins_are_ddsketchs_keys_and_quantiles_its_quantiles():
    rng = random.Random(3)
    values = [int(rng.lognormvariate(17, 2)) for _ in range(3000)] + [0, 1, 2, 10**18]
    for value in values:
        assert value < 1 or bin_of(value) == MAPPING.key(float(value)) + 1
    sketch, reference = Sketch(), DDSketch(RELATIVE_ACCURACY)
    for value in values:
        sketch.add(value)
        reference.add(float(value))
    for q in (0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 1.0):
        assert sketch.quantile_ns(q) == pytest.approx(reference.get_quantile_value(q), rel=1e-12)
    assert Sketch.decode(sketch.encode()) == sketch
    assert len(sketch.encode()) == 1 + 3 * len(sketch.bins)  # counts under 256: 1 byte each


def test_operations_are_remembered_and_odd_attribute_values_still_answered():
    from tests.trace_support import make_span

    routed = make_span("a", name="HTTP POST", kind=SpanKind.SERVER, attributes={"http.route": "/x"})
    listed = make_span("b", name="HTTP POST", attributes={"http.route": ["/y", "/z"]})
    named = make_span("c", name="orders", attributes={"db.operation": "orders"})
    assert [operation_of(s) for s in (routed, routed, listed, named)] == [
        "POST /x",
        "POST /x",
        "POST ['/y', '/z']",
        "orders",
    ]


# --- The figures against every stored trace ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_sixty_days_of_figures_equal_a_recount_of_every_trace(stored, every_span):
    starts = [s.start_ns for _e, _op, s, _o in every_span]
    # every day's rows; then whole days read from day rows and the hours around them
    for start, end in ((0, 2**62), (min(starts) + 29 * HOUR_NS // 2, max(starts) - 30 * HOUR_NS)):
        covered, totals = hourly_operations.window(start, end)
        expected = _brute_force(every_span, covered, end)
        assert len(expected) > 30 and totals.keys() == expected.keys()
        for key, row in expected.items():
            found = totals[key]
            assert (found.count, found.errors) == (row["count"], row["errors"]), key
            durations = sorted(row["durations"])
            for q in (0.5, 0.95, 0.99):
                exact = durations[math.floor(q * (len(durations) - 1))]
                assert found.sketch.quantile_ns(q) == pytest.approx(
                    exact, rel=RELATIVE_ACCURACY + 1e-9, abs=1e-9
                ), (key, q)
        assert sum(r["errors"] for r in expected.values())  # errors were compared


@pytest.mark.slow
@pytest.mark.django_db
def test_breaches_are_the_injected_slow_price_calculations(stored, every_span):
    config = explorer_config()
    over = breaches(config.sla, ((e, s) for e, _op, s, _o in every_span))
    submits = {b.span_id for b in over if b.endpoint == PARTNER_SUBMIT}
    orders = {o for _e, _op, s, o in every_span if s.span_id in submits}
    slow = set(stored.truth["faults"]["slow_price"])
    partner = {o for o, info in stored.truth["orders"].items() if info["source"] != "shop"}
    assert orders and orders == slow & partner  # the test can fail: there are some
    _, totals = hourly_operations.window(0, 2**62)
    kept = sum(f.over_limit for f in totals.values())
    assert kept == len(over)


@pytest.mark.django_db
def _table() -> dict:
    return {
        (
            r.hour,
            r.day,
            r.key.element,
            r.key.service,
            r.key.operation,
            r.key.kind,
            r.key.customer_type,
        ): (
            r.count,
            r.errors,
            r.limit_ms,
            r.over_limit,
            bytes(r.sketch),
            unpack_examples(r.slowest),
        )
        for r in HourlyOperation.objects.select_related("key")
    }


def _few_traces(simulation) -> list:
    HourlyOperation.objects.all().delete()  # the module's data (back after the test)
    StoredTrace.objects.all().delete()
    return [t for t in simulation(orders=10, days=1, seed=5).traces() if len(t.spans) >= 6][:8]


@pytest.mark.django_db
def test_recount_gives_the_figures_kept_at_ingest(simulation):
    store_traces(_few_traces(simulation))
    kept = _table()
    assert kept
    HourlyOperation.objects.all().delete()
    call_command("ingest", "--recount-hourly", stdout=io.StringIO())
    assert _table() == kept


@pytest.mark.django_db
def test_a_trace_in_pieces_counts_each_span_once(simulation):
    traces = _few_traces(simulation)
    table = _table
    store_traces(traces)
    whole = table()
    store_traces(traces)  # the same spans again: nothing changes
    assert table() == whole
    HourlyOperation.objects.all().delete()
    StoredTrace.objects.all().delete()
    for n in range(3):
        store_traces([piece for t in traces for piece in pieces(t, 3)[n : n + 1]])
    store_traces([piece for t in traces for piece in pieces(t, 3)[:1]])  # a piece again
    assert table() == whole


# --- The pages --------------------------------------------------------------------------------


def _page(client, login_as, name: str, language: str = "en", **query) -> str:
    cache.clear()
    login_as("analyst")
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    response = client.get(reverse(f"web:{name}"), query)
    assert response.status_code == 200
    return response.content.decode()


def _number(text: str) -> int:
    return int(re.sub(r"\D", "", text))


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ru"])
def test_sla_page_counts_every_request_of_sixty_days(
    client, login_as, stored, every_span, language
):
    body = _page(client, login_as, "sla", language, window="90d")
    config = explorer_config()
    over = breaches(config.sla, ((e, s) for e, _op, s, _o in every_span))
    assert "newest" not in body and "самые новые" not in body
    heading = re.search(r"<h2>([\d\s\u00a0\u202f,]+) (breach|наруш)", body)
    assert heading and _number(heading.group(1)) == len(over)
    mes = config.names.in_language(language)["mes_api"]
    requests = sum(
        1
        for e, _op, s, _o in every_span
        if e == "mes_api" and s.kind == SpanKind.SERVER and config.sla_limit_ms(e, s.name)
    )
    row = re.search(rf"<tr[^>]*><td>{re.escape(mes)}</td><td class=\"num\">([^<]+)</td>", body)
    assert row and _number(row.group(1)) == requests
    assert ">mes_api<" not in body  # names, never ids
    slowest = max(over, key=lambda b: b.duration_ms / b.limit_ms)
    assert f"/traces/{slowest.trace_id}/?span={slowest.span_id}" in body
    assert re.search(r'href="/orders/A-\d+/"', body)  # breaches link to their orders


@pytest.mark.slow
@pytest.mark.django_db
def test_a_custom_window_counts_its_whole_hours(client, login_as, stored, every_span):
    end = latest_time_ns(StoreSource())
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(end / 1e9, tz=UTC).date().toordinal()
    first, last = (datetime.fromordinal(day - n).date().isoformat() for n in (30, 21))
    body = _page(client, login_as, "sla", window="custom", **{"from": first, "to": last})
    start = int(datetime.fromisoformat(first).replace(tzinfo=UTC).timestamp()) * 10**9
    stop = int(datetime.fromisoformat(last).replace(tzinfo=UTC).timestamp()) * 10**9 + 24 * HOUR_NS
    config = explorer_config()
    inside = [(e, s) for e, _op, s, _o in every_span if start <= s.start_ns < stop]
    expected = len(breaches(config.sla, inside))
    heading = re.search(r"<h2>([\d\s\u00a0\u202f,]+) breach", body)
    assert heading and _number(heading.group(1)) == expected
    assert f'value="{first}"' in body


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ({"from": "2026-13-01", "to": "2026-12-01"}, "is not a date"),
        ({"from": "2026-10-02", "to": "2026-10-01"}, "must come after its start"),
        ({"from": "2026-10-02"}, "needs both a start and an end"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "is not a date"),
    ],
)
def test_a_custom_window_that_cannot_be_read_says_why(client, login_as, stored, typed, problem):
    body = _page(client, login_as, "anomalies", window="custom", **typed)
    assert problem in body and "Showing the default window instead" in body


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ru"])
def test_anomalies_are_the_slow_price_calculations_explained(client, login_as, stored, language):
    body = _page(client, login_as, "anomalies", language, window="90d")
    slow = set(stored.truth["faults"]["slow_price"])
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td>.*?href=\"/orders/([^/]+)/\"", body)
    assert rows
    price_orders = {order for _name, operation, order in rows if operation == PRICE}
    assert price_orders and price_orders <= slow
    words = "times its usual spread" if language == "en" else "раз больше обычного разброса"
    assert words in body and ">mes_api<" not in body


@pytest.mark.slow
@pytest.mark.django_db
def test_drift_reads_every_hour_and_names_elements(client, login_as, stored):
    body = _page(client, login_as, "drift", window="90d")
    assert "every span from" in body and "newest" not in body
    assert "Calls the model does not show" in body
