"""What is wrong with a query, said in the page's language.

The parser gives each QueryError a code and parameters beside its English text
(explorer/query/messages.py); here the code picks a sentence in the page's language and the
parameters (the text as typed, numbers, operators) fill it, as explorer.web.parse_problems does
for uploads. Every code there has a sentence here (tests/test_query_problems.py)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from explorer.query import messages
from explorer.query.messages import joined
from explorer.query.parser import QueryError

SENTENCES = {
    "too_long": _("the query is %(length)s characters long, more than the limit of %(limit)s"),
    "empty": _("the query is empty; write a spanset such as { status = error }"),
    "too_deep": _("brackets are nested more than %(limit)s levels deep"),
    "unclosed_string": _("this string has no closing quote"),
    "not_a_number": _(
        "cannot read '%(word)s' as a number or a duration "
        "(durations end in ns, us, µs, ms, s, m, h or d)"
    ),
    "unexpected_character": _("unexpected character '%(char)s'"),
    "order_in_structure": _(
        "an order condition cannot be an operand of '%(op)s': it is not a set of spans; "
        "combine it with && or ||"
    ),
    "order_not_duration": _("order.%(name)s is not a duration; only dwell() is"),
    "ordering_needs_number": _("'%(op)s' compares numbers; '%(value)s' is not one"),
    "dwell_operator": _("order.dwell() compares durations; '%(op)s' does not"),
    "dwell_needs_duration": _("order.dwell() compares with a duration such as 1d or 30m"),
    "equality_only": _("%(what)s compares with = or != only"),
    "one_of": _("%(what)s is one of %(words)s (without quotes)"),
    "duration_needs_duration": _("duration compares with a duration such as 2s or 150ms"),
    "name_needs_string": _('name compares with a string in quotes, e.g. "GET /"'),
    "not_a_value": _(
        "'%(word)s' is not a value: put text in quotes (\"%(word)s\"); "
        "other values are numbers, durations, true, false and nil"
    ),
    "pattern_needs_quotes": _("'%(op)s' needs a pattern in quotes"),
    "unknown_aggregate": _(
        "unknown aggregate '%(name)s': use count(), avg(), min(), max() or sum()"
    ),
    "count_takes_no_field": _("count() takes no field"),
    "aggregate_needs_field": _("%(function)s() needs a field"),
    "aggregate_field": _("%(function)s() needs duration or a numeric attribute"),
    "aggregate_operator": _("an aggregate compares with numbers; '%(op)s' does not"),
    "aggregate_duration": _("a duration aggregate compares with a duration such as 2s"),
    "aggregate_number": _("%(function)s() compares with a number"),
    "unknown_field": _(
        "unknown field '%(name)s': intrinsics are name, status, kind and duration; "
        "attributes start with '.', 'span.' or 'resource.'"
    ),
    "number_too_large": _("the number %(number)s is too large"),
    "unknown_escape": _("unknown escape '\\%(escape)s' in a string"),
    "needs_orders": _(
        "%(condition)s is an order condition: it needs the orders service, which this "
        "evaluation was not given"
    ),
    "expected": _("expected %(wanted)s %(where)s, found %(found)s"),
}  # and unsafe_pattern: one of PATTERN_SENTENCES
EXPECTED_PHRASES = {
    # tokens ('{', '&&', '>>' ...) read the same in every language
    **{code: text for code, text in messages.EXPECTED_PHRASES.items() if text[0] == "'"},
    "value": _("a value"),
    "field": _("a field such as span.http.route, name, status, kind or duration"),
    "aggregate": _("an aggregate such as count() or avg(duration)"),
    "name": _("a name"),
    "comparison": _("a comparison such as '=' or '>'"),
    "order_condition": _("an order condition"),
    "something_else": _("something else"),
}
AFTER = _("after '%(previous)s'")
AT_START = _("at the start of the query")
END = _("the end of the query")
OR = _("or")
QUOTED = _("'%(text)s'")  # the token found, as typed
PATTERN_SENTENCES = {
    "pattern_too_long": _("the pattern is %(length)s characters long, more than %(limit)s"),
    # `detail`: Python's own words for what is wrong with the expression, in English.
    "pattern_invalid": _("invalid regular expression: %(detail)s"),
    "pattern_backreference": _("back-references are not allowed in patterns"),
    "pattern_quantifiers": _(
        "the pattern has %(count)s quantifiers such as * or +, more than %(limit)s; "
        "matching could take n^%(count)s steps"
    ),
    "pattern_nested": _(
        "nested quantifiers such as (a+)+ are not allowed: they can take exponential time"
    ),
    "pattern_alternatives": _(
        "alternatives inside a repeated group such as (a|ab)* are not allowed: they can take "
        "exponential time"
    ),
}


def said(error: QueryError) -> str:
    """The error's message in the active language (its English text for a code this module
    does not know, or parameters that no longer fit)."""
    params = dict(error.params)
    try:
        if error.code == "expected":
            wanted = [str(EXPECTED_PHRASES[c]) for c in params["wanted"].split(",")]
            params = {
                "wanted": joined(wanted, str(OR)),
                "where": str(AFTER) % params if params["previous"] else str(AT_START),
                "found": str(QUOTED) % {"text": params["found"]} if params["found"] else str(END),
            }
        elif error.code == "unsafe_pattern":
            return str(PATTERN_SENTENCES[params["reason"]]) % params
        return str(SENTENCES[error.code]) % params
    except (KeyError, TypeError, ValueError):
        return error.message
