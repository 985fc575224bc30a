"""explorer.store.removal: a trace removed whole (summary, chunks, attribute and operation
rows), the others untouched; the operations catalogue loses only unused names asked for."""

import pytest

from explorer.sources.base import TraceQuery
from explorer.store.ingest import store_traces
from explorer.store.models import Operation, OperationSet, StoredTrace, TraceAttribute, TraceChunk
from explorer.store.removal import delete_traces, forget_operations
from explorer.store.source import StoreSource
from explorer.traces.model import Trace
from tests.trace_support import make_span


def trace(trace_id: str, name: str, order: str) -> Trace:
    spans = [
        make_span(
            f"{trace_id[:2]}{i}",
            None if i == 0 else f"{trace_id[:2]}0",
            trace_id=trace_id,
            name=name,
            attributes={"order.id": order},
        )
        for i in range(3)
    ]
    return Trace(trace_id, spans)


@pytest.mark.django_db
def test_delete_traces_removes_every_row_of_those_traces_only():
    gone, kept = "aa" * 16, "bb" * 16
    store_traces([trace(gone, "GET /customers/C-00241", "A-1"), trace(kept, "GET /", "A-2")])
    assert delete_traces([gone, "cc" * 16, gone]) == 1  # unknown and repeated ids ignored
    assert list(StoredTrace.objects.values_list("trace_id", flat=True)) == [kept]
    for child in (TraceChunk, TraceAttribute):
        assert set(child.objects.values_list("trace__trace_id", flat=True)) == {kept}
    assert OperationSet.objects.count() == 2  # sets stay: few, and shared by many traces
    assert len(StoreSource().get_trace(kept).spans) == 3
    assert delete_traces([]) == 0
    assert forget_operations("C-00241") == 1
    assert forget_operations("GET /") == 0  # still run by a stored trace
    assert list(Operation.objects.values_list("name", flat=True)) == ["GET /"]
    assert OperationSet.objects.count() == 1  # the forgotten operation's set went with it
    assert StoreSource().search(TraceQuery(operation="GET /")) != []
