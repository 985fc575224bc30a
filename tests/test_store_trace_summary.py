"""A stored trace's summary keeps no end, no services and no root names of its own: its end is
its start plus its duration, its services are those of its operation set (migration 0017), and
its root is an operation of the catalogue (0018). They follow the trace as pieces arrive, read
the same in search results, the trace's overview and the newest end, and both migrations
compute the old columns again when taken back."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from explorer.sources.base import TraceQuery
from explorer.store.ingest import store_traces
from explorer.store.models import Operation, StoredTrace
from explorer.store.source import StoreSource
from explorer.traces.model import Trace
from tests.migration_support import migrated_back_to
from tests.trace_support import make_span

T0 = 1_700_000_000_000_000_000
HOSTILE_SERVICE = '</script>"svc\u202e' + "x" * 300  # longer than a catalogue name


def summary(trace_id: str):
    (found,) = [s for s in StoreSource().search(TraceQuery()) if s.trace_id == trace_id]
    return found


@pytest.mark.django_db
def test_end_and_services_follow_the_pieces_of_a_trace():
    root = make_span("r", service="shop-api", trace_id="t1", start_ns=T0 + 100, end_ns=T0 + 200)
    store_traces([Trace("t1", [root])])
    assert (summary("t1").duration_ns, summary("t1").services) == (100, ["shop-api"])
    # A later piece: a child that ends after the root, of another service.
    late = make_span("c", "r", "mes-api", trace_id="t1", start_ns=T0 + 150, end_ns=T0 + 900)
    store_traces([Trace("t1", [late])])
    found = summary("t1")
    assert (found.start_ns, found.duration_ns) == (T0 + 100, 800)
    assert found.services == ["mes-api", "shop-api"]
    # One that starts earlier: the start moves, the end stays.
    early = make_span("e", "r", "crm", trace_id="t1", start_ns=T0, end_ns=T0 + 50)
    store_traces([Trace("t1", [early])])
    found = summary("t1")
    assert (found.start_ns, found.duration_ns) == (T0, 900)
    assert found.services == ["crm", "mes-api", "shop-api"]
    assert StoreSource().newest_end_ns() == T0 + 900


@pytest.mark.django_db
def test_the_overview_and_search_name_the_same_services(monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.CHUNK_SPANS", 20)  # laid out: it has an overview
    spans = [make_span("r", service="shop-api", trace_id="t2", start_ns=T0, end_ns=T0 + 10)]
    spans += [
        make_span(f"s{n}", "r", HOSTILE_SERVICE if n % 2 else "mes-api", trace_id="t2")
        for n in range(60)
    ]
    for n, span in enumerate(spans[1:]):
        span.start_ns, span.end_ns = T0 + n, T0 + n + 5
    store_traces([Trace("t2", spans)])
    listed = summary("t2").services
    assert listed == sorted(["mes-api", "shop-api", HOSTILE_SERVICE[:255]])
    overview = StoreSource().trace_overview("t2")
    assert overview is not None and overview.services == listed


@pytest.mark.django_db
def test_the_summary_table_has_no_end_nor_services_column():
    with connection.cursor() as cursor:
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, "store_trace")
        }
    assert "start_ns" in columns and not {"end_ns", "services"} & columns


@pytest.mark.django_db(transaction=True)
def test_migration_0017_computes_end_and_services_again_when_taken_back():
    spans = [
        make_span("r", service="shop-api", trace_id="t3", start_ns=T0, end_ns=T0 + 70),
        make_span("c", "r", "mes-api", trace_id="t3", start_ns=T0 + 5, end_ns=T0 + 90),
    ]
    store_traces([Trace("t3", spans), Trace("t4", [make_span("x", trace_id="t4")])])
    with migrated_back_to("store", "0016_compact_traffic_buckets") as old:
        back = old.get_model("store", "StoredTrace").objects.order_by("trace_id")
        assert list(back.values_list("trace_id", "end_ns", "services")) == [
            ("t3", T0 + 90, ["mes-api", "shop-api"]),
            ("t4", 10, ["svc"]),
        ]
    assert summary("t3").services == ["mes-api", "shop-api"]
    assert StoredTrace.objects.get(trace_id="t3").duration_ns == 90


@pytest.mark.django_db
def test_the_root_follows_an_earlier_root_piece_and_names_the_catalogue_operation():
    child = make_span("c", "r", "mes-api", trace_id="t5", name="make", start_ns=T0 + 5)
    store_traces([Trace("t5", [child])])
    assert (summary("t5").root_service, summary("t5").root_name) == ("mes-api", "make")
    root = make_span("r", service="shop-api", trace_id="t5", name=HOSTILE_SERVICE, start_ns=T0)
    store_traces([Trace("t5", [root])])
    found = summary("t5")
    assert (found.root_service, found.root_name) == ("shop-api", HOSTILE_SERVICE[:255])
    row = StoredTrace.objects.get(trace_id="t5")
    assert (row.root.service, row.root.name) == ("shop-api", HOSTILE_SERVICE[:255])


@pytest.mark.django_db(transaction=True)
def test_migration_0018_points_roots_to_the_catalogue_and_back():
    fields = {"start_ns": T0, "duration_ns": 10, "span_count": 1, "error_count": 0}
    long_name = "GET /" + "x" * 300
    with migrated_back_to("store", "0017_trace_end_and_services_derived") as old:
        Stored = old.get_model("store", "StoredTrace")
        old.get_model("store", "Operation").objects.create(service="shop-api", name="GET /")
        Stored.objects.create(trace_id="a", root_service="shop-api", root_name="GET /", **fields)
        Stored.objects.create(trace_id="b", root_service="crm", root_name=long_name, **fields)
    roots = dict(StoredTrace.objects.values_list("trace_id", "root__name"))
    assert roots == {"a": "GET /", "b": long_name[:255]}  # b's operation added to the catalogue
    assert Operation.objects.filter(service="shop-api", name="GET /").count() == 1
    with migrated_back_to("store", "0017_trace_end_and_services_derived") as old:
        back = old.get_model("store", "StoredTrace").objects.order_by("trace_id")
        assert list(back.values_list("root_service", "root_name")) == [
            ("shop-api", "GET /"),
            ("crm", long_name[:255]),
        ]


@pytest.mark.django_db
def test_a_search_asks_the_services_of_an_operation_set_once():
    store_traces([Trace("t6", [make_span("r", service="shop-api", trace_id="t6")])])
    with CaptureQueriesContext(connection) as first:
        assert summary("t6").services == ["shop-api"]
    with CaptureQueriesContext(connection) as again:
        listed = summary("t6")
        listed.services.append("changed by a caller")  # its own list: the next one is not
        assert summary("t6").services == ["shop-api"]
    asked = [q["sql"] for q in first.captured_queries + again.captured_queries]
    assert sum("store_operation_set_member" in sql for sql in asked) == 1
