"""Query errors in the page's language (explorer/web/query_problems.py): every code the parser
gives has a sentence, translated into Russian, and each error reads in Russian on the page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import translation

from explorer.query import messages
from explorer.query.evaluate import matches
from explorer.query.parser import QueryError, parse
from explorer.traces.model import Trace
from explorer.web import query_problems

# One query per code (and per kind of unsafe pattern and phrase of "expected").
BROKEN = [
    "{ .a = 1 }" * 2000,
    "   ",
    "(" * 40 + "{ }" + ")" * 40,
    '{ .a = "open }',
    "{ duration > 5sec }",
    "{ .a = 1 # }",
    "order.status = stuck > { }",
    "order.status = 2s",
    "order.status > stuck",
    "order.dwell(SUBMITTED) =~ 5",
    "order.dwell(SUBMITTED) > 5",
    "{ status > ok }",
    "{ kind = web }",
    "{ duration > 5 }",
    "{ name = 5 }",
    "{ .a = GET }",
    "{ .a =~ 5 }",
    "{ } | foo() > 1",
    "{ } | count(duration) > 1",
    "{ } | avg() > 1",
    "{ } | avg(name) > 1",
    "{ } | count() =~ 1",
    "{ } | avg(duration) > 1",
    '{ } | count() > "x"',
    "{ foo = 1 }",
    "{ .a = 1e999 }",
    '{ .a = "x\\q" }',
    "{ span.http.response.status_code >= }",
    "{ duration > 2s &&",
    "({ .a = 1 } x",
    "{ .a 1 }",
    "{ .a = 1 } |",
    "}",
    '{ .a =~ "' + "a" * 300 + '" }',
    '{ .a =~ "[" }',
    '{ .a =~ "(\\\\w)\\\\1" }',
    '{ .a =~ ".*a.*a.*b" }',
    '{ .a =~ "(a+)+$" }',
    '{ .a =~ "(a|aa)*b" }',
]


def errors() -> list[QueryError]:
    found = []
    for text in BROKEN:
        with pytest.raises(QueryError) as caught:
            parse(text)
        found.append(caught.value)
    with pytest.raises(QueryError) as caught:
        matches(parse("order.status = stuck"), Trace("", []))
    return [*found, caught.value]


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", str(text)))


def test_every_code_has_a_sentence_with_the_same_parameters():
    assert set(query_problems.SENTENCES) | {"unsafe_pattern"} == set(messages.MESSAGES)
    assert set(query_problems.PATTERN_SENTENCES) == set(messages.PATTERN_MESSAGES)
    assert set(query_problems.EXPECTED_PHRASES) == set(messages.EXPECTED_PHRASES)
    for code, sentence in query_problems.SENTENCES.items():
        assert placeholders(sentence) == placeholders(messages.MESSAGES[code]), code
    for code, sentence in query_problems.PATTERN_SENTENCES.items():
        assert placeholders(sentence) == placeholders(messages.PATTERN_MESSAGES[code]), code


def test_every_sentence_and_phrase_has_a_russian_text():
    words = [
        *query_problems.SENTENCES.values(),
        *query_problems.PATTERN_SENTENCES.values(),
        *query_problems.EXPECTED_PHRASES.values(),
        query_problems.AFTER,
        query_problems.AT_START,
        query_problems.END,
        query_problems.OR,
        query_problems.QUOTED,
    ]
    with translation.override("ru"):
        untranslated = [str(w) for w in words if not re.search("[а-яё]", str(w), re.I)]
    assert untranslated == [
        "'{'",
        "'}'",
        "'('",
        "')'",
        "'&&'",
        "'||'",
        "'|'",
        "'>>'",
        "'>'",
        "«%(text)s»",
    ]


def test_each_error_reads_in_english_as_the_command_says_it_and_in_russian():
    found = errors()
    codes = {e.code for e in found} | {e.params.get("reason") for e in found}
    assert set(messages.MESSAGES) <= codes and set(messages.PATTERN_MESSAGES) <= codes
    phrases = {p for e in found if e.code == "expected" for p in e.params["wanted"].split(",")}
    assert {"value", "field", "aggregate", "comparison", "order_condition", "rpar"} <= phrases
    for error in found:
        with translation.override("en"):
            assert query_problems.said(error) == error.message
        with translation.override("ru"):
            russian = query_problems.said(error)
        assert russian != error.message and re.search("[а-яё]", russian, re.I), error.message


def test_the_typed_text_stays_as_typed_in_russian():
    with pytest.raises(QueryError) as caught:
        parse('{ .a = "x\\ж" }')
    with translation.override("ru"):
        assert query_problems.said(caught.value) == (
            "неизвестная escape-последовательность «\\ж» в строке"
        )


def test_the_russian_page_says_the_error_in_russian(client, login_as):
    login_as("support")
    response = client.get(
        reverse("web:query"), {"q": "{ duration > 5 }"}, headers={"accept-language": "ru"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "duration compares with" not in page  # the English text
    with translation.override("ru"):
        assert str(query_problems.SENTENCES["duration_needs_duration"]) in page
