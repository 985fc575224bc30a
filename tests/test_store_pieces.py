"""A trace that arrives in pieces (as the Collector's file exporter writes a long trace, or a
receiver gets it): each piece is appended without reading the stored spans, the trace is laid
out again when a page first reads it, and then it equals the same trace stored whole; its
"parent absent" warnings follow what has arrived."""

import random

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from explorer.caching import reset_caches
from explorer.store import codec
from explorer.store.attribute_keys import key_of
from explorer.store.ingest import ingest, lay_out_stored, store_traces
from explorer.store.models import OperationSetMember, StoredTrace, TraceAttribute, TraceChunk
from explorer.store.source import StoreSource
from explorer.traces.model import Trace
from explorer.traces.normalise import absent_parent
from tests.test_ingest import otlp_document
from tests.web_support import tree_trace

CHUNK = 25
WHOLE, PIECES = "ab" * 16, "cd" * 16


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", CHUNK)
    reset_caches()


def big_trace(trace_id: str) -> Trace:
    """364 spans, 15 chunks of CHUNK."""
    return tree_trace(trace_id, fanout=3, depth=5)


def pieces(trace: Trace, count: int, seed: int = 3) -> list[Trace]:
    """The trace's spans in `count` pieces, shuffled: children often arrive before parents."""
    spans = list(trace.spans)
    random.Random(seed).shuffle(spans)
    size = -(-len(spans) // count)
    return [Trace(trace.trace_id, spans[n : n + size]) for n in range(0, len(spans), size)]


def stored_state(trace_id: str) -> dict:
    """Everything the store keeps of a trace, trace id aside: summary, chunks, index rows."""
    row = StoredTrace.objects.get(trace_id=trace_id)
    chunks = [
        (
            c.seq,
            c.span_count,
            [s.span_id for s in codec.decode_spans(bytes(c.data), trace_id)],
            bytes(c.keys),
        )
        for c in TraceChunk.objects.filter(trace=row).order_by("seq")
    ]
    return {
        "summary": (
            row.start_ns,
            row.duration_ns,
            row.span_count,
            row.error_count,
            (row.root.service, row.root.name),
            row.operation_set_id,  # and so its services
            row.attributes,
            row.warnings,
            bytes(row.layout) if row.layout else None,
            row.ordered,
        ),
        "chunks": chunks,
        "attributes": sorted(
            (key_of(code), value)
            for code, value in TraceAttribute.objects.filter(trace=row).values_list(
                "key_code", "value"
            )
        ),
        "operations": sorted(
            OperationSetMember.objects.filter(operation_set=row.operation_set_id).values_list(
                "operation__service", "operation__name"
            )
        ),
    }


def page_rows(source: StoreSource, trace_id: str) -> tuple:
    """A page's view of a stored trace: the overview and windows at several offsets."""
    overview = source.trace_overview(trace_id)
    layout = overview.layout
    windows = []
    for first in (0, 7, 100, 250, 340):
        rows = source.trace_rows(trace_id, range(first, first + 30), overview.span_count)
        windows.append([(r, rows[r].span_id, rows[r].start_ns) for r in sorted(rows)])
    return (
        overview.span_count,
        overview.start_ns,
        overview.duration_ns,
        overview.services,
        overview.error_count,
        overview.warnings,
        list(layout.depth),
        list(layout.end),
        list(layout.critical),
        layout.counts,
        layout.errors,
        layout.operations,
        windows,
    )


@pytest.mark.django_db
def test_a_trace_stored_in_pieces_equals_it_stored_whole_page_windows_included(small_chunks):
    store_traces([big_trace(WHOLE)])
    for piece in pieces(big_trace(PIECES), 8):
        store_traces([piece])  # one batch each: every piece after the first is appended
    row = StoredTrace.objects.get(trace_id=PIECES)
    assert not row.ordered and row.layout is None and row.span_count == 364
    assert TraceChunk.objects.filter(trace=row).count() > 364 // CHUNK + 1  # appended
    source = StoreSource()
    # Before it is laid out, its spans already read as the whole trace's (by start time; equal
    # starts in arrival order).
    assert sorted((s.start_ns, s.span_id) for s in source.get_trace(PIECES).spans) == sorted(
        (s.start_ns, s.span_id) for s in source.get_trace(WHOLE).spans
    )
    assert page_rows(source, PIECES) == page_rows(source, WHOLE)  # laid out on first read
    assert stored_state(PIECES) == stored_state(WHOLE)
    assert not lay_out_stored(PIECES)  # done once
    assert [s.span_id for s in source.get_trace(PIECES).spans] == [
        s.span_id for s in source.get_trace(WHOLE).spans
    ]


@pytest.mark.django_db
def test_ingest_of_a_trace_in_json_lines_equals_it_stored_whole(
    small_chunks, tmp_path, monkeypatch
):
    monkeypatch.setattr("explorer.store.ingest.BATCH_SPANS", 50)
    store_traces([big_trace(WHOLE)])
    path = tmp_path / "long-trace.jsonl"
    path.write_bytes(
        b"\n".join(orjson.dumps(otlp_document([piece])) for piece in pieces(big_trace(PIECES), 20))
        + b"\n"
    )
    report = ingest([path], workers=0)
    assert report.rejected == [] and report.spans == 364
    assert StoredTrace.objects.get(trace_id=PIECES).span_count == 364
    # Parsed from OTLP JSON, resources and values are what the parser makes of them: compare
    # the pieces with the same trace ingested whole from one line.
    path.write_bytes(orjson.dumps(otlp_document([big_trace(WHOLE[::-1])])) + b"\n")
    ingest([path], workers=0)
    source = StoreSource()
    assert page_rows(source, PIECES) == page_rows(source, WHOLE[::-1])
    assert stored_state(PIECES) == stored_state(WHOLE[::-1])


@pytest.mark.django_db
def test_appending_a_piece_reads_no_stored_chunk(small_chunks, monkeypatch):
    parts = pieces(big_trace(PIECES), 8)
    for piece in parts[:-1]:
        store_traces([piece])
    decoded = []
    real = codec.decode_spans

    def counting(data, trace_id, indices=None):
        decoded.append(len(data))
        return real(data, trace_id, indices)

    monkeypatch.setattr(codec, "decode_spans", counting)
    with CaptureQueriesContext(connection) as queries:
        store_traces([parts[-1]])
    chunk_reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and '"store_chunk"."data"' in q["sql"]
    ]
    assert chunk_reads == [] and decoded == []
    # A piece that repeats stored spans decodes only itself, never the stored chunks.
    with CaptureQueriesContext(connection) as queries:
        store_traces([Trace(PIECES, parts[0].spans[:5] + parts[-1].spans[:5])])
    assert [
        q
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and '"store_chunk"."data"' in q["sql"]
    ] == []
    assert StoredTrace.objects.get(trace_id=PIECES).span_count == 364
    # Storing every piece again adds nothing and is no arrival.
    arrived = StoredTrace.objects.get(trace_id=PIECES).arrived_ns
    store_traces(parts)
    row = StoredTrace.objects.get(trace_id=PIECES)
    assert (row.span_count, row.arrived_ns) == (364, arrived)


def absent(warnings: list[str]) -> dict[str, int]:
    return dict(found for w in warnings if (found := absent_parent(w)) is not None)


@pytest.mark.django_db
def test_parent_absent_warnings_follow_the_spans_that_arrived(small_chunks):
    trace = big_trace(PIECES)
    by_id = {s.span_id: s for s in trace.spans}
    leaves = [s for s in trace.spans if s.span_id not in {p.parent_id for p in trace.spans}]
    others = [s for s in trace.spans if s not in leaves]
    # The leaves first: every one of their parents is absent.
    store_traces([Trace(PIECES, leaves[:200])])
    first = absent(StoredTrace.objects.get(trace_id=PIECES).warnings)
    assert first and sum(first.values()) == 200
    store_traces([Trace(PIECES, leaves[200:])])
    assert sum(absent(StoredTrace.objects.get(trace_id=PIECES).warnings).values()) == len(leaves)
    # Their parents arrive, without theirs: only the parents' own parents are missing.
    level_4 = {s.parent_id for s in leaves}
    store_traces([Trace(PIECES, [by_id[p] for p in level_4])])
    expected = {}
    for p in level_4:
        expected[by_id[p].parent_id] = expected.get(by_id[p].parent_id, 0) + 1
    assert absent(StoredTrace.objects.get(trace_id=PIECES).warnings) == expected
    # Everything but the root: one warning, for the root's children.
    store_traces([Trace(PIECES, [s for s in others if s.parent_id is not None])])
    warnings = StoredTrace.objects.get(trace_id=PIECES).warnings
    assert absent(warnings) == {"s0": 3}
    store_traces([Trace(PIECES, [by_id["s0"]])])
    assert StoredTrace.objects.get(trace_id=PIECES).warnings == []
    assert StoreSource().get_trace(PIECES).warnings == []
    assert StoreSource().trace_overview(PIECES).warnings == []


@pytest.mark.django_db
def test_pieces_in_one_batch_and_in_a_small_trace_leave_no_stale_warning():
    trace = tree_trace("ef" * 16)  # 121 spans: one chunk
    parts = pieces(trace, 4)
    store_traces(parts)  # one batch: merged before they are stored
    assert StoredTrace.objects.get(trace_id=trace.trace_id).warnings == []
    small = tree_trace("12" * 16)
    for part in pieces(small, 4):
        store_traces([part])
    row = StoredTrace.objects.get(trace_id=small.trace_id)
    assert row.warnings == [] and row.ordered and row.layout is None
    assert TraceChunk.objects.filter(trace=row).count() == 1  # still one chunk by start
    assert StoreSource().trace_overview(small.trace_id) is None


@pytest.mark.django_db
def test_chunks_stored_before_keys_were_kept_are_read_once_to_merge(small_chunks):
    parts = pieces(big_trace(PIECES), 4)
    store_traces([parts[0], parts[1]])  # one batch: stored whole, laid out
    TraceChunk.objects.update(keys=None)  # as stored by an earlier version
    store_traces([parts[1], parts[2]])  # parts[1] again: its spans are known all the same
    store_traces([parts[3]])
    assert StoredTrace.objects.get(trace_id=PIECES).span_count == 364
    store_traces([big_trace(WHOLE)])
    source = StoreSource()
    assert page_rows(source, PIECES) == page_rows(source, WHOLE)
    assert stored_state(PIECES) == stored_state(WHOLE)


@pytest.mark.django_db
def test_a_resent_span_that_adds_only_a_warning_keeps_the_stored_layout(small_chunks):
    trace = big_trace(PIECES)
    store_traces([trace])
    before = stored_state(PIECES)
    assert before["summary"][8] is not None  # laid out: several chunks in tree order
    # A stored span again, with a warning its reader made (a repair): nothing new but that.
    store_traces([Trace(PIECES, [trace.spans[5]], ["span s5 repaired\x00"])])
    after = stored_state(PIECES)
    assert after["summary"][7] == ["span s5 repaired\ufffd"]
    # The summary changed in its warnings alone: the layout, chunks and index rows stay.
    assert after["summary"][:7] == before["summary"][:7]
    assert after["summary"][8:] == before["summary"][8:]
    assert {k: v for k, v in after.items() if k != "summary"} == {
        k: v for k, v in before.items() if k != "summary"
    }
