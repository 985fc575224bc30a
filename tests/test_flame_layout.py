"""A stored layout keeps what the flame graph draws of each row (times, name, failure), so the
first view of a stored trace decodes no span; layouts stored before decode without it and the
flame graph reads the spans as it did."""

import dataclasses
import zlib
from array import array

import orjson
import pytest
from django.urls import reverse

from explorer.analysis.layout import (
    FlameRows,
    LayoutError,
    PackedFlameRows,
    TraceLayout,
    _shuffle,
    _unshuffle,
    lay_out,
)
from explorer.caching import reset_caches
from explorer.store import codec
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace
from explorer.store.source import StoreSource
from explorer.traces.model import Trace
from explorer.web.flame_columns import FlameColumns, build_columns, flame_view
from explorer.web.trace_cache import prepare, prepared_trace
from tests.trace_support import make_span

TRACE_ID = "fa" * 16
T0 = 1_700_000_000_000_000_000
EVIL = "<script>alert(1)</script>&\u202e\"'"
COLUMNS = [f.name for f in dataclasses.fields(FlameColumns)]


def hostile_trace(trace_id: str = TRACE_ID, spans: int = 60) -> Trace:
    """A root over `spans` - 1 children in chains of three: many names (hostile ones among
    them, some repeated), three services, failures, a span that ends before it starts and a
    child that starts before its parent (clock skew)."""
    out = [
        make_span("r", None, "shop", trace_id=trace_id, name=EVIL, start_ns=T0, end_ns=T0 + 10**9)
    ]
    for i in range(1, spans):
        parent = "r" if i % 3 == 1 else f"s{i - 1}"
        start = T0 + (i // 3) * 1_000_000 + (i % 3) * 1000 - (5000 if i == 4 else 0)
        end = start - 7 if i == 10 else start + 900_000 - (i % 3) * 100_000
        out.append(
            make_span(
                f"s{i}",
                parent,
                ("shop", "mes", EVIL)[i % 3],
                trace_id=trace_id,
                name=f"op {i % 17} \u00e9\U0001f680 {EVIL if i % 5 == 0 else ''}",
                start_ns=start,
                end_ns=end,
                error=i % 7 == 0,
            )
        )
    return Trace(trace_id, out)


def version_2_layout(layout: TraceLayout) -> bytes:
    """A layout as stored before it kept the flame rows (version 2, with services)."""
    header = [2, len(layout), len(layout.critical), layout.counts, layout.errors, None]
    parts = [layout.depth, layout.end, layout.critical, layout.row_services]
    numbers = b"".join(array("i", p).tobytes() for p in parts)
    return zlib.compress(orjson.dumps([*header, layout.service_names]) + b"\n" + numbers)


def flame_fields(rows: FlameRows) -> tuple:
    return (
        rows.origin_ns,
        list(rows.start),
        list(rows.duration),
        rows.names,
        list(rows.name),
        list(rows.error_rows),
    )


def test_flame_rows_round_trip_with_hostile_and_many_names():
    trace = hostile_trace(spans=400)
    ordered, layout = lay_out(trace)
    flame = layout.flame
    assert flame is not None and len(flame.names) == 17 * 2 + 1
    assert [flame.names[i] for i in flame.name] == [s.name for s in ordered]
    assert [flame.origin_ns + s for s in flame.start] == [s.start_ns for s in ordered]
    assert list(flame.duration) == [max(s.end_ns - s.start_ns, 0) for s in ordered]
    assert list(flame.error_rows) == [r for r, s in enumerate(ordered) if s.is_error]
    again = TraceLayout.decode(layout.encode())
    assert isinstance(again.flame, PackedFlameRows)  # unpacked only when drawn
    unpacked = again.flame_rows()
    assert unpacked is not None and flame_fields(unpacked) == flame_fields(flame)
    assert again.service_names == layout.service_names and again.operations == layout.operations
    assert list(again.row_services) == list(layout.row_services)


def test_old_layouts_decode_without_flame_rows():
    _, layout = lay_out(hostile_trace())
    old = TraceLayout.decode(version_2_layout(layout))
    assert old.flame_rows() is None and list(old.end) == list(layout.end)
    assert list(old.row_services) == list(layout.row_services)


def test_flame_rows_json_or_64_bits_cannot_hold_are_left_out_and_bad_ones_refused():
    _, layout = lay_out(hostile_trace())
    assert layout.flame is not None
    odd = dataclasses.replace(layout.flame, names=["\ud800", *layout.flame.names[1:]])
    kept = TraceLayout.decode(dataclasses.replace(layout, flame=odd).encode())
    assert kept.flame_rows() is None and kept.row_services is not None
    apart = dataclasses.replace(layout.flame, start=array("q", [2**62, -(2**62)] * 30))
    apart_layout = TraceLayout.decode(dataclasses.replace(layout, flame=apart).encode())
    assert apart_layout.flame_rows() is None
    far = make_span("far", "r", trace_id=TRACE_ID, start_ns=T0 + 2**63, end_ns=T0 + 2**63 + 1)
    assert lay_out(Trace(TRACE_ID, [*hostile_trace().spans, far]))[1].flame is None
    wrong_name = dataclasses.replace(layout.flame, name=array("i", [99] * len(layout)))
    wrong_error = dataclasses.replace(layout.flame, error_rows=array("i", [len(layout)]))
    negative = dataclasses.replace(layout.flame, duration=array("q", [-1] * len(layout)))
    for bad, message in (
        (wrong_name, "span name"),
        (wrong_error, "failed row"),
        (negative, "negative duration"),
    ):
        with pytest.raises(LayoutError, match=message):
            TraceLayout.decode(dataclasses.replace(layout, flame=bad).encode()).flame_rows()
    raw = zlib.decompress(layout.encode())
    # Steps between starts whose sum leaves 64 bits (the times are the last 16 bytes a row).
    n = len(layout)
    times = _unshuffle(raw[-16 * n :])
    steps = array("q", [2**62] * n).tobytes()
    beyond = raw[: -16 * n] + _shuffle(steps + times[8 * n :])
    with pytest.raises(LayoutError, match="bad flame rows"):
        TraceLayout.decode(zlib.compress(beyond)).flame_rows()
    header, body = raw.split(b"\n", 1)
    for head in ([1, 2], [0, "names", 0], [0, layout.flame.names, 10**6]):
        broken = orjson.dumps([*orjson.loads(header)[:7], head]) + b"\n" + body
        with pytest.raises(LayoutError):
            TraceLayout.decode(zlib.compress(broken)).flame_rows()


def stored_columns(monkeypatch) -> FlameColumns:
    """The columns of the stored trace, with every way of reading spans forbidden."""

    def read(*args, **kwargs):
        raise AssertionError("spans were read")

    reset_caches()
    with monkeypatch.context() as reading:
        reading.setattr(StoreSource, "get_trace", read)
        reading.setattr(StoreSource, "iter_spans", read)
        reading.setattr(codec, "decode_spans", read)
        return build_columns(prepared_trace(StoreSource(), TRACE_ID))


def by_name(columns: FlameColumns) -> tuple:
    """The columns with table indexes resolved (tables list in order of first use)."""
    values = {f: getattr(columns, f) for f in COLUMNS}
    values["service"] = [columns.services[i] for i in columns.service]
    values["name"] = [columns.names[i] for i in columns.name]
    return tuple(list(values[f]) for f in COLUMNS if f not in ("services", "names"))


def assert_same_as_from_spans(columns: FlameColumns) -> None:
    """Equal to the columns read from the stored spans (a layout without flame rows) and to
    those of the whole trace; the same boxes at any width."""
    layout = TraceLayout.decode(bytes(StoredTrace.objects.get(trace_id=TRACE_ID).layout))
    StoredTrace.objects.update(layout=dataclasses.replace(layout, flame=None).encode())
    reset_caches()
    from_spans = build_columns(prepared_trace(StoreSource(), TRACE_ID))
    StoredTrace.objects.update(layout=layout.encode())
    for field in COLUMNS:
        assert getattr(columns, field) == getattr(from_spans, field), field
    whole = build_columns(prepare(StoreSource().get_trace(TRACE_ID), "whole"))
    assert by_name(columns) == by_name(whole)
    for width in (40, 1366):
        assert flame_view(columns, -1, width) == flame_view(from_spans, -1, width)
        assert flame_view(columns, 1, width) == flame_view(from_spans, 1, width)


@pytest.mark.django_db
def test_columns_of_a_stored_trace_come_from_its_layout_alone(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 7)  # 60 spans: 9 chunks
    store_traces([hostile_trace()])
    columns = stored_columns(monkeypatch)
    assert len(columns) == 60 and any(columns.error) and EVIL in columns.names
    assert_same_as_from_spans(columns)
    reset_caches()


@pytest.mark.django_db
def test_corrupt_stored_flame_rows_are_read_from_the_spans(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 7)
    store_traces([hostile_trace()])
    layout = TraceLayout.decode(bytes(StoredTrace.objects.get(trace_id=TRACE_ID).layout))
    rows = layout.flame_rows()
    assert rows is not None
    wrong = dataclasses.replace(rows, name=array("i", [99] * len(layout)))
    StoredTrace.objects.update(layout=dataclasses.replace(layout, flame=wrong).encode())
    reset_caches()
    columns = build_columns(prepared_trace(StoreSource(), TRACE_ID))
    StoredTrace.objects.update(layout=layout.encode())
    assert columns.names[0] == EVIL and by_name(columns) == by_name(stored_columns(monkeypatch))
    reset_caches()


@pytest.mark.django_db
def test_a_merged_trace_is_laid_out_again_with_its_flame_rows(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 7)
    trace = hostile_trace()
    store_traces([Trace(TRACE_ID, trace.spans[:30])])
    assert len(stored_columns(monkeypatch)) == 30
    store_traces([Trace(TRACE_ID, trace.spans[30:])])
    # The merged trace is laid out again (from its spans) when it is first read.
    assert StoreSource().trace_overview(TRACE_ID).span_count == 60
    columns = stored_columns(monkeypatch)
    assert len(columns) == 60
    assert_same_as_from_spans(columns)
    reset_caches()


@pytest.mark.django_db
def test_boxes_of_a_stored_trace_read_no_span(client, login_as, monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 7)
    store_traces([hostile_trace()])
    login_as("architect")
    url = reverse("web:trace_flame_boxes", args=[TRACE_ID])
    reset_caches()

    def read(*args, **kwargs):
        raise AssertionError("spans were read")

    with monkeypatch.context() as reading:
        reading.setattr(StoreSource, "iter_spans", read)
        reading.setattr(codec, "decode_spans", read)
        from_layout = client.get(url, {"width": 800}).json()
    assert from_layout["total"] == 60 and any("<script>" in n for n in from_layout["names"])
    layout = TraceLayout.decode(bytes(StoredTrace.objects.get(trace_id=TRACE_ID).layout))
    StoredTrace.objects.update(layout=dataclasses.replace(layout, flame=None).encode())
    reset_caches()
    assert client.get(url, {"width": 800}).json() == from_layout
    reset_caches()
