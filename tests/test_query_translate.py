"""Queries as text again: round trips, TraceQL for Tempo, Jaeger's search form."""

import json
import re

import pytest

from explorer.query.parser import parse
from explorer.query.translate import (
    JaegerSearch,
    Untranslatable,
    duration_text,
    to_jaeger,
    to_text,
    to_traceql,
)

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
