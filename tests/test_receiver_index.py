"""The receiver's index mode: beside a Tempo that holds the spans, journeys and the list of
orders come out as from the embedded store, consumer traces without order.id included (found
through the links the index keeps); without the index they would not."""

from __future__ import annotations

import copy
import json

import pytest
from django.db import transaction

from explorer.caching import reset_caches
from explorer.composition import get_source
from explorer.journeys.lookups import order_ids
from explorer.receiver import index
from explorer.receiver.models import IndexedTrace, IndexedValue
from explorer.sources.base import SourceError
from explorer.store.ingest import store_traces
from explorer.traces.model import SpanKind
from tests.backends_support import ReplayServer, tempo_replay
from tests.test_backends_parity import (  # noqa: F401 - `simulated` is a fixture
    comparable,
    differences,
    journey_json,
    simulated,
)
from tests.trace_support import make_span

pytestmark = pytest.mark.django_db


@pytest.fixture
def without_order_on_consumers(simulated):  # noqa: F811 - the imported fixture
    """The simulated traces, but traces started by a message consumer carry no order.id:
    only the link to their producer ties them to an order."""
    traces = copy.deepcopy(simulated)
    stripped = 0
    for trace in traces:
        roots = [s for s in trace.spans if s.parent_id is None]
        if roots and roots[0].kind == SpanKind.CONSUMER:
            for span in trace.spans:
                if span.attributes.pop("order.id", None) is not None:
                    stripped += 1
    assert stripped, "the simulation has consumer traces with order.id to strip"
    return traces


def journeys(order_list: list[str]) -> dict:
    reset_caches()
    return {order: {"journey": journey_json(order)} for order in order_list}


def test_journeys_from_tempo_plus_index_equal_the_store(without_order_on_consumers, settings):
    traces = without_order_on_consumers
    assert store_traces(traces).rejected == []
    with transaction.atomic():
        index.write(traces)
    settings.EXPLORER_BACKENDS = {}
    settings.EXPLORER_DEFAULT_BACKEND = "store"
    orders = order_ids(get_source())
    assert orders
    expected = journeys(orders)
    assert all(j["journey"]["status"] for j in expected.values())

    with ReplayServer(tempo_replay(traces)) as server:
        settings.EXPLORER_BACKENDS = {"tempo": {"kind": "tempo", "url": server.url, "retries": 0}}
        settings.EXPLORER_DEFAULT_BACKEND = "tempo"
        settings.EXPLORER_RECEIVER_MODE = "full"  # no index: Tempo alone
        with pytest.raises(SourceError, match="cannot list orders"):
            order_ids(get_source())
        alone = journeys(orders)
        settings.EXPLORER_RECEIVER_MODE = "index"
        assert order_ids(get_source()) == orders
        found = journeys(orders)
    reset_caches()
    found_text, expected_text = comparable(found, "tempo"), comparable(expected, "tempo")
    assert found_text == expected_text, differences(
        json.loads(found_text), json.loads(expected_text)
    )
    # The index is what made the difference: Tempo alone misses the consumer traces.
    assert comparable(alone, "tempo") != expected_text
    assert sum(len(j["journey"]["traces"]) for j in alone.values()) < sum(
        len(j["journey"]["traces"]) for j in expected.values()
    )


def test_index_is_idempotent_and_merges_pieces(without_order_on_consumers):
    trace = next(t for t in without_order_on_consumers if len(t.spans) > 3)
    first, second = copy.deepcopy(trace), copy.deepcopy(trace)
    half = len(trace.spans) // 2
    first.spans, second.spans = trace.spans[half:], trace.spans[:half]
    for piece in (first, second, second):  # the second piece resent
        with transaction.atomic():
            index.write([piece])
    row = IndexedTrace.objects.get(trace_id=trace.trace_id)
    assert row.start_ns == min(s.start_ns for s in trace.spans)
    assert row.end_ns == max(s.end_ns for s in trace.spans)
    assert row.has_root
    # The resent piece counts once.
    assert row.span_count == len(trace.spans)
    assert row.error_count == sum(s.is_error for s in trace.spans)
    root = next(s for s in trace.spans if s.parent_id is None)
    assert (row.root_service, row.root_name) == (root.service, root.name)
    values = list(IndexedValue.objects.filter(trace_id=trace.trace_id).values_list("key", "value"))
    assert len(values) == len(set(values))
    order = {str(s.attributes["order.id"]) for s in trace.spans if "order.id" in s.attributes}
    assert {v for k, v in values if k == "order.id"} == order


def test_index_marks_orders_changed_own_and_through_links(without_order_on_consumers):
    from explorer.orders.models import OrderArrival

    traces = without_order_on_consumers
    consumer, link = next(
        (t, s.links[0])
        for t in traces
        for s in t.spans
        if s.kind == SpanKind.CONSUMER
        and s.links
        and not any("order.id" in x.attributes for x in t.spans)
    )
    producer_id = link.trace_id
    producer = next(t for t in traces if t.trace_id == producer_id)
    order = next(
        str(s.attributes["order.id"]) for s in producer.spans if "order.id" in s.attributes
    )
    with transaction.atomic():
        index.write([producer])
    OrderArrival.objects.all().update(pending=False)
    with transaction.atomic():
        index.write([consumer])  # no order.id of its own
    assert list(OrderArrival.objects.filter(pending=True).values_list("order_id", flat=True)) == [
        order
    ]


def test_a_later_piece_without_the_order_id_marks_its_order(without_order_on_consumers):
    from explorer.orders.models import OrderArrival

    trace = next(
        t
        for t in without_order_on_consumers
        if len(t.spans) > 2 and "order.id" in t.spans[0].attributes
    )
    named = copy.deepcopy(trace)
    named.spans = named.spans[:1]
    later = copy.deepcopy(trace)
    later.spans = later.spans[1:]
    for span in later.spans:
        span.attributes.pop("order.id", None)
    order = str(named.spans[0].attributes["order.id"])
    with transaction.atomic():
        index.write([named])
    OrderArrival.objects.all().update(pending=False)
    with transaction.atomic():
        index.write([later])  # e.g. the last state event, in a span without order.id
    pending = OrderArrival.objects.filter(pending=True).values_list("order_id", flat=True)
    assert list(pending) == [order]
    values = IndexedValue.objects.filter(trace_id=trace.trace_id).values_list("key", "value")
    assert len(values) == len(set(values))  # the piece added no value twice


@pytest.mark.django_db(transaction=True)
def test_migration_0003_gives_each_stored_trace_its_values():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("receiver", "0002_span_keys")])
    try:
        old = executor.loader.project_state([("receiver", "0002_span_keys")]).apps
        fields = {"start_ns": 1, "end_ns": 2, "span_count": 1, "error_count": 0}
        for trace_id in ("t1", "t2"):
            old.get_model("receiver", "IndexedTrace").objects.create(trace_id=trace_id, **fields)
        old.get_model("receiver", "IndexedValue").objects.bulk_create(
            old.get_model("receiver", "IndexedValue")(trace_id="t1", key=key, value=value)
            for key, value in [("order.id", "A-1"), ("link.trace_id", "t2")]
        )
        executor = MigrationExecutor(connection)
    finally:
        executor.migrate(executor.loader.graph.leaf_nodes())
    values = dict(IndexedTrace.objects.values_list("trace_id", "values"))
    assert values == {"t1": [["link.trace_id", "t2"], ["order.id", "A-1"]], "t2": []}


def test_nul_characters_are_kept_out_of_the_index(without_order_on_consumers):
    # PostgreSQL refuses NUL in text and JSON: the index stores U+FFFD instead, as the store.
    from explorer.traces.model import Resource

    trace = copy.deepcopy(next(t for t in without_order_on_consumers if len(t.spans) > 1))
    bad = Resource("shop\x00api", {"service.name": "shop\x00api"})
    for span in trace.spans:
        span.resource = bad
        span.name = "take\x00order"
    trace.spans[0].attributes["order.id"] = "A\x00-1"
    with transaction.atomic():
        index.write([trace])
    row = IndexedTrace.objects.get(trace_id=trace.trace_id)
    assert row.services == ["shop\ufffdapi"]
    assert (row.root_service, row.root_name) == ("shop\ufffdapi", "take\ufffdorder")
    assert row.attributes["order.id"] == "A\ufffd-1"
    assert ["order.id", "A\ufffd-1"] in row.values
    assert IndexedValue.objects.filter(trace_id=trace.trace_id, value="A\ufffd-1").exists()


def test_pieces_take_one_facts_per_trace():
    """Both decoders give one IndexFacts per trace id; two would make two rows of one trace."""
    from explorer.receiver.facts import index_facts
    from explorer.traces.model import Resource, Trace

    shop = Resource("shop-api", {"service.name": "shop-api"})
    span = make_span(
        "1" * 16,
        trace_id="ab" * 16,
        name="op",
        kind=SpanKind.SERVER,
        start_ns=0,
        end_ns=1,
        resource=shop,
    )
    trace = Trace("ab" * 16, [span])
    found = index_facts([trace], ("order.id",))
    assert [piece.row.span_count for piece in index.pieces_of(found)] == [1]
    with pytest.raises(ValueError, match="one IndexFacts per trace id"):
        index.pieces_of(found + found)
