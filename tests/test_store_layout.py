"""Traces of several chunks are stored in tree order with their layout; pages read windows of
them without the whole trace, and show the same rows as from the whole trace."""

import dataclasses
import re
import zlib
from array import array

import orjson
import pytest
from django.urls import reverse

from accounts.models import AuditEntry
from explorer.analysis import operation_stats
from explorer.analysis.layout import (
    LayoutError,
    TraceLayout,
    bucket_counts,
    critical_positions,
    lay_out,
    tree_order,
)
from explorer.caching import reset_caches
from explorer.store import codec
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace, TraceChunk
from explorer.store.source import StoreSource
from explorer.traces.model import SpanKind, Trace
from explorer.web.waterfall import hidden_runs, visible_window
from tests.trace_support import span_factory
from tests.web_support import T0, chain_trace, tree_trace

TRACE_ID = "cd" * 16
CHUNK = 7  # 121 spans: 18 chunks


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", CHUNK)


def expected_rows(trace: Trace):
    """(span id, depth, subtree end) of every row, from the whole trace as a page would."""
    whole = tree_order(trace.spans)
    return [
        (trace.spans[whole.order[r]].span_id, whole.depth[r], whole.end[r])
        for r in range(len(whole))
    ]


@pytest.mark.django_db
def test_layout_equals_the_tree_order_critical_path_and_minimap_of_the_whole_trace(small_chunks):
    store_traces([tree_trace(TRACE_ID)])
    source = StoreSource()
    whole = source.get_trace(TRACE_ID)
    starts = [s.start_ns for s in whole.spans]
    assert starts == sorted(starts)  # get_trace still answers by start time
    overview = source.trace_overview(TRACE_ID)
    layout = overview.layout
    spans = source.trace_rows(TRACE_ID, range(121), 121)
    assert [(spans[r].span_id, layout.depth[r], layout.end[r]) for r in range(121)] == (
        expected_rows(whole)
    )
    order = tree_order(whole.spans)
    rows_of = {p: r for r, p in enumerate(order.order)}
    assert set(layout.critical) == {rows_of[p] for p in critical_positions(whole)}
    assert list(layout.critical) == sorted(layout.critical) and len(layout.critical) > 1
    start, end = whole.start_ns, whole.end_ns
    assert (layout.counts, layout.errors) == bucket_counts(whole.spans, start, end - start)
    assert (overview.span_count, overview.error_count, overview.services) == (
        121,
        1,
        ["mes-api", "shop-api"],
    )
    assert (overview.start_ns, overview.duration_ns) == (start, end - start)
    # The chunks hold the rows in order: chunk 2 holds rows 14..20.
    chunk = TraceChunk.objects.get(trace__trace_id=TRACE_ID, seq=2)
    assert [s.span_id for s in codec.decode_spans(bytes(chunk.data), TRACE_ID)] == [
        spans[r].span_id for r in range(14, 21)
    ]


@pytest.mark.django_db
def test_a_window_reads_only_the_chunks_that_hold_it(small_chunks, monkeypatch):
    store_traces([tree_trace(TRACE_ID)])
    decoded = []
    real = codec.decode_spans

    def counting(data, trace_id, indices=None):
        found = real(data, trace_id, indices)
        decoded.append(len(found))
        return found

    monkeypatch.setattr(codec, "decode_spans", counting)
    spans = StoreSource().trace_rows(TRACE_ID, [8, 9, 13, 14, 500, -1], 121)
    assert sorted(spans) == [8, 9, 13, 14]  # rows beyond the trace are left out
    assert decoded == [3, 1] or decoded == [1, 3]  # chunks 1 and 2, only the rows asked for


@pytest.mark.django_db
def test_collapsed_rows_hide_their_subtree_in_windows_at_any_offset(small_chunks):
    trace = tree_trace(TRACE_ID)
    store_traces([trace])
    source = StoreSource()
    expected = expected_rows(source.get_trace(TRACE_ID))
    tree = source.trace_overview(TRACE_ID).layout.tree()
    runs = hidden_runs(tree, {1, 43})  # the first child's subtree (40 rows) and a grandchild's
    assert runs == [(2, 41), (44, 47)]
    window = visible_window(tree, runs, 1, 5)
    assert window == [1, 41, 42, 43, 47]
    spans = source.trace_rows(TRACE_ID, window, 121)
    assert [spans[r].span_id for r in window] == [expected[r][0] for r in window]


@pytest.mark.django_db
def test_a_trace_of_one_chunk_keeps_start_order_and_has_no_layout(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 200)
    store_traces([tree_trace(TRACE_ID)])
    assert StoreSource().trace_overview(TRACE_ID) is None
    (chunk,) = TraceChunk.objects.filter(trace__trace_id=TRACE_ID)
    starts = [s.start_ns for s in codec.decode_spans(bytes(chunk.data), TRACE_ID)]
    assert starts == sorted(starts)


@pytest.mark.django_db
def test_merging_spans_recomputes_the_order_and_outdates_windows(small_chunks):
    trace = tree_trace(TRACE_ID)
    # Without the first child's subtree (rows 1..40 of the whole trace), then everything.
    subtree = {
        "s1",
        "s4",
        "s5",
        "s6",
        *(f"s{n}" for n in range(13, 22)),
        *(f"s{n}" for n in range(40, 67)),
    }
    first = [s for s in trace.spans if s.span_id not in subtree]
    assert len(first) == 81
    store_traces([Trace(TRACE_ID, first)])
    source = StoreSource()
    before = source.trace_overview(TRACE_ID)
    assert before.span_count == 81 and before.layout.end[0] == 81
    store_traces([tree_trace(TRACE_ID)])
    assert source.trace_rows(TRACE_ID, [0], 81) is None  # asked with the old count
    after = source.trace_overview(TRACE_ID)
    spans = source.trace_rows(TRACE_ID, range(121), 121)
    assert [
        (spans[r].span_id, after.layout.depth[r], after.layout.end[r]) for r in range(121)
    ] == expected_rows(source.get_trace(TRACE_ID))
    assert after.layout.end[1] == 41  # the merged subtree sits under its parent


def test_layout_bytes_round_trip_and_garbage_is_refused():
    trace = tree_trace(TRACE_ID)
    from explorer.analysis.layout import lay_out

    ordered, layout = lay_out(trace)
    again = TraceLayout.decode(layout.encode())
    assert (
        list(again.depth),
        list(again.end),
        list(again.critical),
        again.counts,
        again.errors,
    ) == (list(layout.depth), list(layout.end), list(layout.critical), layout.counts, layout.errors)
    assert len(ordered) == len(again) == 121
    for garbage in (b"", b"not zlib", layout.encode()[:-3]):
        with pytest.raises(LayoutError):
            TraceLayout.decode(garbage)


@pytest.mark.django_db
def test_a_corrupt_layout_is_a_source_error(small_chunks):
    from explorer.sources.base import SourceError

    store_traces([tree_trace(TRACE_ID)])
    StoredTrace.objects.update(layout=b"broken")
    with pytest.raises(SourceError, match="layout"):
        StoreSource().trace_overview(TRACE_ID)


# --- The trace page over a stored layout ------------------------------------------------------


def span_ids(html: str) -> list[str]:
    return re.findall(r'class="span-link" href="[^"]*/spans/([^/"]+)/\?row=', html)


@pytest.mark.django_db
def test_trace_page_and_rows_come_from_the_layout_not_the_whole_trace(
    client, login_as, small_chunks, monkeypatch
):
    store_traces([tree_trace(TRACE_ID)])
    expected = expected_rows(StoreSource().get_trace(TRACE_ID))

    def whole(*args, **kwargs):
        raise AssertionError("the whole trace was read")

    monkeypatch.setattr(StoreSource, "get_trace", whole)
    monkeypatch.setattr(StoreSource, "iter_spans", whole)
    login_as("support")
    page = client.get(reverse("web:trace", args=[TRACE_ID]))
    assert page.status_code == 200
    body = page.content.decode()
    assert span_ids(body) == [e[0] for e in expected]
    assert "is-critical" in body and "is-error" in body
    url = reverse("web:trace_rows", args=[TRACE_ID])
    data = client.get(url, {"offset": 1, "limit": 3, "collapsed": "1"}).json()
    assert data["rows"] == [1, 41, 42] and data["total"] == 121 - 39
    assert span_ids(data["html"]) == [expected[r][0] for r in (1, 41, 42)]
    # A span's details by its row: one chunk read, not the whole trace.
    detail = client.get(
        reverse("web:span", args=[TRACE_ID, expected[50][0]]), {"row": 50, "partial": 1}
    )
    assert detail.status_code == 200 and expected[50][0] in detail.content.decode()


@pytest.mark.django_db
def test_span_details_without_or_with_a_wrong_row_still_find_the_span(
    client, login_as, small_chunks
):
    store_traces([tree_trace(TRACE_ID)])
    login_as("support")
    for params in ({}, {"row": 3}, {"row": "x"}, {"row": 10**9}):
        detail = client.get(reverse("web:span", args=[TRACE_ID, "s50"]), params)
        assert detail.status_code == 200 and "s50" in detail.content.decode()
    missing = client.get(reverse("web:span", args=[TRACE_ID, "nope"]), {"row": 2})
    assert missing.status_code == 404


@pytest.mark.django_db
def test_a_trace_that_grows_under_its_cached_page_is_read_again(client, login_as, small_chunks):
    trace = tree_trace(TRACE_ID)
    store_traces([Trace(TRACE_ID, trace.spans[:60])])
    login_as("support")
    url = reverse("web:trace_rows", args=[TRACE_ID])
    assert client.get(url, {"offset": 0, "limit": 5}).json()["total"] == 60
    page = reverse("web:trace", args=[TRACE_ID])
    assert client.get(page).status_code == 200
    store_traces([trace])  # more spans merged in: the cached layout is outdated
    data = client.get(url, {"offset": 0, "limit": 5}).json()
    assert data["total"] == 121 and len(span_ids(data["html"])) == 5
    store_traces([Trace(TRACE_ID, [*trace.spans, chain_trace(TRACE_ID, 1).spans[0]])])
    assert len(span_ids(client.get(page).content.decode())) == 122  # made twice, audited once
    assert AuditEntry.objects.filter(object_type="trace", object_id=TRACE_ID).count() == 2


@pytest.mark.django_db
def test_search_in_a_stored_layout_reads_chunks_only_until_it_has_its_results(
    client, login_as, small_chunks, monkeypatch
):
    store_traces([tree_trace(TRACE_ID)])
    expected = expected_rows(StoreSource().get_trace(TRACE_ID))
    whole_chunks = []
    real = codec.decode_spans

    def counting(data, trace_id, indices=None):
        if indices is None:
            whole_chunks.append(1)
        return real(data, trace_id, indices)

    monkeypatch.setattr(codec, "decode_spans", counting)
    monkeypatch.setattr("explorer.web.traces.SEARCH_RESULTS", 3)
    login_as("support")
    body = client.get(reverse("web:trace", args=[TRACE_ID]), {"q": "step 2."}).content.decode()
    found = re.findall(r'at=(\d+)#row-\d+">.*?</a> <code>([^<]+)</code>', body)
    assert len(found) == 3
    assert all(expected[int(row)][0] == span_id for row, span_id in found)
    assert len(whole_chunks) < 18  # not every chunk of the trace


@pytest.mark.django_db
def test_an_orphan_subtree_is_shown_as_a_root_but_is_not_on_the_critical_path(small_chunks):
    # the orphan and its child outlast the true root: still, as in Jaeger UI, only spans
    # without a parent reference are followed
    trace = tree_trace(TRACE_ID)
    shop = trace.spans[0].resource
    end = trace.end_ns
    span = span_factory(trace_id=TRACE_ID, resource=shop)  # times in ns
    orphans = [
        span("o", "gone", T0 + 50, end + 9000, name="late batch", kind=SpanKind.SERVER),
        span("oc", "o", T0 + 60, end + 8000, name="late work"),
    ]
    store_traces([Trace(TRACE_ID, [*trace.spans, *orphans])])
    source = StoreSource()
    layout = source.trace_overview(TRACE_ID).layout
    rows = source.trace_rows(TRACE_ID, range(123), 123)
    row_of = {span.span_id: r for r, span in rows.items()}
    assert layout.depth[row_of["o"]] == 0 and layout.depth[row_of["oc"]] == 1
    critical = {rows[r].span_id for r in layout.critical}
    assert "s0" in critical and not critical & {"o", "oc"}


# --- Statistics per operation, stored with the layout ------------------------------------------


def shared_span_trace() -> Trace:
    """tree_trace plus a client and a server span of one id and start (Zipkin) under
    different parents, and a child of that id: which copy gets the child depends on the order
    of the spans (the client comes first by start time as read, the server in tree order)."""
    trace = tree_trace(TRACE_ID)
    at = T0 + 10_000_000
    shop, mes = trace.spans[0].resource, trace.spans[1].resource
    span = span_factory(at, trace_id=TRACE_ID)  # ns after `at`
    return Trace(
        TRACE_ID,
        [
            *trace.spans,
            span("d", "s120", 0, 1000, name="call mes", kind=SpanKind.CLIENT, resource=shop),
            span("d", "s1", 0, 1000, name="serve mes", kind=SpanKind.SERVER, resource=mes),
            span("e", "d", 100, 600, name="work", resource=mes),
        ],
    )


@pytest.mark.django_db
@pytest.mark.parametrize("make", [tree_trace, lambda _id: shared_span_trace()])
def test_stored_statistics_equal_those_of_the_whole_trace(small_chunks, make):
    store_traces([make(TRACE_ID)])
    source = StoreSource()
    stored = source.trace_overview(TRACE_ID).layout.operations
    assert stored == operation_stats([source.get_trace(TRACE_ID)])
    assert sum(s.count for s in stored) == source.trace_overview(TRACE_ID).span_count
    assert any(s.errors for s in stored) and any(s.self_ns < s.total_ns for s in stored)


@pytest.mark.django_db
def test_merging_spans_recomputes_the_statistics(small_chunks):
    trace = tree_trace(TRACE_ID)
    store_traces([Trace(TRACE_ID, trace.spans[:60])])
    source = StoreSource()
    before = source.trace_overview(TRACE_ID).layout.operations
    assert before == operation_stats([source.get_trace(TRACE_ID)])
    store_traces([trace])
    after = source.trace_overview(TRACE_ID).layout.operations
    assert after == operation_stats([source.get_trace(TRACE_ID)]) != before
    assert sum(s.count for s in after) == 121


def version_1_layout(layout: TraceLayout) -> bytes:
    """A layout as stored before the statistics were added to it."""
    header = orjson.dumps(
        [1, len(layout.depth), len(layout.critical), layout.counts, layout.errors]
    )
    numbers = b"".join(array("i", p).tobytes() for p in (layout.depth, layout.end, layout.critical))
    return zlib.compress(header + b"\n" + numbers)


def test_statistics_round_trip_and_are_left_out_when_they_do_not_fit():
    _, layout = lay_out(tree_trace(TRACE_ID))
    assert layout.operations == operation_stats([tree_trace(TRACE_ID)])
    assert TraceLayout.decode(layout.encode()).operations == layout.operations
    old = TraceLayout.decode(version_1_layout(layout))
    assert old.operations is None and list(old.end) == list(layout.end)
    huge = dataclasses.replace(layout.operations[0], total_ns=2**70)
    layout.operations = [huge, *layout.operations[1:]]
    again = TraceLayout.decode(layout.encode())
    assert again.operations is None and list(again.depth) == list(layout.depth)
    broken = zlib.compress(orjson.dumps([2, 0, 0, [], [], [["only", "two"]]]) + b"\n")
    with pytest.raises(LayoutError):
        TraceLayout.decode(broken)


@pytest.mark.django_db
def test_statistics_page_of_a_stored_layout_reads_no_span(
    client, login_as, small_chunks, monkeypatch
):
    store_traces([shared_span_trace()])
    login_as("support")
    url = reverse("web:trace_stats", args=[TRACE_ID])
    # From the spans: a layout stored without statistics (before they were kept with it).
    row = StoredTrace.objects.get(trace_id=TRACE_ID)
    with_statistics = bytes(row.layout)
    StoredTrace.objects.update(layout=version_1_layout(TraceLayout.decode(with_statistics)))
    from_spans = client.get(url, {"partial": 1})
    assert from_spans.status_code == 200 and "call mes" in from_spans.content.decode()
    StoredTrace.objects.update(layout=with_statistics)
    reset_caches()

    def read(*args, **kwargs):
        raise AssertionError("spans were read")

    monkeypatch.setattr(StoreSource, "get_trace", read)
    monkeypatch.setattr(StoreSource, "iter_spans", read)
    monkeypatch.setattr(codec, "decode_spans", read)
    from_layout = client.get(url, {"partial": 1})
    assert from_layout.status_code == 200
    assert from_layout.content == from_spans.content
