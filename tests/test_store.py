"""The embedded store's codec, tables and StoreSource, and MemorySource answering the same."""

import math

import pytest

from explorer.composition import get_source
from explorer.sources.base import SourceError, TraceNotFound, TraceQuery
from explorer.sources.memory import MemorySource
from explorer.store import codec
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace, TraceChunk, select_rows
from explorer.store.source import StoreSource
from explorer.traces.model import (
    Event,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    StatusCode,
    Trace,
)
from tests.trace_support import span_factory

T0 = 1_700_000_000_000_000_000
MS = 1_000_000

SHOP = Resource("shop-api", {"service.name": "shop-api", "host.name": "shop-1"})
CRM = Resource("crm-api", {"service.name": "crm-api"})


span = span_factory(T0, MS, resource=SHOP, kind=SpanKind.SERVER)  # times in ms after T0


def order_trace(trace_id, order, customer, start_ms=0, error=False, customer_on_resource=False):
    """A small order trace: shop-api server span, its DB client span, a crm-api consumer."""
    resource = SHOP
    if customer_on_resource:
        resource = Resource("shop-api", {"service.name": "shop-api", "customer.id": customer})
        business = {"order.id": order}
    else:
        business = {"order.id": order, "customer.id": customer}
    spans = [
        span(
            "a1",
            None,
            start_ms,
            start_ms + 50,
            trace_id=trace_id,
            name="POST /api/orders",
            resource=resource,
            attributes=business,
        ),
        span(
            "a2",
            "a1",
            start_ms + 5,
            start_ms + 15,
            trace_id=trace_id,
            name="INSERT shop.orders",
            resource=resource,
            kind=SpanKind.CLIENT,
            error=error,
            attributes={"db.system.name": "postgresql"},
        ),
        span(
            "a3",
            "a1",
            start_ms + 20,
            start_ms + 90,
            trace_id=trace_id,
            name="orders process",
            resource=CRM,
            kind=SpanKind.CONSUMER,
            attributes=business,
        ),
    ]
    return Trace(trace_id, spans)


def sample_traces():
    return [
        order_trace("t1", "A-100001", "C-00001", start_ms=0),
        order_trace("t2", "A-100001", "C-00001", start_ms=1000, error=True),
        order_trace("t3", "A-100002", "C-00002", start_ms=2000, customer_on_resource=True),
        Trace("t4", [span("b1", None, 3000, 3400, trace_id="t4", name="GET /api/items")]),
    ]


def rich_span():
    """A span using every field and every attribute type of the model."""
    resource = Resource("mes-api", {"service.name": "mes-api", "k8s.pod.ip": b"\x0a\x00\x00\x01"})
    return Span(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        parent_id="span-A",
        name='price <calc> & "quote"',
        kind=SpanKind.PRODUCER,
        start_ns=T0,
        end_ns=T0 + 7,
        resource=resource,
        attributes={
            "s": "text",
            "i": -(2**63),
            "big": 2**70,
            "d": 1.0,
            "nan": math.nan,
            "inf": -math.inf,
            "b": True,
            "raw": b"\x00\xff",
            "empty": b"",
            "arr": [1, "two", 3.5, False, b"\x01", [1, 2]],
            "looks_tagged": ["b", "AA=="],
            "kv": {"nested": {"deep": [{"x": 1}]}, "bytes": b"z"},
            "empty_kv": {},
            "empty_arr": [],
        },
        events=[
            Event("order.state_changed", T0 + 3, {"order.state.new": "INITIATED", "n": [1]}),
            Event("exception", T0 + 4),
        ],
        links=[Link("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", {"w": b"1"})],
        status_code=StatusCode.ERROR,
        status_message="price service down",
        scope=Scope("io.opentelemetry.aspnetcore", "1.2.3"),
        parent_ref=RefType.FOLLOWS_FROM,
    )


def test_codec_round_trips_every_field_and_attribute_type():
    plain = span("s2", "s1", trace_id="t", name="plain")
    spans = [rich_span(), plain]
    decoded = codec.decode_spans(codec.encode_spans(spans, "t"), "t")
    assert len(decoded) == 2
    original, back = spans[0], decoded[0]
    nan_free = {k: v for k, v in original.attributes.items() if k != "nan"}
    assert {k: v for k, v in back.attributes.items() if k != "nan"} == nan_free
    assert math.isnan(back.attributes["nan"])
    # Types survive, not just values: a double stays a double, bytes stay bytes.
    assert type(back.attributes["d"]) is float
    assert type(back.attributes["raw"]) is bytes
    assert back.attributes["looks_tagged"] == ["b", "AA=="]
    for name in (
        "trace_id",
        "span_id",
        "parent_id",
        "name",
        "kind",
        "start_ns",
        "end_ns",
        "resource",
        "events",
        "links",
        "status_code",
        "status_message",
        "scope",
        "parent_ref",
    ):
        assert getattr(back, name) == getattr(original, name), name
    assert type(back.kind) is SpanKind and type(back.parent_ref) is RefType
    assert decoded[1] == plain


@pytest.mark.parametrize(
    "attributes",
    [
        {"arr": [1, "x", 2.5, [True]], "kv": {"a": {"b": [1]}}, "d": 2.0},  # untagged path
        {"word": "null", "n": 1},  # "null" in a string takes the tagged path: still exact
        {"arr": [1.0, math.inf]},  # non-finite inside an array
        {"arr": [b"\x00", 2**64]},  # bytes and a too large int inside an array
    ],
)
def test_codec_round_trips_both_encodings(attributes):
    built = span("s1", trace_id="t", name="op", attributes=attributes)
    built.events = [Event("e", T0, dict(attributes))]
    (back,) = codec.decode_spans(codec.encode_spans([built], "t"), "t")
    assert back == built
    assert {k: type(v) for k, v in back.attributes.items()} == {
        k: type(v) for k, v in attributes.items()
    }
    assert [type(v) for v in back.attributes.get("arr", [])] == [
        type(v) for v in attributes.get("arr", [])
    ]


def test_codec_rejects_corrupt_data():
    with pytest.raises(codec.CodecError):
        codec.decode_spans(b"not zlib at all", "t")


@pytest.fixture
def stored():
    store_traces(sample_traces())
    return StoreSource()


def summary_ids(summaries):
    return [s.trace_id for s in summaries]


@pytest.mark.django_db
def test_find_traces_by_order_and_customer_on_spans_and_resources(stored):
    assert summary_ids(stored.find_traces("order.id", "A-100001")) == ["t2", "t1"]
    assert summary_ids(stored.find_traces("customer.id", "C-00001")) == ["t2", "t1"]
    # customer.id only on the resource of t3's shop-api spans
    assert summary_ids(stored.find_traces("customer.id", "C-00002")) == ["t3"]
    assert stored.find_traces("order.id", "A-999999") == []
    window = stored.find_traces("order.id", "A-100001", start_ns=T0 + 500 * MS)
    assert summary_ids(window) == ["t2"]
    assert summary_ids(stored.find_traces("order.id", "A-100001", limit=1)) == ["t2"]


@pytest.mark.django_db
def test_summary_and_get_trace(stored):
    (summary,) = stored.find_traces("order.id", "A-100002")
    assert summary.root_service == "shop-api"
    assert summary.root_name == "POST /api/orders"
    assert summary.span_count == 3
    assert summary.duration_ns == 90 * MS
    assert summary.services == ["crm-api", "shop-api"]
    assert summary.attributes == {"order.id": "A-100002", "customer.id": "C-00002"}
    trace = stored.get_trace("t3")
    assert [s.span_id for s in trace.spans] == ["a1", "a2", "a3"]
    assert trace.spans[0].resource.attributes["customer.id"] == "C-00002"
    with pytest.raises(TraceNotFound, match="t404"):
        stored.get_trace("t404")


@pytest.mark.django_db
def test_search_filters(stored):
    def ids(**fields):
        return summary_ids(stored.search(TraceQuery(**fields)))

    assert ids() == ["t4", "t3", "t2", "t1"]
    assert ids(service="crm-api") == ["t3", "t2", "t1"]
    assert ids(operation="GET /api/items") == ["t4"]
    assert ids(service="crm-api", operation="INSERT shop.orders") == []
    assert ids(service="shop-api", operation="INSERT shop.orders") == ["t3", "t2", "t1"]
    assert ids(operation="INSERT shop") == []  # a whole span name, not a part of one
    assert ids(operation="get /api/items") == []  # exact, case included
    assert ids(errors_only=True) == ["t2"]
    assert ids(min_duration_ns=91 * MS) == ["t4"]
    assert ids(max_duration_ns=90 * MS) == ["t3", "t2", "t1"]
    assert ids(start_ns=T0 + 1000 * MS, end_ns=T0 + 3000 * MS) == ["t3", "t2"]
    assert ids(attributes={"order.id": "A-100001", "customer.id": "C-00001"}) == ["t2", "t1"]
    assert ids(attributes={"order.id": "A-100001", "customer.id": "C-00002"}) == []
    assert ids(limit=2) == ["t4", "t3"]
    with pytest.raises(SourceError, match="host.name"):
        ids(attributes={"host.name": "shop-1"})


@pytest.mark.django_db
def test_services_operations_and_dependencies(stored):
    assert stored.services() == ["crm-api", "shop-api"]
    assert stored.operations("shop-api") == [
        "GET /api/items",
        "INSERT shop.orders",
        "POST /api/orders",
    ]
    assert stored.operations("nobody") == []
    assert stored.dependencies(0, T0 * 2) is None


@pytest.mark.django_db
def test_huge_trace_is_chunked_and_read_back_in_order(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 4)
    spans = [
        span(f"s{i:02d}", None if i == 0 else "s00", 10 - i, 20, trace_id="big", name=f"op{i % 3}")
        for i in range(10)
    ]
    store_traces([Trace("big", spans)])
    row = StoredTrace.objects.get(trace_id="big")
    assert list(
        TraceChunk.objects.filter(trace=row).values_list("span_count", flat=True).order_by("seq")
    ) == [4, 4, 2]
    source = StoreSource()
    parts = list(source.iter_spans("big"))
    assert [len(p) for p in parts] == [4, 4, 2]
    starts = [s.start_ns for s in source.get_trace("big").spans]
    assert starts == sorted(starts) and len(starts) == 10
    (summary,) = source.search(TraceQuery())
    assert summary.root_name == "op0"  # the span without parent, though not the earliest


@pytest.mark.django_db
def test_storing_again_merges_and_deduplicates():
    first = order_trace("t1", "A-1", "C-1")
    store_traces([Trace("t1", first.spans[:2])])
    store_traces([Trace("t1", first.spans[1:], warnings=["repaired"])])
    store_traces([first])
    trace = StoreSource().get_trace("t1")
    assert [s.span_id for s in trace.spans] == ["a1", "a2", "a3"]
    assert trace.warnings == ["repaired"]
    assert StoredTrace.objects.get().span_count == 3
    assert StoreSource().services() == ["crm-api", "shop-api"]


@pytest.mark.django_db
def test_select_rows_answers_as_the_orm_does():
    traces = [order_trace("t1", "A-1", "C-1"), order_trace("t2", "A-2", "C-2")]
    traces[0].warnings = ["span s1 repaired"]
    store_traces(traces)
    fields = ("trace_id", "attributes", "warnings", "ordered", "layout", "span_count")
    found = sorted(select_rows(StoredTrace, fields, trace_id=["t2", "t1", "nowhere"]))
    assert found == sorted(StoredTrace.objects.values_list(*fields))
    assert found[0][2] == ["span s1 repaired"] and found[0][3] is True
    assert select_rows(StoredTrace, fields, trace_id=["nowhere"]) == []
    # Several conditions: each field holds one of its values.
    both = select_rows(StoredTrace, ("trace_id",), trace_id=["t1", "t2"], span_count=[3])
    assert sorted(both) == [("t1",), ("t2",)]
    assert select_rows(StoredTrace, ("trace_id",), trace_id=["t1"], span_count=[2]) == []
    assert select_rows(StoredTrace, ("trace_id",), trace_id=["t1"], span_count=[]) == []


@pytest.mark.django_db
def test_long_attribute_values_are_found_by_their_indexed_prefix():
    value = "A-" + "9" * 500
    store_traces([order_trace("t1", value, "C-1")])
    assert summary_ids(StoreSource().find_traces("order.id", value)) == ["t1"]


def memory_source():
    return MemorySource(sample_traces())


def store_source():
    store_traces(sample_traces())
    return StoreSource()


QUESTIONS = [
    ("find_traces", ("order.id", "A-100001")),
    ("find_traces", ("customer.id", "C-00002")),
    ("find_traces", ("customer.id", "C-00001", T0 + 500 * MS, T0 + 5000 * MS)),
    ("search", (TraceQuery(),)),
    ("search", (TraceQuery(service="crm-api", errors_only=True),)),
    ("search", (TraceQuery(operation="POST /api/orders", min_duration_ns=60 * MS),)),
    ("search", (TraceQuery(attributes={"customer.id": "C-00001"}, limit=1),)),
    ("search", (TraceQuery(service="shop-api", operation="INSERT shop.orders"),)),
    ("services", ()),
    ("operations", ("crm-api",)),
    ("dependencies", (0, T0 * 2)),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "args"), QUESTIONS)
def test_memory_and_store_sources_give_the_same_answers(method, args):
    expected = getattr(memory_source(), method)(*args)
    assert getattr(store_source(), method)(*args) == expected
    if method in ("find_traces", "search"):
        assert expected  # a comparison of two empty answers would prove nothing


@pytest.mark.django_db
def test_memory_and_store_return_the_same_trace():
    from_memory = memory_source().get_trace("t3")
    from_store = store_source().get_trace("t3")
    assert from_store.spans == from_memory.spans
    with pytest.raises(TraceNotFound):
        memory_source().get_trace("nope")


def test_memory_source_merges_parts_of_one_trace():
    whole = order_trace("t1", "A-1", "C-1")
    source = MemorySource([Trace("t1", whole.spans[:2]), Trace("t1", whole.spans[1:])])
    assert [s.span_id for s in source.get_trace("t1").spans] == ["a1", "a2", "a3"]


@pytest.mark.django_db
def test_registry_returns_the_store_by_default_and_refuses_unknown_names():
    assert isinstance(get_source(), StoreSource)
    with pytest.raises(SourceError, match="nowhere"):
        get_source("nowhere")


@pytest.mark.django_db
def test_a_write_that_lost_a_race_is_retried_and_merges(monkeypatch):
    from django.db import IntegrityError

    from explorer.store import ingest as ingest_module

    write = ingest_module._BatchWriter._write
    failures = []

    def lose_once(self, traces):
        stored = write(self, traces)  # inserted, then rolled back as if another writer won
        if not failures:
            failures.append(True)
            raise IntegrityError("UNIQUE constraint failed: store_trace.trace_id")
        return stored

    monkeypatch.setattr(ingest_module._BatchWriter, "_write", lose_once)
    report = store_traces(sample_traces())
    assert failures and report.traces == 4
    source = StoreSource()
    assert summary_ids(source.search(TraceQuery(service="crm-api"))) == ["t3", "t2", "t1"]
    assert source.operations("crm-api") == ["orders process"]


@pytest.mark.django_db
def test_overlong_trace_id_is_rejected_and_corrupt_chunks_are_reported():
    too_long = "f" * 300
    report = store_traces(
        [
            Trace(too_long, [span("s1", trace_id=too_long, name="op")]),
            order_trace("t1", "A-1", "C-1"),
        ],
        source="upload.json",
    )
    found = [(r.source, r.message.endswith("longer than 255 characters")) for r in report.rejected]
    assert found == [("upload.json", True)]
    assert list(StoredTrace.objects.values_list("trace_id", flat=True)) == ["t1"]
    TraceChunk.objects.update(data=b"garbage")
    with pytest.raises(SourceError, match="cannot be decoded"):
        StoreSource().get_trace("t1")
