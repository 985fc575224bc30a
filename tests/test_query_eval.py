"""The reference evaluation of queries (explorer.query.evaluate), on small traces built with
the one span builder and on simulated Alexandrite traces."""

import pytest

from explorer.query.evaluate import MatchResult, matches
from explorer.query.parser import QueryError, parse
from explorer.traces.model import Resource, SpanKind, Trace
from tests.trace_support import make_span, resource

MS = 1_000_000
S = 1_000 * MS


def shop_trace():
    """shop-api POST /orders (3 s, server) -> crm-api call (2.5 s, client, 503, error)
    -> mes-api span (10 ns, status code as a string, as Zipkin tags carry it); plus an orphan
    whose parent is not in the trace."""
    return Trace(
        "t1",
        [
            make_span(
                "a",
                resource=resource("shop-api"),
                kind=SpanKind.SERVER,
                name="POST /orders",
                end_ns=3 * S,
                attributes={"customer.type": "vip", "items": 3, "retry": False},
            ),
            make_span(
                "b",
                "a",
                resource=Resource("crm-api", {"service.name": "crm-api", "region": "eu"}),
                kind=SpanKind.CLIENT,
                name="GET /customers",
                start_ns=S // 2,
                end_ns=3 * S,
                attributes={"http.response.status_code": 503, "items": 2.5, "region": "us"},
                error=True,
            ),
            make_span(
                "c",
                "b",
                service="mes-api",
                name="price\nquote",
                attributes={"http.response.status_code": "500", "payload": b"x", "tags": [1]},
            ),
            make_span("d", "gone", service="mes-api", name="orphan", end_ns=100 * MS),
        ],
    )


def ids(text, trace=None, **kwargs):
    """The ids of the matched spans, or None when the trace does not match."""
    result = matches(parse(text), trace or shop_trace(), **kwargs)
    return [span.span_id for span in result.spans] if result else None


# --- comparisons and type coercion ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{ span.http.response.status_code = 503 }", ["b"]),
        ("{ span.http.response.status_code != 503 }", ["c"]),
        ("{ span.http.response.status_code > 500 }", ["b"]),
        ("{ span.http.response.status_code >= 500 }", ["b", "c"]),
        ("{ span.http.response.status_code < 503 }", ["c"]),
        ("{ span.http.response.status_code <= 503 }", ["b", "c"]),
        ('{ name =~ "POST .*" }', ["a"]),
        ('{ name !~ "POST .*" }', ["b", "c", "d"]),
    ],
)
def test_each_operator(text, expected):
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a number literal: ints, floats, and strings that spell a number
        ("{ .items = 3 }", ["a"]),
        ("{ .items = 3.0 }", ["a"]),
        ("{ .items > 2.4 }", ["a", "b"]),
        ("{ span.http.response.status_code = 500 }", ["c"]),  # the string "500"
        ("{ span.http.response.status_code = 500.0 }", ["c"]),
        # a string literal: strings only
        ('{ span.http.response.status_code = "503" }', None),
        ('{ span.http.response.status_code = "500" }', ["c"]),
        ('{ .customer.type > "a" }', ["a"]),  # by code point
        # booleans: bool values and the strings "true"/"false"; bools are not numbers
        ("{ .retry = false }", ["a"]),
        ("{ .retry = 0 }", None),
        ("{ .retry != true }", ["a"]),
        # absent, or of another type: false for every operator, != too
        ('{ .customer.type != "retail" }', ["a"]),
        ("{ .payload = 1 }", None),
        ('{ .payload != "y" }', None),
        ("{ .tags != 2 }", None),
        # nil: absent or present
        ("{ .customer.type = nil }", ["b", "c", "d"]),
        ("{ .customer.type != nil }", ["a"]),
        # a duration literal is a number of nanoseconds
        ("{ .items < 1us }", ["a", "b"]),
    ],
)
def test_coercion_rules(text, expected):
    assert ids(text) == expected


def test_bool_strings_and_number_strings():
    trace = Trace("t", [make_span("a", attributes={"flag": "true", "n": " 42 ", "x": "4x"})])
    assert ids("{ .flag = true }", trace) == ["a"]
    assert ids('{ .flag = "true" }', trace) == ["a"]
    assert ids("{ .n = 42 }", trace) == ["a"]
    assert ids("{ .x = 4 }", trace) is None
    assert ids('{ .n = "42" }', trace) is None


def test_scopes():
    # span.x: the span's; resource.x: the resource's; .x: the span's, else the resource's
    assert ids('{ span.region = "us" }') == ["b"]
    assert ids('{ resource.region = "eu" }') == ["b"]
    assert ids('{ .region = "eu" }') is None
    assert ids('{ .region = "us" }') == ["b"]
    assert ids('{ resource.service.name = "crm-api" }') == ["b"]
    # make_span's default resource has no attributes: service.name is its service name
    assert ids('{ resource.service.name = "mes-api" }') == ["c", "d"]
    assert ids('{ .service.name = "mes-api" }') == ["c", "d"]
    assert ids('{ span.service.name = "mes-api" }') is None


def test_intrinsics():
    assert ids("{ status = error }") == ["b"]
    assert ids("{ status != error }") == ["a", "c", "d"]
    assert ids("{ status = unset }") == ["a", "c", "d"]
    assert ids("{ kind = server }") == ["a"]
    assert ids("{ kind = client }") == ["b"]
    assert ids("{ kind != internal }") == ["a", "b"]
    assert ids("{ duration >= 2500ms }") == ["a", "b"]
    assert ids("{ duration > 2500ms }") == ["a"]
    assert ids("{ duration < 1ms }") == ["c"]
    assert ids('{ name = "orphan" }') == ["d"]


def test_regex_is_anchored_and_dot_matches_newlines():
    assert ids('{ name =~ "POST" }') is None
    assert ids('{ name =~ "price.quote" }') == ["c"]
    assert ids('{ name =~ "(?i)post /ORDERS" }') == ["a"]
    # patterns test strings only
    assert ids('{ .items =~ "3" }') is None
    assert ids('{ .items !~ "3" }') is None


def test_regex_skips_values_longer_than_the_limit():
    from explorer.query import patterns

    long = "a" * (patterns.MAX_SUBJECT_LENGTH + 1)
    trace = Trace(
        "t", [make_span("a", attributes={"v": long}), make_span("b", attributes={"v": "a"})]
    )
    assert ids('{ .v =~ "a*" }', trace) == ["b"]
    assert ids('{ .v !~ "b*" }', trace) == ["b"]


def test_conditions_and_or_inside_a_spanset():
    assert ids('{ status = error || name = "orphan" }') == ["b", "d"]
    assert ids('{ kind = client && status = error || name = "orphan" }') == ["b", "d"]
    assert ids('{ kind = client && (status = ok || name = "orphan") }') is None
    assert ids("{ }") == ["a", "b", "c", "d"]


# --- spansets ------------------------------------------------------------------------------


def test_spanset_and_needs_both_and_returns_both():
    assert ids('{ kind = server } && { name = "orphan" }') == ["a", "d"]
    assert ids('{ kind = server } && { name = "nothing" }') is None


def test_spanset_or_returns_those_that_matched():
    assert ids('{ kind = server } || { name = "nothing" }') == ["a"]
    assert ids('{ name = "x" } || { name = "y" }') is None


def test_child_and_descendant():
    assert ids("{ kind = server } > { status = error }") == ["b"]
    assert ids('{ kind = server } > { resource.service.name = "mes-api" }') is None
    assert ids('{ kind = server } >> { resource.service.name = "mes-api" }') == ["c"]
    assert ids("{ } >> { }") == ["b", "c"]  # the orphan has no ancestor in the trace
    assert ids("{ } > { } > { }") == ["c"]
    assert ids('{ name = "orphan" } >> { }') is None
    assert ids('({ kind = server } > { }) && { name = "orphan" }') == ["b", "d"]


def test_descendant_walk_stops_on_a_parent_cycle():
    looped = Trace("t", [make_span("a", "b", name="x"), make_span("b", "a", name="y")])
    assert ids('{ name = "z" } >> { }', looped) is None
    assert ids('{ name = "x" } >> { name = "y" }', looped) == ["b"]


def test_pipelines():
    assert ids("{ } | count() = 4") == ["a", "b", "c", "d"]
    assert ids("{ } | count() > 4") is None
    assert ids("{ duration > 1s } | avg(duration) = 2750ms") == ["a", "b"]
    assert ids("{ } | max(duration) >= 3s | min(duration) < 1us") == ["a", "b", "c", "d"]
    assert ids("{ } | sum(.items) = 5.5") == ["a", "b", "c", "d"]
    assert ids("{ } | avg(span.http.response.status_code) = 501.5") == ["a", "b", "c", "d"]
    assert ids("{ } | min(.nothing) >= 0") is None  # no numeric value at all
    assert ids('({ status = error } | count() > 1) || { name = "orphan" }') == ["d"]


# --- order conditions ----------------------------------------------------------------------


class FakeOrders:
    """Order facts as the orders service will give them, from a dict per order id."""

    def __init__(self, orders):
        self.orders = orders
        self.asked = []

    def value(self, trace, name):
        self.asked.append(name)
        return self.orders.get(trace.trace_id, {}).get(name)

    def dwell_ns(self, trace, state):
        return self.orders.get(trace.trace_id, {}).get("dwell", {}).get(state)


ORDERS = FakeOrders(
    {"t1": {"status": "stuck", "customer_type": "b2b_partner", "dwell": {"SUBMITTED": 90_000 * S}}}
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order.status = stuck", []),
        ("order.status != stuck", None),
        ("order.customer_type = b2b_partner && order.dwell(SUBMITTED) > 1d", []),
        ("order.dwell(SUBMITTED) > 2d", None),
        ("order.dwell(PACKAGING) < 1d", None),  # never in that state: unknown, false
        ('order.status =~ "st.*"', []),
        ("order.nothing = x", None),
        ("{ status = error } && order.status = stuck", ["b"]),
        ("{ status = error } && order.status = closed", None),
        ('{ name = "x" } || order.status = stuck', []),
    ],
)
def test_order_conditions_use_the_order_facts(text, expected):
    assert ids(text, orders=ORDERS) == expected


def test_order_conditions_of_a_trace_without_an_order_are_false():
    other = Trace("t2", [make_span("a", trace_id="t2")])
    assert ids("order.status = stuck", other, orders=ORDERS) is None


def test_order_conditions_without_order_facts_point_at_the_condition():
    with pytest.raises(QueryError) as caught:
        matches(parse("{ }\n&& order.dwell(SUBMITTED) > 1d"), shop_trace())
    found = caught.value
    assert found.message.startswith("order.dwell(SUBMITTED) > 1d is an order condition")
    assert (found.line, found.column) == (2, 4)
    assert matches(parse("{ }"), shop_trace())  # no order condition, no order facts needed


def test_match_result():
    assert not MatchResult(False)
    assert MatchResult(True)
    assert matches(parse("{ kind = server }"), shop_trace()).spans[0].span_id == "a"


# --- on simulated data ---------------------------------------------------------------------


def test_queries_on_simulated_orders_agree_with_plain_python(simulation):
    run = simulation(orders=10, days=1, seed=5)
    traces = run.traces()

    def found(text, **kwargs):
        return {t.trace_id for t in traces if matches(parse(text), t, **kwargs)}

    slow_crm = {
        t.trace_id
        for t in traces
        for s in t.spans
        if s.service == "crm-api" and s.kind == SpanKind.SERVER and s.duration_ns > 10 * MS
    }
    assert found('{ resource.service.name = "crm-api" && kind = server && duration > 10ms }') == (
        slow_crm
    )
    order = next(iter(run.truth["orders"]))
    assert found(f'{{ .order.id = "{order}" }}') == {
        t.trace_id for t in traces if any(s.attributes.get("order.id") == order for s in t.spans)
    }
    shop_to_db = {
        t.trace_id
        for t in traces
        for s in t.spans
        for p in t.spans
        if p.span_id == s.parent_id
        and p.service == "shop-api"
        and s.attributes.get("db.system.name") == "postgresql"
    }
    assert found('{ resource.service.name = "shop-api" } > { .db.system.name = "postgresql" }') == (
        shop_to_db
    )

    class TruthOrders:
        def value(self, trace, name):
            facts = run.truth["orders"].get(trace.lookup("order.id"), {})
            return facts.get(name)

        def dwell_ns(self, trace, state):
            return None

    partners = found("order.customer_type = b2b_partner", orders=TruthOrders())
    assert partners == {
        t.trace_id
        for t in traces
        if run.truth["orders"].get(t.lookup("order.id"), {}).get("customer_type") == "b2b_partner"
    }
    assert slow_crm and shop_to_db and partners  # the data exercises each query
