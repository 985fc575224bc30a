"""The query and search results as pictures (explorer/web/result_charts.py): marks placed by
start and duration, hostile names escaped, empty, one and identical results, both languages."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import translation

from explorer.store.ingest import store_traces
from explorer.traces.model import Trace
from explorer.web.result_charts import (
    X_FROM,
    X_SPAN,
    Bucket,
    Point,
    buckets,
    duration_scale,
    histogram_svg,
    scatter_svg,
    time_axis,
    time_text,
)
from tests.trace_support import make_span

S = 10**9
MS = 10**6
T0 = 1_780_000_000 * S
pytestmark = pytest.mark.django_db  # the colours read the configured mapping


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def point(i: int, start_ns: int, duration_ns: int, service="crm-api", errors=0) -> Point:
    return Point(f"t{i:032x}", start_ns, duration_ns, service, "GET /orders", errors)


MARK = r'<a class="point[^"]*" href="([^"]+)".*?x="([\d.]+)%" y="([\d.]+)"'
BAR = r'<rect x="[\d.]+%" y="[\d.]+" width="[\d.]+%" height="[1-9]'


def marks(svg: str) -> list[tuple[float, float, str]]:
    """(x %, y px, href) of each mark, in document order."""
    return [
        (float(x), float(y), href)
        for href, x, y in re.findall(
            r'<a class="point[^"]*" href="([^"]+)".*?x="([\d.]+)%" y="([\d.]+)"', svg
        )
    ]


def test_marks_are_placed_by_start_and_duration():
    points = [point(0, T0, 10 * MS), point(1, T0 + 60 * S, 40 * MS), point(2, T0 + 30 * S, 20 * MS)]
    found = marks(scatter_svg(points))  # in order of start: Tab goes left to right
    assert [m[2] for m in found] == [f"/traces/{points[i].trace_id}/" for i in (0, 2, 1)]
    xs, ys = [m[0] for m in found], [m[1] for m in found]
    assert xs == [X_FROM, pytest.approx(50, abs=0.01), X_FROM + X_SPAN]
    assert ys[2] < ys[1] < ys[0]  # longer is higher up
    # Linear (spread 4): equal steps of duration, equal steps of height.
    assert ys[0] - ys[1] == pytest.approx((ys[1] - ys[2]) / 2, abs=0.2)


def test_a_wide_spread_is_drawn_on_a_log_scale():
    scale = duration_scale([1 * MS, 10 * MS, 1000 * MS])
    assert scale.log and scale.low == MS and scale.high == 1000 * MS
    assert scale.fraction(10 * MS) == pytest.approx(1 / 3)
    assert not duration_scale([10 * MS, 150 * MS]).log
    svg = scatter_svg([point(0, T0, MS), point(1, T0 + S, 1000 * MS)])
    assert "logarithmic" in svg
    assert ">1 ms<" in svg and ">10 ms<" in svg and ">1 s<" in svg  # ticks at each decade


def test_errors_are_a_shape_not_only_a_colour():
    svg = scatter_svg([point(0, T0, MS), point(1, T0 + S, 2 * MS, errors=3)])
    assert svg.count('href="#chart-error"') == 1 and svg.count('href="#chart-ok"') == 1
    assert "3 errors" in svg


def test_hostile_service_and_operation_names_are_escaped():
    hostile = '"><script>alert(1)</script><a href="javascript:x">\u202e'
    p = Point("t1", T0, MS, hostile, "</title><svg onload=alert(1)>", 1)
    svg = str(scatter_svg([p])) + str(histogram_svg([MS]))
    assert "<script" not in svg and "<svg onload" not in svg and 'href="javascript' not in svg
    assert "&lt;script&gt;" in svg and "\u202e" not in svg  # bidi override shown as a symbol
    assert svg.count("<title") == 2 + 1 + 1  # the two charts', the mark's, the bar's


def test_no_results_draw_nothing():
    assert scatter_svg([]) == "" and histogram_svg([]) == "" and buckets([]) == []


@pytest.mark.parametrize("count", [1, 4])
def test_one_result_and_identical_times_and_durations_sit_in_the_middle(count):
    points = [point(i, T0, 5 * MS) for i in range(count)]
    found = marks(scatter_svg(points))
    assert len(found) == count
    assert {m[0] for m in found} == {50.0}
    assert len({m[1] for m in found}) == 1
    assert buckets([p.duration_ns for p in points]) == [Bucket(5 * MS, 5 * MS, count)]
    assert len(re.findall(BAR, histogram_svg([5 * MS] * count))) == 1


def test_histogram_counts_every_duration_once():
    durations = [i * MS for i in range(1, 101)]
    found = buckets(durations)
    assert len(found) == 10 and sum(b.count for b in found) == 100
    assert found[0].low_ns == MS and found[-1].high_ns == 100 * MS
    wide = buckets([MS, 2 * MS, 1000 * MS, 0])  # a zero duration goes in the first bucket
    assert sum(b.count for b in wide) == 4


def test_labels_and_numbers_in_russian():
    points = [point(i, T0 + i * S, (i + 1) * 1500 * MS, errors=i % 2) for i in range(1200)]
    with translation.override("ru"):
        svg = str(scatter_svg(points)) + str(histogram_svg([p.duration_ns for p in points]))
        svg += str(histogram_svg([MS] * 1200))
    assert "Длительность" in svg and "ошиб" in svg
    assert "1,5 с" in svg  # the decimal comma
    assert re.search(r">1\u00a0\d{3}<", svg)  # a count over a thousand, grouped as in Russian
    assert "Duration" not in svg and " error" not in svg


def test_time_axis_writes_day_and_month_as_the_language_does():
    two_days = (T0, T0 + 2 * 86_400 * S)
    edges = r'class="x-label"[^>]*>([^<]+)<'
    english = re.findall(edges, str(time_axis(*two_days, 100)))
    with translation.override("ru"):
        russian = re.findall(edges, str(time_axis(*two_days, 100)))
        point_time = time_text(T0, "Y-m-d H:i:s")  # a full date keeps its ISO order
    assert all(re.fullmatch(r"\d{2}-\d{2} \d{2}:\d{2}", label) for label in english), english
    assert all(re.fullmatch(r"\d{2}\.\d{2} \d{2}:\d{2}", label) for label in russian), russian
    assert [label[3:5] + "-" + label[:2] + label[5:] for label in russian] == english
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", point_time)


def test_histogram_labels_its_edges_and_middle():
    edges = r'class="x-label"[^>]*>([^<]+)<'
    svg = str(histogram_svg([i * MS for i in range(1, 101)]))  # a wide spread: equal ratios
    assert re.findall(edges, svg) == ["1 ms", "10 ms", "100 ms"]
    svg = str(histogram_svg([i * MS for i in range(100, 201)]))  # equal widths
    assert re.findall(edges, svg) == ["100 ms", "145 ms", "200 ms"]  # 11 buckets; the 6th


def test_the_home_search_and_the_query_page_draw_their_results(client, login_as):
    store_traces(
        [
            Trace(
                f"{i:02x}" * 16,
                [
                    make_span(
                        "a",
                        None,
                        "shop-api",
                        trace_id=f"{i:02x}" * 16,
                        start_ns=T0 + i * S,
                        end_ns=T0 + i * S + (i + 1) * MS,
                    )
                ],
            )
            for i in range(1, 4)
        ]
    )
    login_as("analyst")
    home = client.get(reverse("web:home"), {"service": "shop-api", "status": "any"})
    query = client.get(reverse("web:query"), {"q": "{ }"})
    for page in (home, query):
        body = page.content.decode()
        assert body.count('<a class="point') == 3 and 'class="chart histogram"' in body
        assert "web/charts.js" in body and "style=" not in body  # the CSP forbids them
    nothing = client.get(reverse("web:query"), {"q": "{ duration > 1h }"}).content.decode()
    assert "No trace matches" in nothing and "chart scatter" not in nothing
