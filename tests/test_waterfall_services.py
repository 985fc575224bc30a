"""The waterfall by service: colours and legend, collapse by service (server-side, so the rows
endpoint windows a huge trace the same way), span events on the bars (hostile names escaped),
clock times in the viewer's zone, and a span's link that opens the page on it."""

import dataclasses
import html
import re
from array import array

import pytest
from django.urls import reverse

from explorer.analysis.layout import LayoutError, TraceLayout, lay_out, tree_order
from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace
from explorer.store.source import StoreSource
from explorer.traces.model import Event, Trace
from explorer.web.traces import clock_time
from explorer.web.waterfall import (
    EVENT_MARKS,
    build_rows,
    row_services,
    rows_below_service_entries,
    rows_of_services,
)
from tests.trace_support import make_span, resource
from tests.web_support import T0

TRACE_ID = "5e" * 16
MS = 1_000_000
EVIL = '<img src=x onerror="window.pwned=1">'


def services_trace(trace_id: str = TRACE_ID) -> Trace:
    """Rows in tree order: 0 shop root (2 events, one hostile), 1 shop validate, 2 shop db,
    3 crm lookup (called from validate), 4 crm db, 5 mes make (fails), 6 mes step a, 7 mes
    step b."""

    def span(span_id, parent, service, start, end, **fields):
        return make_span(
            span_id,
            parent,
            trace_id=trace_id,
            name=fields.pop("name", f"op {span_id}"),
            start_ns=T0 + start * MS,
            end_ns=T0 + end * MS,
            resource=resource(service),
            **fields,
        )

    return Trace(
        trace_id,
        [
            span(
                "r",
                None,
                "shop-api",
                0,
                100,
                events=[Event("order.accepted", T0 + 5 * MS), Event(EVIL, T0 + 50 * MS)],
            ),
            span("v", "r", "shop-api", 1, 40),
            span("d", "v", "shop-api", 2, 10),
            span("l", "v", "crm-api", 11, 39),
            span("c", "l", "crm-api", 12, 30),
            span("m", "r", "mes-api", 41, 99, error=True),
            span("a", "m", "mes-api", 42, 90),
            span("b", "a", "mes-api", 43, 80),
        ],
    )


def test_rows_know_their_service_and_where_a_service_is_entered():
    trace = services_trace()
    tree = tree_order(trace.spans)
    names = ["shop-api", "crm-api", "mes-api"]
    by_position = [names.index(s.resource.service_name) for s in trace.spans]
    services, inside = row_services(tree, by_position)
    assert list(services) == [0, 0, 0, 1, 1, 2, 2, 2]
    assert list(inside) == [0, 1, 1, 0, 1, 0, 1, 1]
    assert rows_of_services(tree, services, {0}) == [0, 1]
    assert rows_of_services(tree, services, {2}) == [5, 6]
    assert rows_of_services(tree, services, {0, 1}) == [0, 1, 3]
    assert rows_below_service_entries(tree, inside) == [1, 6]


def test_events_are_placed_on_the_trace_scale_and_capped():
    many = [Event(f"e{i}", T0 + i * MS) for i in range(EVENT_MARKS + 5)]
    spans = [make_span("r", None, start_ns=T0, end_ns=T0 + 100 * MS, events=many)]
    tree = tree_order(spans)
    (row,) = build_rows(spans, tree, [0], set(), set(), T0, 100 * MS)
    assert len(row.events) == EVENT_MARKS  # the details list them all
    assert [e.x for e in row.events[:3]] == [0.0, 10.0, 20.0]
    assert row.events[2].offset_ns == 2 * MS


@pytest.fixture
def stored(db):
    reset_caches()
    store_traces([services_trace()])
    yield
    reset_caches()


def rows_answer(client, **query) -> dict:
    return client.get(reverse("web:trace_rows", args=[TRACE_ID]), query).json()


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"fold_service": "shop-api"}, [0]),
        ({"fold_service": "mes-api"}, [0, 1, 2, 3, 4, 5]),
        ({"fold": "entries"}, [0, 1, 5, 6]),
        ({"fold": "entries", "expanded": "1"}, [0, 1, 2, 3, 4, 5, 6]),
        ({"fold_service": "no-such-service"}, list(range(8))),
        ({"fold_service": EVIL, "fold": "nonsense"}, list(range(8))),
        ({"levels": "1"}, [0]),  # "Collapse all"
    ],
)
def test_the_rows_endpoint_folds_by_service(client, login_as, stored, query, shown):
    login_as("analyst")
    answer = rows_answer(client, **query)
    assert answer["rows"] == shown and answer["total"] == len(shown)


def test_a_page_window_of_a_folded_trace(client, login_as, stored):
    """The window is cut from the visible rows: the second row shown when mes-api's spans
    are folded and the window is one row from offset 5 is mes's entry."""
    login_as("analyst")
    answer = rows_answer(client, fold_service="mes-api", offset=5, limit=1)
    assert answer["rows"] == [5] and 'aria-expanded="false"' in answer["html"]


def test_bars_coloured_by_service_with_a_legend_and_events(client, login_as, stored):
    login_as("analyst")
    page = client.get(reverse("web:trace", args=[TRACE_ID])).content.decode()
    legend = re.findall(r'<li class="(svc-\d)"><span class="swatch"[^>]*></span>([^<]+)', page)
    colours = dict(legend)
    assert sorted(colours.values()) == ["crm-api", "mes-api", "shop-api"]
    assert len(colours) == 3  # three services, three colours
    for service_class, service in colours.items():
        rows = re.findall(rf'<tr id="row-\d" class="([^"]*)"[^>]*><td[^>]*>.*?>{service}<', page)
        assert rows and all(service_class in r.split() for r in rows), (service, rows)
    # Critical path and errors not by colour alone: a line over the bar, an outline + badge.
    assert page.count('class="critical-line"') >= 3
    assert re.search(r'id="row-5" class="[^"]*is-error', page)
    # Events: ticks with their names, the hostile one escaped, never markup.
    assert 'data-name="order.accepted"' in page
    assert EVIL not in page and html.escape(EVIL, quote=True) in page
    assert re.search(r'<g class="event" tabindex="0" role="img" aria-label="[^"]+"', page)


def test_clock_times_in_the_viewers_zone(client, login_as, stored):
    login_as("analyst")
    session = client.session
    session["web_time_zone"] = "Europe/Moscow"  # UTC+3: T0 is 21:20:00 UTC
    session.save()
    page = client.get(reverse("web:trace", args=[TRACE_ID])).content.decode()
    assert 'data-time-zone="Europe/Moscow"' in page
    clocks = re.findall(r'<time class="abs" datetime="([^"]+)">([^<]+)</time>', page)
    assert clocks[0][1] == "00:20:00.000" and clocks[0][0].endswith("+03:00")
    assert clocks[3][1] == "00:20:00.011"  # crm lookup, 11 ms in


def test_a_time_no_clock_shows_is_a_dash():
    assert clock_time(10**30)["text"] == "—" and clock_time(-(10**30))["text"] == "—"
    assert clock_time(T0 + 1_500_000)["text"] == "21:20:00.001"  # UTC, the default zone


def test_a_spans_link_opens_the_page_on_it(client, login_as, stored):
    login_as("analyst")
    panel = client.get(
        reverse("web:span", args=[TRACE_ID, "l"]), {"row": "3", "partial": "1"}
    ).content.decode()
    link = re.search(r'class="span-link-url" href="([^"]+)"', panel).group(1)
    assert html.unescape(link) == f"/traces/{TRACE_ID}/?span=l&at=3#row-3"
    assert "copy-span-link" in panel
    page = client.get(html.unescape(link)).content.decode()
    assert 'data-row="3"' in page and 'id="span-title"' in page and "op l" in page
    assert 'id="row-3"' in page


# --- A stored layout keeps each row's service: folding a huge trace reads no span ---------------


@pytest.mark.django_db
def test_layouts_keep_the_service_of_each_row_and_old_ones_decode_without():
    ordered, layout = lay_out(services_trace())
    assert [layout.service_names[s] for s in layout.row_services] == [
        s.resource.service_name for s in ordered
    ]
    again = TraceLayout.decode(layout.encode())
    assert again.service_names == layout.service_names
    assert list(again.row_services) == list(layout.row_services)
    old = dataclasses.replace(layout, service_names=None, row_services=None)
    decoded = TraceLayout.decode(old.encode())
    assert decoded.row_services is None and list(decoded.end) == list(layout.end)
    # A service name no JSON can hold (a lone surrogate): the layout is kept without services.
    odd = dataclasses.replace(layout, service_names=["\ud800", *layout.service_names[1:]])
    kept = TraceLayout.decode(odd.encode())
    assert kept.row_services is None and kept.operations == layout.operations
    wrong = dataclasses.replace(layout, row_services=array("i", [7] * len(layout)))
    with pytest.raises(LayoutError, match="service"):
        TraceLayout.decode(wrong.encode())


def test_folding_a_stored_layout_reads_no_span(client, login_as, db, monkeypatch):
    reset_caches()
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 3)  # 8 spans: 3 chunks
    store_traces([services_trace()])

    def whole(*args, **kwargs):
        raise AssertionError("the whole trace was read")

    with monkeypatch.context() as reading:
        reading.setattr(StoreSource, "get_trace", whole)
        reading.setattr(StoreSource, "iter_spans", whole)
        login_as("analyst")
        assert rows_answer(client, fold_service="mes-api")["rows"] == [0, 1, 2, 3, 4, 5]
        assert rows_answer(client, fold="entries")["rows"] == [0, 1, 5, 6]
    # A layout stored before services were kept: the spans are read once instead.
    layout = TraceLayout.decode(bytes(StoredTrace.objects.get(trace_id=TRACE_ID).layout))
    old = dataclasses.replace(layout, service_names=None, row_services=None)
    StoredTrace.objects.update(layout=old.encode())
    reset_caches()
    assert rows_answer(client, fold_service="mes-api")["rows"] == [0, 1, 2, 3, 4, 5]
    reset_caches()
