"""What is wrong with a query, said so that any language can say it.

The parser is framework-free and translates nothing: a QueryError's message is English (what
`manage.py query` prints), and it also carries a code and parameters that are data (the text as
typed, numbers, operators, codes of phrases), never words, so the web layer can say the same in
the page's language (explorer.web.query_problems, which has a sentence for every code here).

MESSAGES: code -> English sentence, its parameters as %(name)s. Two codes are composed:
`expected` (EXPECTED_PHRASES joined, after the token before or at the start, and what was
found: a token or, when `found` is empty, the end of the query) and `unsafe_pattern` (one of
the PATTERN_MESSAGES: `reason`, with its own parameters).
"""

from __future__ import annotations

MESSAGES = {
    "too_long": "the query is %(length)s characters long, more than the limit of %(limit)s",
    "empty": "the query is empty; write a spanset such as { status = error }",
    "too_deep": "brackets are nested more than %(limit)s levels deep",
    "unclosed_string": "this string has no closing quote",
    "not_a_number": (
        "cannot read '%(word)s' as a number or a duration "
        "(durations end in ns, us, µs, ms, s, m, h or d)"
    ),
    "unexpected_character": "unexpected character '%(char)s'",
    "order_in_structure": (
        "an order condition cannot be an operand of '%(op)s': it is not a set of spans; "
        "combine it with && or ||"
    ),
    "order_not_duration": "order.%(name)s is not a duration; only dwell() is",
    "ordering_needs_number": "'%(op)s' compares numbers; '%(value)s' is not one",
    "dwell_operator": "order.dwell() compares durations; '%(op)s' does not",
    "dwell_needs_duration": "order.dwell() compares with a duration such as 1d or 30m",
    "equality_only": "%(what)s compares with = or != only",
    "one_of": "%(what)s is one of %(words)s (without quotes)",
    "duration_needs_duration": "duration compares with a duration such as 2s or 150ms",
    "name_needs_string": 'name compares with a string in quotes, e.g. "GET /"',
    "not_a_value": (
        "'%(word)s' is not a value: put text in quotes (\"%(word)s\"); "
        "other values are numbers, durations, true, false and nil"
    ),
    "pattern_needs_quotes": "'%(op)s' needs a pattern in quotes",
    "unknown_aggregate": "unknown aggregate '%(name)s': use count(), avg(), min(), max() or sum()",
    "count_takes_no_field": "count() takes no field",
    "aggregate_needs_field": "%(function)s() needs a field",
    "aggregate_field": "%(function)s() needs duration or a numeric attribute",
    "aggregate_operator": "an aggregate compares with numbers; '%(op)s' does not",
    "aggregate_duration": "a duration aggregate compares with a duration such as 2s",
    "aggregate_number": "%(function)s() compares with a number",
    "unknown_field": (
        "unknown field '%(name)s': intrinsics are name, status, kind and duration; "
        "attributes start with '.', 'span.' or 'resource.'"
    ),
    "number_too_large": "the number %(number)s is too large",
    "unknown_escape": "unknown escape '\\%(escape)s' in a string",
    "needs_orders": (
        "%(condition)s is an order condition: it needs the orders service, which this "
        "evaluation was not given"
    ),
    "expected": "expected %(wanted)s %(where)s, found %(found)s",
    "unsafe_pattern": "%(reason)s",
}

# The parts of `expected`, English.
EXPECTED_PHRASES = {
    "value": "a value",
    "field": "a field such as span.http.route, name, status, kind or duration",
    "aggregate": "an aggregate such as count() or avg(duration)",
    "name": "a name",
    "comparison": "a comparison such as '=' or '>'",
    "lbrace": "'{'",
    "rbrace": "'}'",
    "lpar": "'('",
    "rpar": "')'",
    "and": "'&&'",
    "or": "'||'",
    "pipe": "'|'",
    "descendant": "'>>'",
    "child": "'>'",
    "order_condition": "an order condition",
    "something_else": "something else",
}
AFTER = "after '%(previous)s'"
AT_START = "at the start of the query"
END = "the end of the query"
OR = "or"
QUOTED = "'%(text)s'"  # the token found

PATTERN_MESSAGES = {
    "pattern_too_long": "the pattern is %(length)s characters long, more than %(limit)s",
    "pattern_invalid": "invalid regular expression: %(detail)s",
    "pattern_backreference": "back-references are not allowed in patterns",
    "pattern_quantifiers": (
        "the pattern has %(count)s quantifiers such as * or +, more than %(limit)s; "
        "matching could take n^%(count)s steps"
    ),
    "pattern_nested": (
        "nested quantifiers such as (a+)+ are not allowed: they can take exponential time"
    ),
    "pattern_alternatives": (
        "alternatives inside a repeated group such as (a|ab)* are not allowed: they can take "
        "exponential time"
    ),
}


def joined(phrases: list[str], word_or: str) -> str:
    """'a', 'a or b', 'a, b or c'."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + f" {word_or} " + phrases[-1]


def english(code: str, params: dict[str, str]) -> str:
    """The English sentence of a code with its parameters."""
    if code == "expected":
        wanted = [EXPECTED_PHRASES[c] for c in params["wanted"].split(",")]
        return MESSAGES[code] % {
            "wanted": joined(wanted, OR),
            "where": AFTER % params if params["previous"] else AT_START,
            "found": QUOTED % {"text": params["found"]} if params["found"] else END,
        }
    if code == "unsafe_pattern":
        return PATTERN_MESSAGES[params["reason"]] % params
    return MESSAGES[code] % params
