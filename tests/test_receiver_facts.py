"""Index mode's two ways to the facts of a request (explorer.receiver.facts): read straight
from the protobuf message, or through the explorer's parsers. They must agree on every body
the direct way takes; every body it declines goes the general way."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from explorer.c4.mapping import Mapping
from explorer.receiver.decoding import DecodeConfig, decode, decode_request
from explorer.receiver.facts import index_facts, index_facts_of
from explorer.store.hourly_figures import Counting
from explorer.store.prepare import Settings
from explorer.traces.model import Event, Link, Resource, Span, SpanKind
from tests.trace_support import make_span

KEYS = ("order.id", "customer.id", "customer.type")
LIMIT = 64 << 10


def any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        found = AnyValue()
        found.array_value.values.extend(any_value(v) for v in value)
        return found
    return AnyValue(string_value=value)


def key_values(attributes: dict) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def encoded(spans: list[Span]) -> TracesData:
    """The spans as an OTLP message, one resource_spans per resource (in order of first use)."""
    message = TracesData()
    groups: dict[int, object] = {}
    for span in spans:
        group = groups.get(id(span.resource))
        if group is None:
            group = groups[id(span.resource)] = message.resource_spans.add()
            group.resource.attributes.extend(key_values(span.resource.attributes))
            group.scope_spans.add()
        raw = group.scope_spans[0].spans.add(
            trace_id=bytes.fromhex(span.trace_id),
            span_id=bytes.fromhex(span.span_id),
            parent_span_id=bytes.fromhex(span.parent_id or ""),
            name=span.name,
            kind=int(span.kind),
            start_time_unix_nano=span.start_ns,
            end_time_unix_nano=span.end_ns,
        )
        raw.attributes.extend(key_values(span.attributes))
        for event in span.events:
            added = raw.events.add(name=event.name, time_unix_nano=event.time_ns)
            added.attributes.extend(key_values(event.attributes))
        for link in span.links:
            added = raw.links.add(
                trace_id=bytes.fromhex(link.trace_id), span_id=bytes.fromhex(link.span_id)
            )
            added.attributes.extend(key_values(link.attributes))
        raw.status.code = int(span.status_code)
    return message


def general(body: bytes, limit: int = LIMIT) -> list:
    return index_facts(decode(body, "otlp-proto", limit, "test").traces, KEYS)


def direct(body: bytes, limit: int = LIMIT):
    return index_facts_of(body, KEYS, limit)


def test_simulated_alexandrite_in_pieces_gives_the_same_facts_both_ways(simulation):
    traces = simulation(orders=30, days=1, seed=12).traces()
    spans = [span for trace in traces for span in trace.spans]
    # Bodies of 97 spans: traces cut anywhere, roots and children in different bodies.
    bodies = [encoded(spans[i : i + 97]).SerializeToString() for i in range(0, len(spans), 97)]
    assert len(bodies) > 20
    compared = 0
    for body in bodies:
        found = direct(body)
        assert found is not None  # clean data: nothing for the general path
        assert found == general(body)
        compared += sum(f.facts.span_count for f in found)
    assert compared == len(spans)
    with_business = [f for body in bodies for f in direct(body) if f.facts.business]
    with_links = [f for body in bodies for f in direct(body) if f.links]
    without_root = [f for body in bodies for f in direct(body) if not f.has_root]
    assert with_business and with_links and without_root  # the comparison covered them


SHOP = Resource("shop-api", {"service.name": "shop-api"})


def span(span_id: str, parent: str | None = None, **changes) -> Span:
    """A shop-api server span whose ids are its digit repeated (hex, 8 bytes)."""
    fields = {
        "trace_id": "ab" * 16,
        "name": f"op {span_id}",
        "kind": SpanKind.SERVER,
        "start_ns": 1_000 + int(span_id, 16),
        "end_ns": 5_000,
        "resource": SHOP,
    }
    return make_span(span_id * 8, parent * 8 if parent else None, **{**fields, **changes})


def body_of(*spans: Span) -> bytes:
    return encoded(list(spans)).SerializeToString()


def test_what_the_general_path_would_repair_is_repaired_alike():
    # A span ending before it starts ends at its start; a root that arrives later; business
    # values that are not text, on the span or its resource; a key only in an event.
    crm = Resource("crm-api", {"service.name": "crm-api", "customer.type": "retail"})
    cases = [
        [span("1"), span("2", "1", start_ns=9_000, end_ns=10)],
        [span("2", "1"), span("3", "2")],
        [span("1", attributes={"order.id": 42, "customer.id": True, "customer.type": 1.5})],
        [span("1", attributes={"order.id": ["A-1", "A-2"], "customer.id": b"x"})],
        [span("1", resource=crm, attributes={"customer.type": "trade"}), span("2", "1")],
        [span("1", events=[Event("order.id", 1_500, {"order.id": "A-9"})])],
        [span("1", attributes={"order.id": "A-1"}), span("2", "1", attributes={"order.id": "A-2"})],
    ]
    for spans in cases:
        body = body_of(*spans)
        found = direct(body)
        assert found is not None
        assert found == general(body)
    assert direct(body_of(*cases[0]))[0].facts.end_ns == 9_000
    assert not direct(body_of(*cases[1]))[0].has_root
    assert direct(body_of(*cases[2]))[0].facts.business == {
        "order.id": ["42"],
        "customer.id": ["true"],
        "customer.type": ["1.5"],
    }
    assert direct(body_of(*cases[3]))[0].facts.business == {}
    assert direct(body_of(*cases[4]))[0].facts.business == {"customer.type": ["trade", "retail"]}
    assert direct(body_of(*cases[5]))[0].facts.business == {}


def test_a_repeated_key_counts_with_its_last_value_as_the_parsers_have_it():
    message = encoded([span("1")])
    raw = message.resource_spans[0].scope_spans[0].spans[0]
    raw.attributes.extend(key_values({"order.id": "A-1"}) + key_values({"order.id": ["x"]}))
    body = message.SerializeToString()
    assert direct(body) == general(body)
    assert direct(body)[0].facts.business == {}


def broken(change) -> bytes:
    message = encoded([span("1", links=[]), span("2", "1")])
    change(message.resource_spans[0].scope_spans[0].spans[1])
    return message.SerializeToString()


def set_field(name: str, value: object):
    return lambda raw: setattr(raw, name, value)


def add_link(trace_id: bytes, span_id: bytes):
    return lambda raw: raw.links.add(trace_id=trace_id, span_id=span_id)


def nest_order_id(depth: int):
    """The span's order.id an array in an array ... `depth` times (made in place: copying a
    message that deep would parse it)."""

    def change(raw) -> None:
        inner = raw.attributes.add(key="order.id").value
        for _ in range(depth):
            inner = inner.array_value.values.add()
        inner.string_value = "A-1"

    return change


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(broken(set_field("trace_id", b"")), id="empty trace id"),
        pytest.param(broken(set_field("span_id", b"")), id="empty span id"),
        pytest.param(broken(set_field("kind", 9)), id="unknown kind"),
        pytest.param(broken(lambda raw: setattr(raw.status, "code", 7)), id="unknown status"),
        pytest.param(broken(add_link(b"", b"\x01" * 8)), id="link without trace id"),
        pytest.param(broken(add_link(b"\x01" * 16, b"")), id="link without span id"),
        pytest.param(broken(set_field("span_id", bytes.fromhex("1" * 8))), id="same span id twice"),
        pytest.param(body_of(span("1", "2"), span("2", "1")), id="cycle of parents"),
        pytest.param(
            body_of(span("5"), span("1", "2"), span("2", "1")), id="cycle beside a later root"
        ),
        pytest.param(b"\xff\xff not protobuf", id="not protobuf"),
        pytest.param(
            broken(set_field("start_time_unix_nano", 2**64 - 1)), id="start past the store"
        ),
        pytest.param(broken(nest_order_id(40)), id="order id nested 40 deep"),
        pytest.param(broken(nest_order_id(300)), id="order id nested 300 deep"),
    ],
)
def test_what_the_general_path_reports_or_repairs_is_left_to_it(body):
    assert direct(body) is None
    config = DecodeConfig("index", 1 << 20, LIMIT, Settings(KEYS, 1000, 100, 1000))
    try:
        decoded = decode_request(body, None, "otlp-proto", config, "test")
    except Exception as exc:  # noqa: BLE001 - whatever the general path says, both say it
        with pytest.raises(type(exc)):
            decode(body, "otlp-proto", LIMIT, "test")
        return
    assert decoded.facts == general(body)


@pytest.mark.parametrize("where", ["span", "event", "link", "resource"])
def test_an_attribute_over_the_limit_leaves_the_body_to_the_general_path(where):
    big = {"note": "x" * 3_000}
    changes = {
        "span": {"attributes": big},
        "event": {"events": [Event("e", 1_500, big)]},
        "link": {"links": [Link("cd" * 16, "ef" * 8, big)]},
        "resource": {"resource": Resource("shop-api", {"service.name": "shop-api", **big})},
    }[where]
    body = body_of(span("1"), span("2", "1", **changes))
    assert direct(body, limit=2_000) is None
    decoded = decode(body, "otlp-proto", 2_000, "test")
    assert decoded.rejected >= 1 and "2000" in decoded.message
    assert direct(body, limit=4_000) == general(body, limit=4_000)  # under the limit: the same


def _figures(found) -> dict:
    """The hourly figures of these IndexFacts' spans (explorer.store.hourly_figures), as
    comparable values."""
    counting = Counting(Mapping(), None)
    for item in found:
        counting.add(item.trace_id, item.spans, item.facts.business)
    return {
        key: (f.count, f.errors, f.sketch.bins, f.slowest) for key, f in counting.figures().items()
    }


TABLE = {"db.collection.name": "rows"}
QUEUE = {"messaging.destination.name": "q"}


def test_the_fast_path_s_spans_give_the_same_hourly_figures(simulation):
    """The fast path reads a span's attributes only when operation_of() may need them: a
    generic name, or a naming attribute that may repeat the name (as text or not)."""
    traces = simulation(orders=10, days=1, seed=13).traces()
    spans = [s for trace in traces for s in trace.spans]
    named = [
        span("1", name="GET", attributes={"http.route": "/orders/{id}"}),
        span("2", name="INSERT orders", attributes={"db.operation.name": "INSERT orders", **TABLE}),
        span("3", name="report", attributes={"db.system": "report", **TABLE}),
        span("4", name="5", attributes={"db.operation": 5, **TABLE}),
        span("5", name="True", attributes={"messaging.operation": True, **QUEUE}),
        span("6", name="None", attributes={"db.system.name": "postgresql", **TABLE}),
        span("7", name="orders", attributes={"db.system": "postgresql", "x": "orders"}),
    ]
    bodies = [body_of(*spans[i : i + 50]) for i in range(0, len(spans), 50)]
    operations = set()
    for body in [*bodies, body_of(*named)]:
        found = direct(body)
        assert found is not None
        assert _figures(found) == _figures(general(body))
        operations |= {key[3] for key in _figures(found)}
    # Each named span's operation is not its name alone: its attributes had to be read.
    expected = {"GET /orders/{id}", "INSERT orders rows", "5 rows", "q True"}
    assert expected <= operations
