from explorer.traces.model import Resource, SpanKind, Trace
from tests.trace_support import make_span


def test_roots_include_orphans_whose_parent_is_absent():
    trace = Trace("t1", [make_span("a"), make_span("b", "a"), make_span("c", "missing")])
    assert [s.span_id for s in trace.roots()] == ["a", "c"]


def test_lookup_finds_business_attribute_on_span_or_resource():
    span = make_span("a", attributes={"order.id": "A-1"})
    other = make_span(
        "b",
        "a",
        name="x",
        kind=SpanKind.SERVER,
        start_ns=1,
        end_ns=2,
        resource=Resource("r", {"customer.type": "vip"}),
        error=True,
    )
    trace = Trace("t1", [span, other])
    assert trace.lookup("order.id") == "A-1"
    assert trace.lookup("customer.type") == "vip"
    assert trace.lookup("nothing", "-") == "-"
    assert other.is_error and not span.is_error
    assert trace.start_ns == 0 and trace.end_ns == 10 and trace.services == {"svc", "r"}
