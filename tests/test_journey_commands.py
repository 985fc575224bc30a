"""The `journey` and `orders` commands over the embedded store."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from explorer.sources.memory import MemorySource
from explorer.store.ingest import store_traces
from explorer.store.source import StoreSource
from tests.journey_support import OrderBuilder, complete_order
from tests.scenario_support import scenario

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def stored():
    orders = [
        complete_order(f"A-{n:03}", offset=n * 900, customer_id=f"C-{n % 3}") for n in range(24)
    ]
    slow = complete_order("A-slow", offset=500, price_seconds=40, customer_id="C-9")
    lost = OrderBuilder("A-lost", customer_id="C-9", customer_type="b2b_partner")
    lost.state("mes-api", "POST /partner/v1/orders", 0, "INITIATED", None)
    lost.state("mes-api", "PUT /partner/v1/orders/{id}/model", 30, "FILE_UPLOADED", "INITIATED")
    lost.state("mes-api", "POST /partner/v1/orders/{id}/submit", 60, "SUBMITTED", "FILE_UPLOADED")
    lost.state("mes-api", "price", 62, "PRICE_CALCULATED", "SUBMITTED")
    lost.produce("mes-api", 63, destination="orders.priced")
    traces = [t for b in [*orders, slow, lost] for t in b.traces]
    assert store_traces(traces).rejected == []
    return traces


def test_journey_json_has_the_documented_fields(stored):
    data = json.loads(run("journey", "A-lost", "--json"))
    assert list(data)[:5] == ["order_id", "customer_id", "customer_type", "status", "state"]
    assert {"traces", "states", "violations", "steps", "anomalies", "summary"} <= set(data)
    assert data["order_id"] == "A-lost" and data["customer_id"] == "C-9"
    assert data["customer_type"] == "b2b_partner"
    assert data["status"] == "lost"  # judged at the newest span in the store, days later
    assert data["states"][0] == {
        "state": "INITIATED",
        "at": "2025-02-19T21:20:00.100000Z",
        "container": "mes_api",
    }
    assert [s["state"] for s in data["states"]][-1] == "PRICE_CALCULATED"
    assert data["violations"] == []
    assert len(data["traces"]) == 5
    assert data["steps"][0]["operation"] == "POST /partner/v1/orders"
    assert data["steps"][0]["start"].endswith("Z")
    assert "never consumed" in data["summary"]["en"]
    assert "так и не было получено" in data["summary"]["ru"]
    assert data["lost_messages"][0]["destination"] == "orders.priced"


def test_journey_flags_the_slow_price_calculation_and_names_containers(stored):
    data = json.loads(run("journey", "A-slow", "--json"))
    assert data["status"] == "complete"
    # The consuming span holds the calculation: both as slow, their scores equal within the
    # baseline's error (docs/journeys.md#baselines-from-the-hourly-figures), in either order.
    price = next(a for a in data["anomalies"] if a["operation"] == "calculate price")
    assert price["container"] == "mes_api"
    assert {a["span_id"] for a in data["anomalies"]} == {"A-slow-s5", "A-slow-s5-c0"}
    assert "MES API took 40 s" in data["summary"]["en"]
    # Judged against the week before the order, not the week before a much later "now".
    later = json.loads(run("journey", "A-slow", "--json", "--now", "2025-06-01T00:00:00Z"))
    assert later["anomalies"] == data["anomalies"]


def test_journey_now_option_and_text_output(stored):
    data = json.loads(run("journey", "A-lost", "--json", "--now", "2025-02-19T21:40:00Z"))
    assert data["status"] == "lost"
    early = json.loads(run("journey", "A-lost", "--json", "--now", "2025-02-19T21:22:00Z"))
    assert early["status"] == "in_progress"  # the message may still be on its way
    text = run("journey", "A-lost")
    assert text.startswith("order A-lost: lost (PRICE_CALCULATED), customer C-9 (b2b_partner)")
    with pytest.raises(CommandError, match="expected an ISO 8601 time"):
        run("journey", "A-lost", "--now", "yesterday")


def test_journey_of_an_unknown_order_is_empty_with_a_warning(stored):
    data = json.loads(run("journey", "A-404", "--json"))
    assert data["traces"] == [] and data["states"] == [] and data["status"] == "in_progress"
    assert data["warnings"] == ["no trace in the source mentions order A-404"]


def test_orders_lists_every_order_and_filters(stored):
    rows = json.loads(run("orders", "--json"))["orders"]
    assert len(rows) == 26
    assert set(rows[0]) == {
        "order_id",
        "status",
        "state",
        "customer_id",
        "customer_type",
        "violations",
        "anomalous",
    }
    by_id = {r["order_id"]: r for r in rows}
    assert by_id["A-lost"]["status"] == "lost" and by_id["A-slow"]["anomalous"]
    assert sum(r["anomalous"] for r in rows) == 1
    lost = json.loads(run("orders", "--status", "lost", "--json"))["orders"]
    assert [r["order_id"] for r in lost] == ["A-lost"]
    anomalous = json.loads(run("orders", "--anomalous", "--json"))["orders"]
    assert [r["order_id"] for r in anomalous] == ["A-slow"]
    customer = json.loads(run("orders", "--customer", "C-9", "--json"))["orders"]
    assert {r["order_id"] for r in customer} == {"A-slow", "A-lost"}
    assert "26 orders" in run("orders")


def test_orders_sees_violations(stored):
    skip = OrderBuilder("A-skip")
    skip.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    skip.state("shop-api", "POST /api/orders/{id}/submit", 10, "SUBMITTED", "INITIATED")
    store_traces(skip.traces)
    rows = json.loads(run("orders", "--json", "--now", "2025-02-19T21:30:00Z"))["orders"]
    row = next(r for r in rows if r["order_id"] == "A-skip")
    assert row["violations"] == [
        {
            "kind": "state_skipped",
            "detail": "INITIATED -> SUBMITTED by shop_api skips FILE_UPLOADED",
        }
    ]
    assert row["status"] == "in_progress"


def test_store_finds_consumer_traces_without_the_order_through_their_links():
    traces = scenario("trace-with-consumer-without-order")
    _, producer, consumer = traces  # INITIATED, the message sent, its consumer without order
    store_traces(traces)
    source = StoreSource()
    assert source.linking_traces(producer.trace_id) == [consumer.trace_id]
    assert source.linking_traces(consumer.trace_id) == []
    assert MemorySource(traces).linking_traces(producer.trace_id) == [consumer.trace_id]
    data = json.loads(run("journey", "A-1", "--json", "--now", "2025-02-20T00:00:00Z"))
    assert consumer.trace_id in data["traces"]
    assert data["states"][-1]["state"] == "PRICE_CALCULATED" and data["status"] == "in_progress"
    # Ingesting the same traces again changes nothing (the link index included).
    store_traces(traces)
    assert source.linking_traces(producer.trace_id) == [consumer.trace_id]
    assert [t.trace_id for t in source.get_traces([consumer.trace_id, "nope"])] == [
        consumer.trace_id
    ]


def test_unknown_source_is_a_clear_error(stored):
    with pytest.raises(CommandError, match="no trace source named 'nope'"):
        run("orders", "--source", "nope")


def test_empty_store_lists_no_orders():
    assert json.loads(run("orders", "--json")) == {"orders": []}
