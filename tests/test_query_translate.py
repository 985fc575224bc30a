"""Queries as text again: round trips, TraceQL for Tempo, Jaeger's search form."""

import json
import random
import re

import pytest

from explorer.query.nodes import (
    Aggregate,
    AggregateFilter,
    Attribute,
    AttributeScope,
    Comparison,
    ConditionAnd,
    ConditionOr,
    Duration,
    Intrinsic,
    Operator,
    OrderCondition,
    OrderDwell,
    Pipeline,
    Query,
    Relation,
    SpanFilter,
    SpansetAnd,
    SpansetOr,
    Structural,
    order_conditions,
)
from explorer.query.parser import parse
from explorer.query.translate import (
    JaegerSearch,
    Untranslatable,
    duration_text,
    to_jaeger,
    to_text,
    to_traceql,
)
from explorer.traces.model import SpanKind, StatusCode

MS = 1_000_000
S = 1_000 * MS

QUERIES = [
    "{ }",
    "{ span.http.response.status_code >= 500 && duration > 2s }",
    '{ resource.service.name = "crm-api" } >> { status = error }',
    '{ .a = "x" || .b = 1 && .c = 2 }',
    '{ (.a = "x" || .b = 1) && .c != 2.5 }',
    '{ span."odd key" = "tab\\there \\"quoted\\" back\\\\slash \\u0001" }',
    "{ name =~ `GET /orders/\\d+` && kind = server && status != ok }",
    "{ .x = nil } && { .y != nil } || { .z = true } && { .w = false }",
    "{ } > { } >> ({ } > { }) && { duration < 1h30m }",
    "({ } | count() > 1) && { } | avg(duration) > 1d | max(span.items) <= 3",
    "{ } | min(.n) = -3 | sum(resource.cost) >= 1e+20",
    "order.status = stuck && order.customer_type = b2b_partner",
    'order.dwell(SUBMITTED) > 1d || order.id = "A-1" || order.vip = true || order.total > 10',
    '{ status = error } && (order.status = stuck || order.note = "two words")',
]


@pytest.mark.parametrize("text", QUERIES)
def test_to_text_round_trips(text):
    query = parse(text)
    written = to_text(query)
    assert parse(written) == query
    assert to_text(parse(written)) == written  # a fixed point: one way to write each query


def test_to_text_is_canonical():
    assert to_text(parse("{.a>=5&&(.b=1||.c=2)}")) == "{ .a >= 5 && (.b = 1 || .c = 2) }"
    assert to_text(parse("(({}))")) == "{ }"
    assert to_text(parse("{ duration > 90000ms }")) == "{ duration > 90s }"
    assert to_text(parse("order.dwell(SUBMITTED) >= 48h")) == "order.dwell(SUBMITTED) >= 2d"
    assert to_text(parse('order.status = "stuck"')) == "order.status = stuck"
    assert to_text(parse('order.status = "true"')) == 'order.status = "true"'


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "0ns"), (1, "1ns"), (1_500, "1500ns"), (2 * S, "2s"), (90 * S, "90s"), (3_600 * S, "1h")],
)
def test_duration_text(ns, text):
    assert duration_text(ns) == text
    assert duration_text(86_400 * S) == "24h"
    assert duration_text(86_400 * S, days=True) == "1d"


@pytest.mark.parametrize("text", [q for q in QUERIES if "order." not in q])
def test_traceql_round_trips_and_has_no_days(text):
    query = parse(text)
    traceql = to_traceql(query)
    assert parse(traceql) == query
    assert re.search(r"[0-9]d\b", traceql) is None  # Tempo's durations stop at hours


def test_traceql_never_mixes_and_with_or_without_brackets():
    # Tempo reads && and || at one precedence, from the left; this language binds && tighter.
    # So no bracket level of the TraceQL may hold both, or Tempo would answer another query.
    for text in [
        "{ .a = 1 || .b = 1 && .c = 1 }",
        "{ .a = 1 && .b = 1 || .c = 1 && .d = 1 }",
        "{ } || { } && { } || { }",
        "{ } && ({ } || { }) && { }",
    ]:
        traceql = to_traceql(parse(text))
        segments = _segments(traceql)
        assert all(not ({"&&", "||"} <= ops) for ops in segments), traceql
    assert to_traceql(parse("{ .a = 1 || .b = 1 && .c = 1 }")) == "{ .a = 1 || (.b = 1 && .c = 1) }"
    assert to_traceql(parse("{ } || { } && { }")) == "{ } || ({ } && { })"


def _segments(text):
    """The sets of && / || operators directly inside each pair of brackets (and at the top)."""
    stack, done, i = [set()], [], 0
    while i < len(text):
        char = text[i]
        if char == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char in "({":
            stack.append(set())
        elif char in ")}":
            done.append(stack.pop())
        elif text[i : i + 2] in ("&&", "||"):
            stack[-1].add(text[i : i + 2])
            i += 1
        i += 1
    return done + stack


def test_traceql_writes_days_as_hours():
    assert to_traceql(parse("{ duration > 1d }")) == "{ duration > 24h }"
    assert to_traceql(parse("{ } | avg(duration) > 2d")) == "{ } | avg(duration) > 48h"


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("order.status = stuck", "order.status = stuck"),
        ('{ } && order.customer_type = "b2b partner"', 'order.customer_type = "b2b partner"'),
        ("{ } || ({ } && order.dwell(SUBMITTED) > 1d)", "order.dwell(SUBMITTED) > 1d"),
        ("order.a = 1 && order.b = 2", "order.a = 1"),  # the first one written
    ],
)
def test_traceql_refuses_order_conditions_naming_the_part(text, part):
    with pytest.raises(Untranslatable) as caught:
        to_traceql(parse(text))
    assert caught.value.part == part
    assert caught.value.reason == "Tempo has no order conditions; the query runs here instead"
    assert str(caught.value) == f"{caught.value.reason}: {part}"


# --- Jaeger --------------------------------------------------------------------------------


def test_jaeger_search_with_every_field():
    search = to_jaeger(
        parse(
            '{ resource.service.name = "crm-api" && name = "POST /orders" && duration >= 2s '
            "&& duration <= 1m && span.http.response.status_code = 500 && .retry = true }"
        )
    )
    assert search == JaegerSearch(
        service="crm-api",
        operation="POST /orders",
        attributes={"http.response.status_code": "500", "retry": "true"},
        min_duration_ns=2 * S,
        max_duration_ns=60 * S,
        exact=False,
    )
    assert search.params() == {
        "service": "crm-api",
        "operation": "POST /orders",
        "tags": json.dumps({"http.response.status_code": "500", "retry": "true"}),
        "minDuration": "2s",
        "maxDuration": "1m",
    }


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ('{ resource.service.name = "a" }', True),
        (
            '{ resource.service.name = "a" && name = "op" && duration >= 1s && duration <= 2s }',
            True,
        ),
        ('{ .service.name = "a" }', False),  # might be a span attribute here, not in Jaeger
        ('{ resource.service.name = "a" && duration > 1s }', False),  # sent as >= 1s
        ('{ resource.service.name = "a" && duration < 1s }', False),
        ('{ resource.service.name = "a" && .order.id = "A-1" }', False),  # process tags, logs
        ('{ resource.service.name = "a" && status = error }', False),  # the error tag
        ('{ resource.service.name = "a" && kind = server }', False),  # the span.kind tag
    ],
)
def test_jaeger_says_when_its_answer_needs_checking(text, exact):
    assert to_jaeger(parse(text)).exact is exact


def test_jaeger_errors_and_kind():
    search = to_jaeger(parse('{ resource.service.name = "a" && status = error && kind = client }'))
    assert search.errors_only and search.attributes == {"span.kind": "client"}
    assert json.loads(search.params()["tags"]) == {"span.kind": "client", "error": "true"}


def test_jaeger_narrows_repeated_duration_bounds():
    search = to_jaeger(
        parse(
            '{ resource.service.name = "a" && duration >= 1s && duration >= 2s '
            "&& duration <= 9s && duration <= 5s }"
        )
    )
    assert (search.min_duration_ns, search.max_duration_ns) == (2 * S, 5 * S)


@pytest.mark.parametrize(
    ("text", "reason", "part"),
    [
        ("{ }", "exactly one service", "{ }"),
        ('{ name = "op" }', "exactly one service", '{ name = "op" }'),
        (
            '{ resource.service.name = "a" && resource.service.name = "b" }',
            "exactly one service",
            '{ resource.service.name = "a" && resource.service.name = "b" }',
        ),
        (
            '{ resource.service.name = "a" && name = "x" && name = "y" }',
            "at most one operation",
            None,
        ),
        (
            '{ resource.service.name = "a" || .x = 1 }',
            "AND only",
            'resource.service.name = "a" || .x = 1',
        ),
        ('{ resource.service.name = "a" && .x != 1 }', "with = only", ".x != 1"),
        ('{ resource.service.name = "a" && .x > 1 }', "with = only", ".x > 1"),
        ('{ resource.service.name = "a" && .x =~ "a.*" }', "with = only", '.x =~ "a.*"'),
        ('{ resource.service.name = "a" && .x = nil }', "with = only", ".x = nil"),
        ('{ resource.service.name = "a" && status = ok }', "only search for errors", "status = ok"),
        ('{ resource.service.name = "a" && .x = 1 && .x = 2 }', "one value per tag", ".x = 2"),
        ('{ resource.service.name = "a" } && { }', "no &&, ||, structure", None),
        ('{ resource.service.name = "a" } > { }', "no &&, ||, structure", None),
        ('{ resource.service.name = "a" } | count() > 1', "no &&, ||, structure", None),
        ("order.status = stuck", "order conditions", "order.status = stuck"),
    ],
)
def test_jaeger_says_why_not(text, reason, part):
    with pytest.raises(Untranslatable) as caught:
        to_jaeger(parse(text))
    assert reason in caught.value.reason
    assert caught.value.part == (part or to_text(parse(text)))


# --- random queries --------------------------------------------------------------------------


def random_query(rng, depth=0):
    """A random spanset expression in the canonical form parse() builds (no `&&` directly
    inside `&&`, no pipeline of a pipeline...), with every kind of node and value."""
    kinds = ["filter", "filter", "order", "dwell"]
    if depth < 3:
        kinds += ["and", "or", "structural", "pipeline"]
    kind = rng.choice(kinds)
    if kind == "filter":
        return SpanFilter(None if rng.random() < 0.1 else random_condition(rng, depth))
    if kind == "order":
        op = rng.choice(list(Operator))
        if op in (Operator.MATCH, Operator.NOT_MATCH):
            value = rng.choice(PATTERNS)
        elif op in (Operator.EQ, Operator.NE):
            value = rng.choice(["stuck", "b2b_partner", "two words", "true", True, 3, -2.5])
        else:
            value = rng.choice([10, -1, 0.25])
        return OrderCondition(rng.choice(["status", "customer_type", "total"]), op, value)
    if kind == "dwell":
        op = rng.choice([o for o in Operator if o not in (Operator.MATCH, Operator.NOT_MATCH)])
        return OrderDwell(rng.choice(["SUBMITTED", "PACKAGING"]), op, random_duration(rng))
    if kind in ("and", "or"):
        node_type = SpansetAnd if kind == "and" else SpansetOr
        operands = []
        while len(operands) < rng.randint(2, 3):
            operand = random_query(rng, depth + 1)
            if not isinstance(operand, node_type):
                operands.append(operand)
        return node_type(tuple(operands))
    if kind == "structural":
        first = random_spans(rng, depth)
        while isinstance(first, Structural):
            first = random_spans(rng, depth)
        steps = tuple(
            (rng.choice(list(Relation)), random_spans(rng, depth)) for _ in range(rng.randint(1, 2))
        )
        return Structural(first, steps)
    source = random_query(rng, depth + 1)
    while isinstance(source, Pipeline):
        source = random_query(rng, depth + 1)
    return Pipeline(source, tuple(random_stage(rng) for _ in range(rng.randint(1, 2))))


def random_spans(rng, depth):
    """An operand of > or >>: anything but an order condition."""
    while True:
        node = random_query(rng, depth + 1)
        if not isinstance(node, OrderCondition | OrderDwell):
            return node


def random_condition(rng, depth):
    if depth < 3 and rng.random() < 0.3:
        node_type = rng.choice([ConditionAnd, ConditionOr])
        operands = []
        while len(operands) < rng.randint(2, 3):
            operand = random_condition(rng, depth + 1)
            if not isinstance(operand, node_type):
                operands.append(operand)
        return node_type(tuple(operands))
    field = rng.choice(FIELDS)
    op = rng.choice(list(Operator))
    if field is Intrinsic.STATUS:
        return Comparison(
            field, rng.choice([Operator.EQ, Operator.NE]), rng.choice(list(StatusCode))
        )
    if field is Intrinsic.KIND:
        return Comparison(field, rng.choice([Operator.EQ, Operator.NE]), rng.choice(list(SpanKind)))
    if op in (Operator.MATCH, Operator.NOT_MATCH):
        return Comparison(field, op, rng.choice(PATTERNS))
    if field is Intrinsic.DURATION:
        return Comparison(field, op, random_duration(rng))
    if field is Intrinsic.NAME:
        return Comparison(field, op, rng.choice(STRINGS))
    values = [*STRINGS, 0, -7, 503, 2.5, -1e-05, 1e20, random_duration(rng)]
    if op in (Operator.EQ, Operator.NE):
        values += [True, False, None]
    return Comparison(field, op, rng.choice(values))


def random_stage(rng):
    op = rng.choice([o for o in Operator if o not in (Operator.MATCH, Operator.NOT_MATCH)])
    function = rng.choice(list(Aggregate))
    if function is Aggregate.COUNT:
        return AggregateFilter(function, None, op, rng.randint(0, 9))
    if rng.random() < 0.5:
        return AggregateFilter(function, Intrinsic.DURATION, op, random_duration(rng))
    return AggregateFilter(
        function, Attribute(AttributeScope.SPAN, "items"), op, rng.choice([3, 0.5])
    )


def random_duration(rng):
    return Duration(rng.choice([0, 1, 1_500, 2 * S, 90 * S, 86_400 * S, 36 * 3_600 * S]))


FIELDS = [
    Intrinsic.NAME,
    Intrinsic.STATUS,
    Intrinsic.KIND,
    Intrinsic.DURATION,
    Attribute(AttributeScope.SPAN, "http.response.status_code"),
    Attribute(AttributeScope.RESOURCE, "service.name"),
    Attribute(AttributeScope.ANY, "order.id"),
    Attribute(AttributeScope.SPAN, "odd key"),
    Attribute(AttributeScope.ANY, "x-y/z:w"),
    Attribute(AttributeScope.RESOURCE, 'q"uote\\'),
]
STRINGS = ["", "GET /orders", 'say "hi"', "back\\slash", "line\nbreak\ttab", "\x01", "ünï"]
PATTERNS = ["GET .*", "(?i)post", "a|b", "[0-9]+", "x\\.y", 'quo"te']


@pytest.mark.parametrize("seed", range(20))
def test_random_queries_round_trip_through_text_and_traceql(seed):
    rng = random.Random(seed)
    for _ in range(25):
        query = Query(random_query(rng))
        assert parse(to_text(query)) == query, to_text(query)
        if not order_conditions(query.expression):
            traceql = to_traceql(query)
            assert parse(traceql) == query, traceql
            assert all(not ({"&&", "||"} <= ops) for ops in _segments(traceql)), traceql
