"""A trace's operations as one of the store's few distinct sets (OperationSet, issue 31)."""

import pytest

from explorer.sources.base import TraceQuery
from explorer.store.ingest import store_traces
from explorer.store.models import OperationSet, StoredTrace
from explorer.store.source import StoreSource
from explorer.traces.model import Resource, SpanKind, Trace
from tests.trace_support import span_factory

T0 = 1_700_000_000_000_000_000
SHOP = Resource("shop-api", {"service.name": "shop-api"})
CRM = Resource("crm-api", {"service.name": "crm-api"})
span = span_factory(T0, 1_000_000, resource=SHOP, kind=SpanKind.SERVER)

pytestmark = pytest.mark.django_db


def order(trace_id: str, start: int) -> Trace:
    return Trace(
        trace_id,
        [
            span("a", None, start, trace_id=trace_id, name="POST /api/orders"),
            span("b", "a", start + 1, trace_id=trace_id, name="INSERT", kind=SpanKind.CLIENT),
        ],
    )


def found(**query) -> list[str]:
    return sorted(s.trace_id for s in StoreSource().search(TraceQuery(**query)))


def test_traces_of_one_kind_share_their_set_and_pieces_grow_their_own():
    store_traces([order("t1", 0), order("t2", 100), order("t3", 200)])
    assert OperationSet.objects.count() == 1
    # A later piece of t2 brings an operation of another service: t2 alone gets a new set.
    piece = span("c", "a", 105, trace_id="t2", name="orders.new", resource=CRM)
    store_traces([Trace("t2", [piece])])
    sets = dict(StoredTrace.objects.values_list("trace_id", "operation_set"))
    assert sets["t1"] == sets["t3"] != sets["t2"] and OperationSet.objects.count() == 2
    assert found(operation="orders.new") == ["t2"]
    assert found(service="crm-api") == ["t2"]
    assert found(service="shop-api", operation="INSERT") == ["t1", "t2", "t3"]
    assert found(operation="no such operation") == []
    # Spans stored again change nothing.
    store_traces([order("t1", 0), Trace("t2", [piece])])
    assert OperationSet.objects.count() == 2
    assert StoreSource().operations("crm-api") == ["orders.new"]


@pytest.mark.django_db(transaction=True)
def test_migration_0010_turns_operation_rows_into_sets_and_old_chunks_still_read():
    """A store filled before: its rows per trace and operation become sets, searches answer
    as before, and its zlib chunks (version 1) read as they are."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from tests.test_store_codec import OLD_CHUNK, OLD_SPANS, TRACE

    before = [("store", "0009_hourly_operations")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        fields = {"start_ns": T0, "end_ns": T0 + 1, "duration_ns": 1, "error_count": 0}
        names = {"root_service": "shop-api", "root_name": "POST /api/orders"}
        Trace_ = old.get_model("store", "StoredTrace")
        rows = [
            Trace_.objects.create(trace_id=trace_id, span_count=2, **fields, **names)
            for trace_id in (TRACE, "t2", "t3")
        ]
        Operation = old.get_model("store", "Operation")
        post, insert, new = (
            Operation.objects.create(service=service, name=name)
            for service, name in [
                ("shop-api", "POST /api/orders"),
                ("shop-api", "INSERT shop.orders"),
                ("crm-api", "orders.new"),
            ]
        )
        TraceOperation = old.get_model("store", "TraceOperation")
        for row, operations in zip(
            rows, [(post, insert), (post, insert), (post, new)], strict=True
        ):
            for operation in operations:
                TraceOperation.objects.create(trace=row, operation=operation)
        old.get_model("store", "TraceChunk").objects.create(
            trace=rows[0], seq=0, span_count=2, data=OLD_CHUNK
        )
        executor = MigrationExecutor(connection)
    finally:
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert OperationSet.objects.count() == 2
    assert found(operation="INSERT shop.orders") == [TRACE, "t2"]
    assert found(service="crm-api") == ["t3"]
    assert found(service="shop-api", operation="POST /api/orders") == [TRACE, "t2", "t3"]
    assert StoreSource().get_trace(TRACE).spans == OLD_SPANS
    StoredTrace.objects.all().delete()
