"""Journeys on data as real systems write it: consumers linked to producers of other orders in
shared traces, generic span names ("HTTP POST") for different actions, and a carrier's webhook
batch shared by several orders. All data is written here."""

from __future__ import annotations

import pytest

from explorer.journeys.anomalies import Baseline, operation_of
from explorer.journeys.assembly import assemble, journey_for_order, own_anomalies
from explorer.sources.memory import MemorySource
from explorer.traces.model import Link, SpanKind, Trace
from tests.journey_support import T0, S, resource
from tests.trace_support import span_factory

BUSINESS = ["order.id", "customer.id", "customer.type"]
MS = S // 1000
INTERNAL = SpanKind.INTERNAL


span = span_factory(T0, MS, resource=resource("mes-api"))  # times in ms after T0


def source(*traces):
    return MemorySource(list(traces), business_keys=BUSINESS)


# --- linked consumers ---------------------------------------------------------------------


def shared_batch():
    """One trace publishing for two orders: the producer carries B's order.id; A has a step."""
    return Trace(
        "batch",
        [
            span(
                "root",
                None,
                0,
                trace_id="batch",
                name="nightly batch",
                duration=100,
                kind=SpanKind.SERVER,
            ),
            span(
                "a-step",
                "root",
                1,
                trace_id="batch",
                name="repack",
                duration=10,
                attributes={"order.id": "A"},
            ),
            span(
                "b-send",
                "root",
                20,
                trace_id="batch",
                name="orders publish",
                duration=5,
                kind=SpanKind.PRODUCER,
                attributes={"order.id": "B", "messaging.destination.name": "orders"},
            ),
        ],
    )


def consumer(trace_id, producer_trace, producer_span):
    return Trace(
        trace_id,
        [
            span(
                f"{trace_id}-c",
                None,
                200,
                trace_id=trace_id,
                name="orders process",
                duration=30,
                resource=resource("crm-api"),
                kind=SpanKind.CONSUMER,
                links=[Link(producer_trace, producer_span)],
            ),
            span(
                f"{trace_id}-db",
                f"{trace_id}-c",
                205,
                trace_id=trace_id,
                name="UPDATE orders",
                duration=10,
                resource=resource("crm-api"),
            ),
        ],
    )


def test_a_consumer_joins_only_the_order_of_the_producer_it_links_to():
    src = source(shared_batch(), consumer("cons", "batch", "b-send"))
    a = journey_for_order(src, "A")
    b = journey_for_order(src, "B")
    assert "cons" not in a.trace_ids  # the producer merely shares a trace with order A
    assert {s.span_id for s in b.spans} >= {"cons-c", "cons-db", "b-send"}
    assert {s.span_id for s in a.spans} == {"root", "a-step"}


def test_a_consumer_joins_through_a_producer_whose_ancestor_has_the_order():
    producer_trace = Trace(
        "p",
        [
            span(
                "srv",
                None,
                0,
                trace_id="p",
                name="POST /orders/{id}/submit",
                duration=50,
                kind=SpanKind.SERVER,
                attributes={"order.id": "A"},
            ),
            span(
                "pub",
                "srv",
                10,
                trace_id="p",
                name="orders publish",
                duration=5,
                kind=SpanKind.PRODUCER,
            ),
        ],
    )
    journey = journey_for_order(source(producer_trace, consumer("cons", "p", "pub")), "A")
    assert "cons" in journey.trace_ids
    assert {s.span_id for s in journey.spans} == {"srv", "pub", "cons-c", "cons-db"}


def test_consumers_of_consumers_follow_the_chain():
    producer_trace = Trace(
        "p",
        [
            span(
                "pub",
                None,
                0,
                trace_id="p",
                name="orders publish",
                duration=5,
                kind=SpanKind.PRODUCER,
                attributes={"order.id": "A"},
            )
        ],
    )
    first = consumer("c1", "p", "pub")
    second = consumer("c2", "c1", "c1-db")
    unrelated = consumer("c3", "elsewhere", "x")
    journey = assemble("A", [producer_trace, first, second, unrelated])
    assert journey.trace_ids == ["p", "c1", "c2"]


# --- operation identity -------------------------------------------------------------------


def http_post(n, route, duration_ms):
    return span(
        "s",
        None,
        n,
        trace_id=f"t{route}{n}",
        name="HTTP POST",
        duration=duration_ms,
        resource=resource("shop"),
        kind=SpanKind.CLIENT,
        attributes={"http.request.method": "POST", "http.route": route},
    )


def test_an_http_post_is_named_by_its_route():
    assert operation_of(http_post(0, "/cart", 1)) == "POST /cart"


@pytest.mark.parametrize(
    ("name", "kind", "attributes", "operation"),
    [
        ("GET", INTERNAL, {"http.method": "GET", "url.template": "/items/{id}"}, "GET /items/{id}"),
        (
            "SELECT",
            INTERNAL,
            {"db.operation.name": "SELECT", "db.collection.name": "orders"},
            "SELECT orders",
        ),
        (
            "postgresql",
            INTERNAL,
            {"db.system": "postgresql", "db.operation": "INSERT", "db.sql.table": "items"},
            "INSERT items",
        ),
        (
            "publish",
            SpanKind.PRODUCER,
            {"messaging.destination.name": "orders.submitted"},
            "orders.submitted publish",
        ),
        # a specific name stays, and a generic one without attributes too
        ("POST /api/orders", INTERNAL, {"http.route": "/api/orders"}, "POST /api/orders"),
        ("HTTP POST", INTERNAL, {}, "HTTP POST"),
    ],
)
def test_generic_span_names_get_a_stable_operation_identity(name, kind, attributes, operation):
    built = span(
        "s", None, 0, trace_id="t", name=name, kind=kind, attributes=attributes, duration=1
    )
    assert operation_of(built) == operation


def test_baselines_of_one_generic_name_are_split_by_route():
    samples = [http_post(n, "/cart", 10) for n in range(30)]
    samples += [http_post(n, "/checkout", 400 + n) for n in range(30)]
    baseline = Baseline.from_spans(("shop", s) for s in samples)
    assert {op for _, op in baseline.stats} == {"POST /cart", "POST /checkout"}
    clean_checkout = http_post(99, "/checkout", 420)
    slow_cart = http_post(98, "/cart", 400)
    found = baseline.anomalies([("shop", clean_checkout), ("shop", slow_cart)])
    assert [(a.span_id, a.trace_id, a.operation) for a in found] == [
        ("s", slow_cart.trace_id, "POST /cart")
    ]


# --- a slow span shared by several orders ------------------------------------------------


def webhook_batch(slow_order):
    spans = [
        span(
            "batch",
            None,
            0,
            trace_id="hook",
            name="carrier webhook",
            duration=900,
            resource=resource("crm-api"),
            kind=SpanKind.SERVER,
        )
    ]
    for n, order in enumerate("AB"):
        spans.append(
            span(
                f"close-{order}",
                "batch",
                1 + n,
                trace_id="hook",
                name="close order",
                duration=800 if order == slow_order else 20,
                resource=resource("crm-api"),
                attributes={"order.id": order},
            )
        )
    return Trace("hook", spans)


def test_a_slow_shared_span_is_attributed_to_the_order_whose_own_spans_are_slow():
    history = []
    for n in range(30):  # the usual: a quick webhook, quick closes
        history += [
            (
                "crm_api",
                span(
                    "b",
                    None,
                    n,
                    trace_id=f"h{n}",
                    name="carrier webhook",
                    duration=60,
                    kind=SpanKind.SERVER,
                ),
            ),
            (
                "crm_api",
                span("c", "b", n, trace_id=f"h{n}", name="close order", duration=20 + n % 3),
            ),
        ]
    baseline = Baseline.from_spans(history)
    batch = webhook_batch(slow_order="A")
    anomalous = {}
    for order in "AB":
        journey = assemble(order, [batch])
        assert ("hook", "batch") in journey.shared
        found = own_anomalies(
            journey, baseline.anomalies((journey.container(s), s) for s in journey.spans)
        )
        anomalous[order] = {a.span_id for a in found}
    assert anomalous == {"A": {"batch", "close-A"}, "B": set()}


def test_a_slow_span_of_a_trace_of_one_order_is_not_shared():
    trace = Trace(
        "t",
        [
            span(
                "root",
                None,
                0,
                trace_id="t",
                name="carrier webhook",
                duration=900,
                kind=SpanKind.SERVER,
            ),
            span(
                "c",
                "root",
                1,
                trace_id="t",
                name="close order",
                duration=20,
                attributes={"order.id": "A"},
            ),
        ],
    )
    journey = assemble("A", [trace])
    assert journey.shared == set()
