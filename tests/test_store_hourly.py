"""The system map's hourly figures kept at ingest (explorer.store.hourly): summed over whole
hours they equal the figures computed over every trace of those hours; a trace stored in
pieces ends with the figures of the trace stored whole; ingesting again changes nothing."""

import functools
import io
import re

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.urls import reverse

from explorer.configuration import explorer_config
from explorer.diagrams.overlay import system_map
from explorer.journeys.now import latest_time_ns
from explorer.store import hourly
from explorer.store.ingest import ingest, store_settings, store_traces
from explorer.store.models import HourlyTraffic, StoredTrace
from explorer.store.source import StoreSource
from explorer.store.traffic import HOUR_NS, LAST_BUCKET, PAIR, bucket, bucket_bound_ns
from explorer.traces.model import Trace
from explorer.web.analytics import traffic_overlay
from tests.test_store_pieces import pieces

HOUR = HOUR_NS


def table() -> dict:
    return {
        (r.hour, r.kind, r.source, r.target): (r.calls, r.errors, r.duration_ns, r.buckets)
        for r in HourlyTraffic.objects.all()
    }


def test_buckets_hold_their_durations():
    for duration in (0, 999, 1000, 1001, 1189, 1190, 5_000_000, 123_456_789, 10**15):
        index = bucket(duration)
        assert duration < bucket_bound_ns(index) or index == LAST_BUCKET
        assert index == 0 or duration >= bucket_bound_ns(index - 1)


@pytest.mark.django_db
def test_whole_hours_of_the_table_equal_the_map_over_every_trace(simulation):
    run = simulation(orders=40, days=3, seed=3)
    ingest(run.files, workers=1)
    traces = run.traces()
    starts = [s.start_ns for t in traces for s in t.spans]
    start = min(starts) - min(starts) % HOUR + 5 * HOUR
    end = max(starts) - 2 * HOUR  # some spans of the data set fall outside
    expected = system_map(traces, explorer_config().mapping, start, end)
    covered, totals = hourly.window_traffic(start + 17, end)
    assert covered == start
    got = traffic_overlay(totals, start, end)
    assert expected.metrics and got.metrics.keys() == expected.metrics.keys()
    for key, metric in expected.metrics.items():
        mine = got.metrics[key]
        assert (mine.count, mine.rate) == (metric.count, metric.rate), key
        assert mine.error_rate == pytest.approx(metric.error_rate, abs=1e-12), key
        # the estimate is the upper bound of the bucket holding the true p95
        index = bucket(round(metric.p95_ms * 1e6))
        assert mine.p95_ms == pytest.approx(bucket_bound_ns(index) / 1e6), key
    assert any(m.error_rate for m in expected.metrics.values())  # errors were compared


@pytest.mark.django_db
def test_ingesting_the_same_files_again_changes_nothing(simulation):
    run = simulation(orders=10, days=1, seed=5)
    ingest(run.files, workers=1)
    first = table()
    assert first
    ingest(run.files, workers=1)
    assert table() == first


def _order_traces(simulation) -> list[Trace]:
    traces = simulation(orders=10, days=1, seed=5).traces()
    # the traces with calls between elements, in pieces whose calls are split
    return [t for t in traces if len(t.spans) >= 6][:8]


@pytest.mark.django_db
def test_a_trace_stored_in_pieces_ends_with_the_figures_of_it_stored_whole(simulation):
    traces = _order_traces(simulation)
    store_traces(traces)
    whole = table()
    assert any(kind == PAIR for _, kind, _, _ in whole)
    HourlyTraffic.objects.all().delete()
    StoredTrace.objects.all().delete()
    for n in range(3):
        store_traces([piece for t in traces for piece in pieces(t, 3)[n : n + 1]])
    assert table() == whole


def _prepared_without_a_mapping(monkeypatch) -> None:
    monkeypatch.setattr(
        "explorer.store.ingest.store_settings", functools.partial(store_settings, traffic=False)
    )


@pytest.mark.django_db
def test_no_figures_without_a_mapping(simulation, monkeypatch):
    _prepared_without_a_mapping(monkeypatch)
    store_traces(_order_traces(simulation))
    assert not HourlyTraffic.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_map_counts_every_call_of_the_window_and_says_so(
    client, login_as, simulation, settings, language
):
    settings.EXPLORER_ANALYTICS_MAX_TRACES = 5  # sampling would show far fewer calls
    cache.clear()
    run = simulation(orders=10, days=1, seed=5)
    ingest(run.files, workers=1)
    login_as("analyst")
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    body = client.get(reverse("web:system_map"), {"window": "7d"}).content.decode()
    end = latest_time_ns(StoreSource()) + 1  # the page's "now"
    start = end - 1 - 7 * 24 * HOUR
    every = system_map(run.traces(), explorer_config().mapping, start - start % HOUR, end)
    assert "newest" not in body and "самым новым" not in body
    assert ("The numbers cover every call" if language == "en" else "по всем вызовам") in body
    counts = [
        int(re.sub(r"\D", "", c))
        for c in re.findall(r'<td>[^<]*</td><td class="num">([\d\s\u00a0\u202f,]+)</td>', body)
    ]
    assert sorted(counts) == sorted(m.count for m in every.metrics.values())
    svg = body[body.index("<svg") : body.index("</svg>")]
    # numbers in the drawing's geometry are never written with a decimal comma
    assert not re.search(r'\b(?:x|y|x1|y1|x2|y2|cx|cy|r|width|height|font-size)="[^"]*,', svg)


@pytest.mark.django_db
def test_recount_gives_the_figures_kept_at_ingest(simulation, monkeypatch):
    run = simulation(orders=10, days=1, seed=5)
    ingest(run.files, workers=1)
    kept = table()
    _prepared_without_a_mapping(monkeypatch)  # as stored before the table existed
    HourlyTraffic.objects.all().delete()
    StoredTrace.objects.all().delete()
    ingest(run.files, workers=1)
    assert StoredTrace.objects.exists() and not HourlyTraffic.objects.exists()
    call_command("ingest", "--recount-hourly", stdout=io.StringIO())
    assert table() == kept


def test_ingest_needs_paths_or_recount():
    with pytest.raises(CommandError, match="--recount-hourly"):
        call_command("ingest")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_map_in_a_browser_says_what_it_covers(page, live_server, simulation, language):
    from tests.browser_support import log_in, screenshot

    cache.clear()
    ingest(simulation(orders=10, days=1, seed=5).files, workers=1)
    log_in(page, live_server.url, "analyst")
    page.goto(f"{live_server.url}/")
    if language == "ru":
        page.select_option("#language-select", "ru")
        page.click(".language-form button")
        page.wait_for_selector("html[lang=ru]")
    for width, height in ((1366, 768), (680, 900)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}{reverse('web:system_map')}?window=7d")
        notice = page.locator("p.coverage")
        assert notice.is_visible()
        assert ("every call" if language == "en" else "по всем вызовам") in notice.inner_text()
        assert page.locator("svg .c4-edge, svg g").count() > 0
        screenshot(page, f"system-map-hourly-{language}-{width}")


@pytest.mark.django_db
def test_calls_lasting_centuries_are_held_at_the_columns_bound_and_later_calls_are_kept():
    """A span from 0 to 2**63 - 1 ns is valid OTLP: two of them overflowed the hour's total,
    and every later write of that hour failed (the fuzz test's 500s)."""
    from explorer.traces.model import SpanKind
    from tests.trace_support import make_span

    longest = 2**63 - 1

    def call(trace_id: str, end_ns: int) -> Trace:
        span = make_span("s1", None, "shop-api", trace_id=trace_id, kind=SpanKind.SERVER)
        span.end_ns = end_ns
        span.name = "POST /api/orders"
        return Trace(trace_id, [span])

    store_traces([call("a" * 32, longest)])
    store_traces([call("b" * 32, longest)])
    store_traces([call("c" * 32, 2000)])
    assert StoredTrace.objects.count() == 3
    rows = HourlyTraffic.objects.filter(hour=0)
    assert rows and all(row.duration_ns == longest and row.calls == 3 for row in rows)


@pytest.mark.django_db
def test_a_rows_histogram_is_kept_in_the_sketches_format():
    from explorer.store.hourly_figures import decode_bins, encode_bins
    from explorer.traces.model import SpanKind
    from tests.trace_support import make_span

    traces = []
    for number, duration in enumerate((2_000, 3_000, 5 * 10**6, 10**15)):
        span = make_span("s1", None, "shop-api", trace_id=f"{number:032x}", kind=SpanKind.SERVER)
        span.name, span.end_ns = "POST /api/orders", span.start_ns + duration
        traces.append(Trace(span.trace_id, [span]))
    store_traces(traces)
    expected = {bucket(2_000): 1, bucket(3_000): 1, bucket(5 * 10**6): 1, LAST_BUCKET: 1}
    assert len(expected) == 4
    for row in HourlyTraffic.objects.all():
        assert decode_bins(bytes(row.buckets)) == expected
        assert bytes(row.buckets) == encode_bins(expected) and len(row.buckets) == 13
    _first, totals = hourly.window_traffic(0, HOUR_NS)
    assert totals and all(t.buckets == expected for t in totals.values())


@pytest.mark.django_db(transaction=True)
def test_migration_0016_packs_the_stored_histograms_and_back():
    from tests.migration_support import migrated_back_to

    before = ("store", "0015_trace_attributes_packed")
    written = {"a": {"3": 2, "160": 70_000}, "b": {}, "c": {"7": 2**40, "8": 0, "9": -1}}
    with migrated_back_to(*before) as old:
        for source, buckets in written.items():
            old.get_model("store", "HourlyTraffic").objects.create(
                hour=HOUR, kind="served", source=source, calls=1, buckets=buckets
            )
    found = {row.source: hourly._traffic(row).buckets for row in HourlyTraffic.objects.all()}
    # Counts of none (or, by an old fault, fewer than none) are left out; 32 bits at most.
    assert found == {"a": {3: 2, 160: 70_000}, "b": {}, "c": {7: 2**32 - 1}}
    with migrated_back_to(*before) as old:
        back = old.get_model("store", "HourlyTraffic").objects.values_list("source", "buckets")
        assert dict(back) == {"a": written["a"], "b": {}, "c": {"7": 2**32 - 1}}
