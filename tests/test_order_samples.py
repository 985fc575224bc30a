"""Typical-journey samples kept with the order-status rows (explorer.orders.samples): a reference
computed for an old order's time takes the sampled orders' samples from there, and equals the
one computed from their traces; an order whose traces received spans since is read again."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.erasure.finding import find_customer
from explorer.erasure.forgetting import forget_customer
from explorer.journeys.typical import OrderSample
from explorer.orders.arrivals import collect_arrivals
from explorer.orders.live import refresh_changed_orders
from explorer.orders.models import OrderArrival, OrderStatus
from explorer.orders.retention import forget_samples_before
from explorer.orders.samples import current_samples
from explorer.orders.service import judge_order, judge_states_of_orders, now_in, now_policy
from explorer.sources.memory import MemorySource
from explorer.store.ingest import store_traces
from explorer.store.models import unpack_json
from explorer.traces.model import SpanKind, Trace
from explorer.traces.vocabulary import CUSTOMER_KEY, CUSTOMER_TYPE_KEY, ORDER_KEY
from tests.test_figure_baselines import SIMULATION
from tests.test_journey_baselines import CountingSource
from tests.trace_support import make_span, resource

HOUR_NS = 3600 * 10**9


@pytest.fixture(scope="module")
def simulated(simulation):
    return simulation(**SIMULATION).traces()  # the same run as test_figure_baselines


@pytest.fixture
def refreshed(db, simulated):
    store_traces(simulated)
    call_command("orders", "--refresh", stdout=io.StringIO())
    return simulated


def judged(order_id: str, at_ns: int, stored: bool, source=None):
    """The order's report at `at_ns`, two hours before the newest span: the stored reference
    (of the newest span) does not serve, so one is computed for it."""
    return judge_order(
        source or get_source(),
        order_id,
        explorer_config(),
        now_policy(at_ns),
        use_stored_reference=stored,
    )


def facts(report) -> tuple:
    """All a report says, but whether a stored reference (not used here) was outdated."""
    said = report.as_dict()
    said["reference"].pop("outdated")
    return said, report.typical_orders, report.typical_calls, report.differences


def an_order_and_its_time() -> tuple[str, int]:
    at = now_in(get_source()) - 2 * HOUR_NS
    last = OrderStatus.objects.filter(last_seen_ns__lt=at).order_by("-last_seen_ns").first()
    return last.order_id, at


def extra_span(order_id: str, after_ns: int) -> Trace:
    """A trace of the order running an operation no other order runs: its sample changes."""
    row = OrderStatus.objects.get(order_id=order_id)
    attributes = {
        ORDER_KEY: order_id,
        CUSTOMER_KEY: row.customer_id,
        CUSTOMER_TYPE_KEY: row.customer_type,
    }
    span = make_span(
        "extra-1",
        trace_id="extra-trace",
        name="POST /api/extra",
        kind=SpanKind.SERVER,
        start_ns=after_ns,
        end_ns=after_ns + 10**6,
        resource=resource("shop-api"),
        attributes=attributes,
    )
    return Trace("extra-trace", [span])


def test_a_reference_from_stored_samples_equals_the_one_from_traces(refreshed):
    order_id, at = an_order_and_its_time()
    reading = CountingSource()
    from_samples = judged(order_id, at, stored=True, source=reading)
    from_traces = judged(order_id, at, stored=False)
    assert from_samples.typical_orders and from_samples.reference.stored_at is None
    assert facts(from_samples) == facts(from_traces)
    # No sampled order's trace was read: only the order's own journey.
    (own,) = judge_states_of_orders(get_source(), [order_id], explorer_config())
    assert set(reading.read) <= set(own.journey.trace_ids)


def test_every_stored_sample_is_the_one_its_traces_give(refreshed):
    config = explorer_config()
    rows = dict(OrderStatus.objects.values_list("order_id", "sample"))
    assert rows and None not in rows.values()
    for judged_states in judge_states_of_orders(get_source(), list(rows), config):
        sample = OrderSample.of(judged_states.journey, judged_states.conformance, config.calls_of)
        assert OrderSample.from_dict(rows[judged_states.order_id]) == sample


def test_an_order_whose_traces_received_spans_is_read_again(refreshed):
    order_id, at = an_order_and_its_time()
    sampled = judged(order_id, at, stored=False).typical_orders[0]
    first_seen = OrderStatus.objects.get(order_id=sampled).first_seen_ns
    store_traces([extra_span(sampled, first_seen + 1)])
    stored = current_samples(get_source())
    assert sampled not in stored([sampled])  # arrived after the newest arrival read
    collect_arrivals(get_source())
    assert OrderArrival.objects.get(order_id=sampled).pending
    assert sampled not in stored([sampled])  # marked, its row not computed again yet
    from_samples = judged(order_id, at, stored=True)
    assert facts(from_samples) == facts(judged(order_id, at, stored=False))
    refresh_changed_orders(get_source(), explorer_config())  # the live worker's step
    again = stored([sampled])[sampled]
    assert ("shop_api", "POST /api/extra") in again.operations


def test_no_sample_is_used_where_nothing_says_it_is_current(refreshed):
    assert current_samples(MemorySource([])) is None
    order_id = OrderStatus.objects.values_list("order_id", flat=True).first()
    OrderStatus.objects.filter(order_id=order_id).update(sample={"order_id": "damaged"})
    assert current_samples(get_source())([order_id]) == {}


def test_erasure_and_retention_take_the_samples_along(refreshed):
    row = OrderStatus.objects.order_by("order_id").first()
    other = OrderStatus.objects.exclude(customer_id=row.customer_id).first()
    named = {**other.sample, "operations": [["shop_api", f"GET /customers/{row.customer_id}"]]}
    OrderStatus.objects.filter(pk=other.pk).update(sample=named)
    done = forget_customer(find_customer(row.customer_id), "asked to be", username="admin")
    assert not OrderStatus.objects.filter(customer_id=row.customer_id).exists()
    assert done.rewritten["order samples"] == 1
    assert OrderStatus.objects.get(pk=other.pk).sample is None
    oldest = OrderStatus.objects.exclude(sample=None).order_by("first_seen_ns").first()
    assert forget_samples_before(oldest.first_seen_ns + 1) >= 1
    assert OrderStatus.objects.get(pk=oldest.pk).sample is None


HOSTILE_SAMPLE = {
    "order_id": "A-<b>\x00'\"",
    "operations": [["shop_api", "GET /заказы/{id}\u202e"], ["x" * 5000, "\U0001f48d"]],
    "dwells": {"INITIATED": 2**63 - 1, "SHIPPED": -(2**63)},
    "complete": False,
    "nested": {"a": [1.5, None, True, {"b": []}]},
}


def raw_sample(order_id: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sample FROM journeys_orderstatus WHERE order_id = %s", [order_id])
        return bytes(cursor.fetchone()[0])


def test_a_sample_is_kept_compressed_and_reads_back_as_written(refreshed):
    row = OrderStatus.objects.order_by("order_id").first()
    packed = raw_sample(row.order_id)
    assert len(packed) * 2 < len(json.dumps(row.sample))  # compressed, not JSON text
    assert unpack_json(packed) == row.sample
    OrderStatus.objects.filter(pk=row.pk).update(sample=HOSTILE_SAMPLE)
    assert OrderStatus.objects.get(pk=row.pk).sample == HOSTILE_SAMPLE
    assert b"<b>" not in raw_sample(row.order_id)


def test_a_damaged_sample_reads_as_none_and_the_order_s_traces_answer(refreshed):
    order_id, at = an_order_and_its_time()
    sampled = judged(order_id, at, stored=False).typical_orders[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE journeys_orderstatus SET sample = %s WHERE order_id = %s",
            [b"\x78\x9cnot zlib", sampled],
        )
    assert OrderStatus.objects.get(order_id=sampled).sample is None
    assert sampled not in current_samples(get_source())([sampled])
    assert facts(judged(order_id, at, stored=True)) == facts(judged(order_id, at, stored=False))


def test_a_sample_json_cannot_hold_is_not_kept():
    assert OrderStatus._storable("sample", {"order_id": "A-\ud800"}) is None
    assert OrderStatus._storable("sample", {"dwells": {"S": 2**64}}) is None
    assert OrderStatus._storable("sample", HOSTILE_SAMPLE) == HOSTILE_SAMPLE
