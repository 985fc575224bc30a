"""Charts over time (explorer.store.hourly_series, explorer.web.trend_series, trend_charts,
trends): the series' counts equal the hourly rows and the window's sums, percentiles are
within the sketch's 1 % of a brute force over the stored spans, buckets are hours up to
8 days and UTC days beyond, names from traces are escaped, and the SLA, anomalies and trend
pages link each bucket and each operation where they should.

One small simulation (30 orders over 10 days) is ingested once for the module."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import translation

from explorer.configuration import explorer_config
from explorer.journeys.anomalies import operation_of
from explorer.journeys.now import latest_time_ns
from explorer.store import hourly_operations, hourly_report, hourly_series
from explorer.store.hourly_figures import HOUR_NS, RELATIVE_ACCURACY, Sketch
from explorer.store.hourly_operations import DAY_NS
from explorer.store.hourly_series import (
    HOURLY_UP_TO_NS,
    Only,
    above,
    bucket_of,
    first_bin_above,
)
from explorer.store.models import HourlyOperation
from explorer.store.source import StoreSource
from explorer.web import trend_series
from explorer.web.trend_charts import (
    TrendLabels,
    TrendPoint,
    chart_context,
    counts_svg,
    latency_svg,
)
from tests.simulation_support import ingested

FAULTS = {"slow_price": 0.3, "crm_5xx": 0.15}
HOSTILE = '<script>alert("x")</script>\u202e&amp;'


@pytest.fixture(scope="module")
def stored(django_db_setup, django_db_blocker, simulation):
    run = simulation(orders=30, days=10, seed=5, fault_rates=FAULTS)
    with ingested(run, django_db_blocker):
        yield run


@pytest.fixture(scope="module")
def spans(stored):
    """Every stored span as (service, operation, span): the brute force."""
    return [(s.service, operation_of(s), s) for t in stored.traces() for s in t.spans]


@pytest.fixture(scope="module")
def end(stored, django_db_blocker):
    with django_db_blocker.unblock():
        return latest_time_ns(StoreSource()) + 1


def _busiest(spans) -> tuple[str, str]:
    counts: dict = defaultdict(int)
    for service, operation, _span in spans:
        counts[(service, operation)] += 1
    return max(counts, key=lambda key: (counts[key], key))


# --- Buckets and series -------------------------------------------------------------------------


def test_buckets_are_hours_up_to_eight_days_then_utc_days():
    assert bucket_of(HOUR_NS) == bucket_of(7 * DAY_NS + 1) == bucket_of(HOURLY_UP_TO_NS) == HOUR_NS
    assert bucket_of(HOURLY_UP_TO_NS + 1) == bucket_of(90 * DAY_NS) == DAY_NS


@pytest.mark.django_db
@pytest.mark.parametrize("days", [2, 9])
def test_series_counts_equal_the_hourly_rows_and_the_windows_sum(stored, spans, end, days):
    start = end - days * DAY_NS
    service, operation = _busiest(spans)
    only = Only(service, operation)
    points = trend_series.operation_series(start, end, only)
    size = bucket_of(end - start)
    assert all(p.end_ns - p.start_ns <= size for p in points)
    assert [p.start_ns for p in points[1:]] == [p.end_ns for p in points[:-1]]  # no gap
    rows = HourlyOperation.objects.filter(
        day=False, key__service=service, key__operation=operation, hour__gte=points[0].start_ns
    )
    by_bucket: dict = defaultdict(lambda: [0, 0])
    for row in rows.filter(hour__lt=end):
        by_bucket[row.hour - row.hour % size][0] += row.count
        by_bucket[row.hour - row.hour % size][1] += row.errors
    assert {p.start_ns - p.start_ns % size: [p.count, p.errors] for p in points if p.count} == {
        key: value for key, value in by_bucket.items() if value[0]
    }
    window = hourly_operations.window(start, end)[1]
    assert sum(p.count for p in points) == sum(
        f.count for key, f in window.items() if key[1:3] == (service, operation)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("days", [2, 9])
def test_percentiles_are_within_the_sketchs_error_of_every_span(stored, spans, end, days):
    start = end - days * DAY_NS
    service, operation = _busiest(spans)
    points = trend_series.operation_series(start, end, Only(service, operation))
    checked = 0
    for p in points:
        durations = sorted(
            max(s.duration_ns, 0)
            for svc, op, s in spans
            if (svc, op) == (service, operation) and p.start_ns <= s.start_ns < p.end_ns
        )
        assert len(durations) == p.count
        if not durations:
            assert p.p50_ns is p.p95_ns is p.p99_ns is None
            continue
        for q, found in ((0.5, p.p50_ns), (0.95, p.p95_ns), (0.99, p.p99_ns)):
            exact = durations[int(q * (len(durations) - 1))]  # DDSketch's rank
            assert found == pytest.approx(exact, rel=RELATIVE_ACCURACY * 1.001)
            checked += 1
    assert checked >= 3


@pytest.mark.django_db
def test_an_empty_window_has_empty_buckets_and_no_latency_chart(stored, end):
    start = end + 30 * DAY_NS
    start -= start % HOUR_NS
    points = trend_series.operation_series(start, start + 6 * HOUR_NS, Only("no-such", "op"))
    assert len(points) == 6 and all(p.count == 0 and p.p50_ns is None for p in points)
    labels = TrendLabels("t", "Requests per hour")
    assert latency_svg(points, labels) == ""
    assert 'class="point"' in counts_svg(points, labels)  # each hour still reachable
    assert counts_svg([], labels) == latency_svg([], labels) == ""


@pytest.mark.django_db
def test_breaches_and_atypical_spans_per_bucket_add_up_to_the_pages(stored, end, client, login_as):
    start = end - 30 * DAY_NS
    config = explorer_config()
    sla = trend_series.sla_series(start, end, config.sla_limit_ms)
    assert all(p.end_ns - p.start_ns <= DAY_NS for p in sla) and len(sla) <= 31
    body = _page(client, login_as, "sla", window="30d")
    heading = re.search(r"<h2>([\d\s\u00a0,]+) breach", body)
    assert heading and sum(p.over_limit or 0 for p in sla) == _number(heading.group(1)) > 0
    assert body.count('class="chart trend counts"') == 1
    body = _page(client, login_as, "anomalies", window="30d")
    slow = re.findall(
        r"<td class=\"num\">([\d,]+)</td><td class=\"num\">[^<]+</td><td><a class=\"trend-link\"",
        body,
    )
    chart = re.findall(r'aria-label="[^"]*: ([\d,]+) atypically slow span', body)
    assert slow and sum(map(_number, chart)) == sum(map(_number, slow))


# --- The renderer -------------------------------------------------------------------------------


def test_hostile_names_are_escaped_in_the_svg():
    points = [
        TrendPoint(0, HOUR_NS, 5, 2, None, 1e6, 2e6, 3e6, "/x?a=1&b=2"),
        TrendPoint(HOUR_NS, 2 * HOUR_NS, 0),
    ]
    labels = TrendLabels("t", "Requests per hour", HOSTILE)
    translation.activate("en")  # a page test before may leave another language active
    for svg in (counts_svg(points, labels), latency_svg(points, labels)):
        assert "<script>" not in svg and "\u202e" not in svg
        assert "&lt;script&gt;" in svg and "&amp;amp;" in svg
        assert 'href="/x?a=1&amp;b=2"' in svg
    assert "2 errors (40.0 %)" in counts_svg(points, labels)


def test_point_text_is_in_the_pages_language_and_number_format():
    point = TrendPoint(0, HOUR_NS, 12345, 3, None, 1.5e6, 2.5e6, 12e6)
    labels = TrendLabels("t", "x")
    with translation.override("ru"):
        svg = counts_svg([point], labels)
    assert "12\u00a0345" in svg and "1,5 мс" in svg and "3 ошибки (0,0 %)" in svg


# --- The pages ----------------------------------------------------------------------------------


def _page(client, login_as, name: str, language: str = "en", status: int = 200, **query) -> str:
    cache.clear()
    if "_auth_user_id" not in client.session:
        login_as("analyst")
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    response = client.get(reverse(f"web:{name}"), query)
    assert response.status_code == status
    return response.content.decode()


def _number(text: str) -> int:
    return int(re.sub(r"\D", "", text))


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ru"])
def test_sla_rows_link_to_their_trend_whose_buckets_open_their_traces(
    stored, client, login_as, language
):
    body = _page(client, login_as, "sla", language, window="7d")
    links = re.findall(r'<a class="trend-link" href="([^"]+)"', body)
    assert links and all(link.startswith("/trends/?") for link in links)
    requests = re.search(
        r'sla-endpoints".*?<tbody><tr[^>]*><td>[^<]*</td><td>[^<]*</td>'
        r'<td class="num">([^<]+)</td>',
        body,
        re.S,
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(links[0].replace("&amp;", "&")).query).items()}
    assert query["window"] == "7d" and query["service"] and query["operation"]
    body = _page(client, login_as, "trend", language, **query)
    assert body.count('role="group" aria-labelledby="trend-') == 2 and "mes_api<" not in body
    assert ("Requests per hour" if language == "en" else "Запросов в час") in body
    total = re.search(r"(?:In this window|За это окно): ([\d\s\u00a0,]+) ", body)
    assert requests and total and _number(total.group(1)) == _number(requests.group(1))
    point = re.search(
        r'<a class="point" href="(/\?[^"]+)" aria-label="[^"]*: ([\d\s\u00a0,]+) '
        r"(?:request|запрос)",
        body,
    )
    assert point
    search = {
        k: v[0] for k, v in parse_qs(urlsplit(point.group(1).replace("&amp;", "&")).query).items()
    }
    assert search["service"] == query["service"] and search["since"] < search["until"]
    found = client.get("/", search)
    assert found.status_code == 200
    assert f'name="service" value="{query["service"]}"' in found.content.decode() or (
        query["service"] in found.content.decode()
    )


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ru"])
def test_without_an_operation_the_trend_page_lists_the_windows_operations(
    stored, spans, end, client, login_as, language
):
    login_as("support")
    assert client.get(reverse("web:trend"), {"service": "a", "operation": "b"}).status_code == 403
    client.logout()
    body = _page(client, login_as, "trend", language, window="7d")
    assert ("Choose an operation" if language == "en" else "Выберите операцию") in body
    rows = re.findall(
        r'<tr><td>[^<]*</td><th scope="row"><a href="(/trends/\?[^"]+)">[^<]*</a></th>'
        r'<td class="num">([^<]+)</td>',
        body,
    )
    # every operation of the window's whole hours, as the SLA and anomaly pages sum them
    start = end - 7 * DAY_NS
    window = hourly_operations.window(start, end)[1]
    assert sum(_number(count) for _link, count in rows) == sum(f.count for f in window.values())
    service, operation = _busiest([s for s in spans if s[2].start_ns >= start - HOUR_NS])
    links = {
        (q["service"][0], q["operation"][0], q["window"][0]): count
        for link, count in rows
        for q in [parse_qs(urlsplit(link.replace("&amp;", "&")).query)]
    }
    count = links[(service, operation, "7d")]
    chart = _page(
        client, login_as, "trend", language, window="7d", service=service, operation=operation
    )
    total = re.search(r"(?:In this window|За это окно): ([\d\s\u00a0,]+) ", chart)
    assert total and _number(total.group(1)) == _number(count)


@pytest.mark.django_db
def test_the_trend_page_lists_nothing_for_an_empty_window(stored, end, client, login_as):
    body = _page(
        client, login_as, "trend", window="custom", **{"from": "2001-01-01", "to": "2001-01-02"}
    )
    assert "No span in this window." in body and "/trends/?" not in body


@pytest.mark.django_db
def test_a_hostile_operation_in_the_url_is_escaped(stored, client, login_as):
    hostile = {"service": HOSTILE + "\x00", "operation": HOSTILE, "customer_type": "\x00<b>"}
    body = _page(client, login_as, "trend", window="24h", **hostile)
    assert "<script>alert" not in body and "&lt;script&gt;" in body
    assert 'type="hidden" name="service"' in body  # the window form keeps the operation


@pytest.mark.django_db
def test_a_bar_of_the_anomalies_chart_opens_the_page_over_its_bucket(stored, client, login_as):
    body = _page(client, login_as, "anomalies", window="30d")
    assert "Atypically slow spans per day (UTC)" in body
    links = re.findall(r'<a class="point" href="(/anomalies/\?[^"]+)"', body)
    assert len(links) >= 10
    query = {k: v[0] for k, v in parse_qs(urlsplit(links[-1].replace("&amp;", "&")).query).items()}
    assert query["window"] == "custom" and query["from"] < query["to"]
    body = _page(client, login_as, "anomalies", **query)
    assert f'value="{query["from"]}"' in body and "Showing the default window" not in body
    assert "Atypically slow spans per hour" in body  # a day's window: per hour


@pytest.mark.django_db
def test_a_customer_type_narrows_the_trend_to_its_rows(stored, spans, end):
    service, operation = _busiest(spans)
    start = end - 9 * DAY_NS
    every = trend_series.operation_series(start, end, Only(service, operation))
    by_type = {}
    types = HourlyOperation.objects.values_list("key__customer_type", flat=True).distinct()
    for customer_type in types:
        only = Only(service, operation, customer_type)
        by_type[customer_type] = sum(
            p.count for p in trend_series.operation_series(start, end, only)
        )
    assert len(by_type) >= 2 and sum(by_type.values()) == sum(p.count for p in every)


class _Remote:
    """A source without hourly figures (as a remote backend): only its "now"."""

    name = "remote"

    def newest_end_ns(self, start_ns=None, end_ns=None):
        return StoreSource().newest_end_ns(start_ns, end_ns)


@pytest.mark.django_db
def test_without_hourly_figures_the_trend_page_says_so(stored, client, login_as, monkeypatch):
    monkeypatch.setattr("explorer.web.common.source", _Remote)
    body = _page(client, login_as, "trend", service="crm-api", operation="x", window="24h")
    assert "keeps no hourly figures" in body and 'class="chart trend' not in body


@pytest.mark.django_db
@pytest.mark.parametrize("share", [1.0, 0.5])
@pytest.mark.parametrize("read", ["alone", "light", "with the window"])
def test_breaches_per_bucket_follow_the_sla_report_when_a_limit_changed(stored, end, share, read):
    """share 0.5: every limit halved since the spans were counted, so the breaches are
    estimated from the sketches, per bucket as over the window; the rows read by the series,
    given without their sketches, or read with the window's figures."""
    config = explorer_config()

    def limit_ms(element: str, endpoint: str) -> float | None:
        found = config.sla_limit_ms(element, endpoint)
        return found * share if found is not None else None

    start = end - 30 * DAY_NS
    endpoints = hourly_report.sla_report(hourly_operations.window(start, end)[1], limit_ms)
    assert endpoints and all(e.estimated == (share != 1.0) for e in endpoints)
    rows = {
        "alone": None,
        "light": hourly_series.rows(start, end, sketches=False),
        "with the window": hourly_series.window_and_rows(start, end)[2],
    }[read]
    points = trend_series.sla_series(start, end, limit_ms, rows)
    assert sum(p.over_limit or 0 for p in points) == sum(e.over for e in endpoints) > 0
    assert sum(p.count for p in points) == sum(e.requests for e in endpoints)


def test_counting_above_a_limit_in_an_encoded_sketch_is_the_sketchs_own_count():
    rng = random.Random(9)
    sketch = Sketch()
    for _ in range(2000):
        sketch.add(int(rng.lognormvariate(16, 1.5)))
    sketch.add(0)
    data = sketch.encode()
    for limit in [-1.0, 0.0, 1.0, 5e5, 8.88e6, 1e7, 3e8, 1e12, *sketch_values(sketch)]:
        assert above(data, first_bin_above(limit)) == sketch.above(limit), limit


def sketch_values(sketch: Sketch) -> list[float]:
    """Limits exactly at bin values, where a rounding would show."""
    return [value for value, _count in list(sketch.ordered())[::7]]


@pytest.mark.django_db
def test_the_customer_type_form_keeps_the_operation_and_the_window(stored, spans, client, login_as):
    service, operation = _busiest(spans)
    query = {"service": service, "operation": operation, "window": "30d"}
    every = _page(client, login_as, "trend", **query)
    assert re.search(r'<select id="trend-type" name="customer_type"><option value="">', every)
    for name, value in query.items():
        assert f'type="hidden" name="{name}" value="{value}"' in every
    narrowed = _page(client, login_as, "trend", customer_type="b2b_partner", **query)
    assert 'value="b2b_partner" selected' in narrowed and "Customer type: B2B partner" in narrowed
    total = re.compile(r"In this window: ([\d,]+) request")
    found, part = total.search(every), total.search(narrowed)
    assert found and part and 0 < _number(part.group(1)) < _number(found.group(1))


def test_the_table_lists_the_counted_buckets_escaped_and_links_them_when_it_can():
    points = [
        TrendPoint(0, HOUR_NS, 2, 1, None, 1e6, None, None, "/a?x=1&y=<2>"),
        TrendPoint(HOUR_NS, 2 * HOUR_NS, 0, 0),
        TrendPoint(2 * HOUR_NS, 3 * HOUR_NS, 1, 0),
    ]
    translation.activate("en")
    context = chart_context(points, TrendLabels("t", "x", HOSTILE))
    body = str(context["body"])
    assert body.count("<tr>") == 2  # the empty hour left out
    assert 'href="/a?x=1&amp;y=&lt;2&gt;"' in body and "<td>1970-01-01 02:00–03:00</td>" in body
    assert "50.0 %" in body and body.count("—") >= 2
