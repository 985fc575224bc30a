"""The query grammar (docs/query.md): every operator, precedence, every error with its
position, and hostile input."""

import time

import pytest

from explorer.query import patterns
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
    Relation,
    SpanFilter,
    SpansetAnd,
    SpansetOr,
    Structural,
)
from explorer.query.parser import DEFAULT_MAX_LENGTH, QueryError, parse
from explorer.traces.model import SpanKind, StatusCode

S = 1_000_000_000


def condition(text):
    """The condition of a one-spanset query."""
    expression = parse(text).expression
    assert isinstance(expression, SpanFilter)
    return expression.condition


def error(text, **limits):
    with pytest.raises(QueryError) as caught:
        parse(text, **limits)
    return caught.value


def spanset(name):
    return SpanFilter(Comparison(Intrinsic.NAME, Operator.EQ, name))


# --- fields and values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "span.http.response.status_code",
            Attribute(AttributeScope.SPAN, "http.response.status_code"),
        ),
        ("resource.service.name", Attribute(AttributeScope.RESOURCE, "service.name")),
        (".order.id", Attribute(AttributeScope.ANY, "order.id")),
        ('span."odd key"', Attribute(AttributeScope.SPAN, "odd key")),
        ("name", Intrinsic.NAME),
    ],
)
def test_fields(text, field):
    assert condition(f'{{ {text} = "x" }}') == Comparison(field, Operator.EQ, "x")


@pytest.mark.parametrize("op", list(Operator))
def test_each_comparison_operator(op):
    value = '"GET .*"' if op in (Operator.MATCH, Operator.NOT_MATCH) else '"GET"'
    assert condition(f"{{ name {op.value} {value} }}") == Comparison(
        Intrinsic.NAME, op, value.strip('"')
    )


def test_comparisons_without_spaces():
    assert condition("{.a>=5&&.b!=1}") == ConditionAnd(
        (
            Comparison(Attribute(AttributeScope.ANY, "a"), Operator.GE, 5),
            Comparison(Attribute(AttributeScope.ANY, "b"), Operator.NE, 1),
        )
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"a \\"b\\" \\\\ \\n \\t \\u00e9"', 'a "b" \\ \n \t é'),
        ("`raw \\d+`", "raw \\d+"),
        ("42", 42),
        ("-3", -3),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("nil", None),
        ("150ms", Duration(150_000_000)),
    ],
)
def test_values(text, value):
    parsed = condition(f"{{ .a = {text} }}")
    assert parsed == Comparison(Attribute(AttributeScope.ANY, "a"), Operator.EQ, value)
    assert type(parsed.value) is type(value)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("5ns", 5),
        ("5us", 5_000),
        ("5µs", 5_000),
        ("5ms", 5_000_000),
        ("2s", 2 * S),
        ("1.5s", 1_500_000_000),
        ("3m", 180 * S),
        ("1h", 3600 * S),
        ("1d", 86_400 * S),
        ("1h30m", 5400 * S),
    ],
)
def test_duration_units(text, ns):
    assert condition(f"{{ duration > {text} }}").value == Duration(ns)


def test_status_and_kind_keywords():
    assert condition("{ status = error }").value is StatusCode.ERROR
    assert condition("{ status != ok }") == Comparison(Intrinsic.STATUS, Operator.NE, StatusCode.OK)
    assert condition("{ status = unset }").value is StatusCode.UNSET
    for word, kind in [
        ("server", SpanKind.SERVER),
        ("client", SpanKind.CLIENT),
        ("producer", SpanKind.PRODUCER),
        ("consumer", SpanKind.CONSUMER),
        ("internal", SpanKind.INTERNAL),
        ("unspecified", SpanKind.UNSPECIFIED),
    ]:
        assert condition(f"{{ kind = {word} }}").value is kind


def test_empty_spanset_selects_everything():
    assert parse("{ }").expression == SpanFilter(None)
    assert parse("{}").expression == SpanFilter(None)


# --- precedence ----------------------------------------------------------------------------


def test_and_binds_tighter_than_or_inside_a_spanset():
    a, b, c = (Comparison(Attribute(AttributeScope.ANY, n), Operator.EQ, 1) for n in "abc")
    assert condition("{ .a = 1 || .b = 1 && .c = 1 }") == ConditionOr((a, ConditionAnd((b, c))))
    assert condition("{ .a = 1 && .b = 1 || .c = 1 }") == ConditionOr((ConditionAnd((a, b)), c))
    assert condition("{ (.a = 1 || .b = 1) && .c = 1 }") == ConditionAnd((ConditionOr((a, b)), c))


def test_and_binds_tighter_than_or_between_spansets():
    a, b, c = spanset("a"), spanset("b"), spanset("c")
    text = '{ name = "a" } || { name = "b" } && { name = "c" }'
    assert parse(text).expression == SpansetOr((a, SpansetAnd((b, c))))
    text = '({ name = "a" } || { name = "b" }) && { name = "c" }'
    assert parse(text).expression == SpansetAnd((SpansetOr((a, b)), c))


def test_structural_binds_tighter_than_and_and_reads_from_the_left():
    a, b, c, d = (spanset(n) for n in "abcd")
    text = '{ name = "a" } > { name = "b" } >> { name = "c" } && { name = "d" }'
    expected = SpansetAnd((Structural(a, ((Relation.CHILD, b), (Relation.DESCENDANT, c))), d))
    assert parse(text).expression == expected
    grouped = '{ name = "a" } >> ({ name = "b" } > { name = "c" })'
    assert parse(grouped).expression == Structural(
        a, ((Relation.DESCENDANT, Structural(b, ((Relation.CHILD, c),))),)
    )


def test_chains_and_redundant_brackets_are_one_node():
    a, b, c = spanset("a"), spanset("b"), spanset("c")
    flat = parse('{ name = "a" } || { name = "b" } || { name = "c" }').expression
    assert flat == SpansetOr((a, b, c))
    assert parse('(({ name = "a" } || ({ name = "b" })) || { name = "c" })').expression == flat


def test_pipeline_is_loosest_and_stages_chain():
    query = parse("{ } && { } | count() > 2 | avg(duration) >= 1s")
    assert query.expression == Pipeline(
        SpansetAnd((SpanFilter(None), SpanFilter(None))),
        (
            AggregateFilter(Aggregate.COUNT, None, Operator.GT, 2),
            AggregateFilter(Aggregate.AVG, Intrinsic.DURATION, Operator.GE, Duration(S)),
        ),
    )


@pytest.mark.parametrize("function", ["min", "max", "sum", "avg"])
def test_aggregates_of_an_attribute(function):
    query = parse(f"{{ }} | {function}(span.items) <= 10")
    assert query.expression == Pipeline(
        SpanFilter(None),
        (
            AggregateFilter(
                Aggregate(function), Attribute(AttributeScope.SPAN, "items"), Operator.LE, 10
            ),
        ),
    )


def test_a_bracketed_pipeline_is_an_operand():
    query = parse("({ } | count() > 1) && { status = error }")
    assert query.expression == SpansetAnd(
        (
            Pipeline(SpanFilter(None), (AggregateFilter(Aggregate.COUNT, None, Operator.GT, 1),)),
            SpanFilter(Comparison(Intrinsic.STATUS, Operator.EQ, StatusCode.ERROR)),
        )
    )


# --- order conditions -------------------------------------------------------------------


def test_order_conditions():
    query = parse(
        "order.status = stuck && order.customer_type = b2b_partner "
        '|| order.dwell(SUBMITTED) > 1d && order.id = "A-1"'
    )
    assert query.expression == SpansetOr(
        (
            SpansetAnd(
                (
                    OrderCondition("status", Operator.EQ, "stuck"),
                    OrderCondition("customer_type", Operator.EQ, "b2b_partner"),
                )
            ),
            SpansetAnd(
                (
                    OrderDwell("SUBMITTED", Operator.GT, Duration(86_400 * S)),
                    OrderCondition("id", Operator.EQ, "A-1"),
                )
            ),
        )
    )
    first, second = query.expression.operands[0].operands
    assert (first.at, second.at) == (0, 24)


def test_order_conditions_combine_with_spansets():
    query = parse('{ resource.service.name = "crm-api" } && order.status = stuck')
    assert query.expression == SpansetAnd(
        (
            SpanFilter(
                Comparison(
                    Attribute(AttributeScope.RESOURCE, "service.name"), Operator.EQ, "crm-api"
                )
            ),
            OrderCondition("status", Operator.EQ, "stuck"),
        )
    )


# --- errors, each with its position ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("{ span.http.response.status_code >= }", "expected a value after '>='", 37),
        ("{ duration > 2s &&", "expected a field such as span.http.route", 19),
        ("{ .a = 1", "expected '}', '&&' or '||' after '1', found the end of the query", 9),
        ("({ .a = 1 } x", "expected ')', '&&', '||', '|', '>>' or '>' after '}', found 'x'", 13),
        ("{ .a 1 }", "expected a comparison such as '=' or '>' after '.a', found '1'", 6),
        ("{ .a = 1 } {", "after '}', found '{'", 12),
        ("{ .a = 1 } |", "expected an aggregate such as count() or avg(duration)", 13),
        ("}", "expected '{', '(' or an order condition at the start of the query", 1),
        ("{ .a = 1 # }", "unexpected character '#'", 10),
        ("{ duration > 5sec }", "cannot read '5sec' as a number or a duration", 14),
        ('{ .a = "open }', "this string has no closing quote", 8),
        ('{ .a = "x\\q" }', "unknown escape '\\q' in a string", 10),
        ("{ foo = 1 }", "unknown field 'foo'", 3),
        ("{ .a = GET }", "'GET' is not a value: put text in quotes", 8),
        ("{ status = bad }", "status is one of ok, error, unset", 12),
        ('{ status = "error" }', "status is one of ok, error, unset", 12),
        ("{ kind = web }", "kind is one of unspecified, internal, server", 10),
        ("{ status > ok }", "status compares with = or != only", 10),
        ("{ duration > 5 }", "duration compares with a duration", 14),
        ("{ name = 5 }", "name compares with a string in quotes", 10),
        ("{ .a =~ 5 }", "'=~' needs a pattern in quotes", 9),
        ('{ .a =~ "[" }', "invalid regular expression", 9),
        ("{ .a > true }", "true compares with = or != only", 6),
        ("{ .a = 1e999 }", "the number 1e999 is too large", 8),
        ("{ } | foo() > 1", "unknown aggregate 'foo'", 7),
        ("{ } | count(duration) > 1", "count() takes no field", 7),
        ("{ } | avg() > 1", "avg() needs a field", 7),
        ("{ } | avg(name) > 1", "avg() needs duration or a numeric attribute", 11),
        ("{ } | count() =~ 1", "an aggregate compares with numbers", 15),
        ("{ } | avg(duration) > 1", "a duration aggregate compares with a duration", 23),
        ('{ } | count() > "x"', "count() compares with a number", 17),
        ("order.status > stuck", "'>' compares numbers", 14),
        ("order.status = 2s", "order.status is not a duration", 16),
        ("order.dwell(SUBMITTED) > 5", "order.dwell() compares with a duration", 26),
        ("order.dwell(SUBMITTED) =~ 5", "order.dwell() compares durations", 24),
        ("order.status = stuck > { }", "an order condition cannot be an operand of '>'", 1),
        ("{ } >> order.status = stuck", "an order condition cannot be an operand of '>>'", 8),
        ("", "the query is empty", 1),
        ("   ", "the query is empty", 1),
    ],
)
def test_errors_point_at_the_position(text, message, column):
    found = error(text)
    assert message in found.message
    assert (found.line, found.column, found.position) == (1, column, column - 1)
    assert str(found) == f"{found.message} at column {column}"


def test_errors_on_a_later_line_give_line_and_column():
    found = error("{ .a = 1 }\n&& { .b = }")
    assert found.message == "expected a value after '=', found '}'"
    assert (found.line, found.column, found.position) == (2, 11, 21)
    assert str(found) == "expected a value after '=', found '}' at line 2, column 11"


# --- hostile input -------------------------------------------------------------------------


def test_a_100_kb_query_is_refused_quickly_at_the_limit():
    text = "{ " + " && ".join(f'.a{i} = "{i}"' for i in range(10_000)) + " }"
    assert len(text) > 100_000
    started = time.perf_counter()
    found = error(text)
    assert time.perf_counter() - started < 0.5
    assert found.message == (
        f"the query is {len(text)} characters long, more than the limit of {DEFAULT_MAX_LENGTH}"
    )
    assert found.position == DEFAULT_MAX_LENGTH
    assert parse("{ .a = 1 }", max_length=10).expression is not None
    assert error("{ .a = 12 }", max_length=10).position == 10


def test_ten_thousand_nested_brackets_are_refused_before_parsing():
    text = "(" * 10_000 + "{ }" + ")" * 10_000
    started = time.perf_counter()
    found = error(text, max_length=len(text))  # past the length limit, to reach the depth check
    assert time.perf_counter() - started < 0.5
    assert found.message == "brackets are nested more than 32 levels deep"
    assert found.column == 33  # the 33rd bracket
    assert isinstance(error(text), QueryError)  # the default limits refuse it on length


def test_depth_limit_counts_braces_and_brackets_but_not_strings():
    ok = "(" * 31 + '{ .a = "((((((((((((((((((((((((((((((((((" }' + ")" * 31
    assert parse(ok).expression is not None
    too_deep = "(" * 31 + "{ (.a = 1) }" + ")" * 31
    assert error(too_deep).column == 34  # "{ (": the 33rd bracket
    assert parse("((({ }) && { }) || { })", max_depth=4).expression is not None
    assert error("((({ }) && { }) || { })", max_depth=3).column == 4


def test_long_flat_chains_parse_without_recursion():
    text = " || ".join(["{ }"] * 500)
    assert len(parse(text).expression.operands) == 500
    chain = " > ".join(["{ }"] * 500)
    assert len(parse(chain).expression.steps) == 499
    inside = "{ " + " && ".join(["(.a = 1 || .b = 2)"] * 150) + " }"
    assert len(condition(inside).operands) == 150


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(a+)+$", "nested quantifiers"),
        ("(x+x+)+y", "nested quantifiers"),
        ("(\\\\d+\\\\.)*", "nested quantifiers"),
        ("(?:a*)*", "nested quantifiers"),
        ("(a|aa)*b", "alternatives inside a repeated group"),
        ("(\\\\w)\\\\1", "back-references"),
        ("(?P<x>a)(?P=x)", "back-references"),
        (".*a.*a.*b", "3 quantifiers"),
        ("a{1,5}b{2,9}c*", "3 quantifiers"),
        ("a" * 300, "300 characters long"),
    ],
)
def test_catastrophic_patterns_are_refused(pattern, reason):
    found = error(f'{{ .a =~ "{pattern}" }}')
    assert reason in found.message
    assert found.column == 9


@pytest.mark.parametrize(
    "pattern",
    [
        "GET .*",
        "(?i)post /orders/[0-9]+",
        "a|b|c",
        "\\\\d{4}-\\\\d{2}-\\\\d{2}",
        "(?:ab)+c?",
        "^x$",
    ],
)
def test_ordinary_patterns_are_accepted(pattern):
    assert condition(f'{{ .a !~ "{pattern}" }}').op is Operator.NOT_MATCH


def test_accepted_patterns_stay_fast_on_long_hostile_values():
    # the worst shape the rules allow: two overlapping quantifiers, on the longest value tested
    regex = patterns.compiled(".*a.*b")
    started = time.perf_counter()
    assert regex.fullmatch("a" * patterns.MAX_SUBJECT_LENGTH) is None
    assert time.perf_counter() - started < 1.0


def test_the_pattern_checker_sees_every_refused_shape():
    # without the check, this would run for hours: the rule, not luck, keeps it out
    with pytest.raises(patterns.UnsafePattern):
        patterns.check("(a+)+$")
    with pytest.raises(patterns.UnsafePattern):
        patterns.check("(?=(a+)+)b")  # inside a lookahead too
    with pytest.raises(patterns.UnsafePattern):
        patterns.check("(?>(a|bc)*)")  # and in an atomic group
    patterns.check("(?=a+)b")


def test_the_examples_in_the_docs_parse():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "query.md").read_text()
    examples = doc.split("## Examples", 1)[1].split("##", 1)[0]
    queries = [
        line.rsplit("| `", 1)[1].rsplit("` |", 1)[0].replace("\\|", "|")
        for line in examples.splitlines()
        if line.endswith("` |")
    ]
    assert len(queries) == 9
    for query in queries:
        assert parse(query).expression is not None, query
