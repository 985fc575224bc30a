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
