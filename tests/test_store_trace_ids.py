"""A stored trace's id is kept as bytes (explorer.store.trace_ids, migration 0019): the usual
32 lowercase hex digits as their 16 bytes, any other id as text behind a marker. Every kind of
id reads back exactly, through the ORM's look-ups, select_rows and the store's reader, and the
migration carries ids over and back."""

import pytest
from django.db import connection

from explorer.sources.base import TraceQuery
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace, select_rows
from explorer.store.source import StoreSource
from explorer.store.trace_ids import pack_trace_id, unpack_trace_id
from explorer.traces.model import Trace
from tests.migration_support import migrated_back_to
from tests.trace_support import make_span

W3C = "4bf92f3577b34da6a3ce929d0e0e4736"
IDS = [
    W3C,
    "00f067aa0ba902b7",  # 64-bit (Zipkin, Jaeger)
    W3C.upper(),  # hex, but not as OTLP writes it: kept as text
    W3C[:-1],
    "abcdefg",  # 7 characters: marker and text would make 8 bytes, a raw id's length
    "a" * 15,
    "é" * 7 + "x",  # 15 bytes of UTF-8: 16 with the marker
    "</script>\u202e\U0001f48e",
    "\udc80lone surrogate",  # no text column takes it
]


@pytest.mark.parametrize("trace_id", [*IDS, "x" * 300])
def test_every_kind_of_id_reads_back_exactly(trace_id):
    assert unpack_trace_id(pack_trace_id(trace_id)) == trace_id


def test_hex_ids_take_half_their_text_and_sort_as_it():
    assert len(pack_trace_id(W3C)) == 16 and len(pack_trace_id("00f067aa0ba902b7")) == 8
    hexes = [f"{n * 7919:032x}" for n in range(50)] + ["f" * 32, "0" * 32]
    assert sorted(hexes, key=pack_trace_id) == sorted(hexes)
    assert {len(pack_trace_id(t)) for t in IDS[2:]}.isdisjoint({8, 16})


def trace(trace_id: str, start_ns: int = 1_000) -> Trace:
    return Trace(trace_id, [make_span("r", trace_id=trace_id, start_ns=start_ns)])


@pytest.mark.django_db
def test_stored_traces_are_found_by_every_kind_of_id():
    store_traces([trace(t, 1_000 + n) for n, t in enumerate(IDS)])
    source = StoreSource()
    assert sorted(t.trace_id for t in source.get_traces(IDS)) == sorted(IDS)
    assert all(source.get_trace(t).spans[0].trace_id == t for t in IDS)
    assert sorted(StoredTrace.objects.values_list("trace_id", flat=True)) == sorted(IDS)
    assert StoredTrace.objects.filter(trace_id__in=IDS[:3]).count() == 3
    assert StoredTrace.objects.get(trace_id=IDS[4]).trace_id == IDS[4]
    found = select_rows(StoredTrace, ("trace_id",), trace_id=[IDS[0], IDS[5], "not stored"])
    assert sorted(found) == sorted([(IDS[0],), (IDS[5],)])
    listed = source.search(TraceQuery(limit=100))
    assert [s.trace_id for s in listed] == IDS[::-1]  # newest first
    with connection.cursor() as cursor:
        cursor.execute("SELECT trace_id FROM store_trace WHERE span_count = 1")
        raw = {bytes(row[0]) for row in cursor.fetchall()}
    assert bytes.fromhex(W3C) in raw and W3C.encode() not in raw


@pytest.mark.django_db
def test_traces_starting_together_are_listed_by_id():
    ids = [f"{n * 104_729:032x}" for n in range(20)] + ["text-id", "Text-id"]
    store_traces([trace(t) for t in ids])
    listed = [s.trace_id for s in StoreSource().search(TraceQuery(limit=100))]
    assert listed == sorted(ids, key=pack_trace_id)  # hex ids in their text's order, then text
    assert listed[:20] == sorted(ids[:20])


@pytest.mark.django_db(transaction=True)
def test_migration_0019_carries_ids_over_and_back():
    fields = {"start_ns": 1, "duration_ns": 1, "span_count": 1, "error_count": 0}
    texts = IDS[:-1]  # what a text column could hold
    with migrated_back_to("store", "0018_trace_root_operation") as old:
        Stored = old.get_model("store", "StoredTrace")
        for trace_id in texts:
            Stored.objects.create(trace_id=trace_id, **fields)
    assert sorted(StoredTrace.objects.values_list("trace_id", flat=True)) == sorted(texts)
    with connection.cursor() as cursor:
        cursor.execute("SELECT trace_id FROM store_trace")
        assert {bytes(row[0]) for row in cursor.fetchall()} == {pack_trace_id(t) for t in texts}
    with migrated_back_to("store", "0018_trace_root_operation") as old:
        back = old.get_model("store", "StoredTrace").objects.values_list("trace_id", flat=True)
        assert sorted(back) == sorted(texts)
