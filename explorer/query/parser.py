"""parse(text) -> Query, or a QueryError that says what is wrong and where.

Hostile input is refused before lark sees it: a query longer than `max_length` characters
(4 KiB by default), brackets nested deeper than `max_depth` (32), and regular expressions
that could backtrack for long (explorer.query.patterns). Lark's LALR parser keeps its stack in
a list, and the lark tree is turned into nodes by lark's non-recursive transformer, so no
input reaches Python's recursion limit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lark import Token, Transformer_NonRecursive
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from explorer.query import patterns
from explorer.query.grammar import parser
from explorer.query.messages import english
from explorer.query.nodes import (
    EQUALITY,
    ORDERING,
    REGEX,
    Aggregate,
    AggregateFilter,
    Attribute,
    AttributeScope,
    Comparison,
    ConditionAnd,
    ConditionOr,
    Duration,
    Field,
    Intrinsic,
    Operator,
    OrderCondition,
    OrderDwell,
    Pipeline,
    Query,
    Relation,
    SpanCondition,
    SpanFilter,
    SpansetAnd,
    SpansetExpression,
    SpansetOr,
    Structural,
    Value,
)
from explorer.traces.model import SpanKind, StatusCode

DEFAULT_MAX_LENGTH = 4096
DEFAULT_MAX_DEPTH = 32

STATUS_WORDS = {"ok": StatusCode.OK, "error": StatusCode.ERROR, "unset": StatusCode.UNSET}
KIND_WORDS = {
    "unspecified": SpanKind.UNSPECIFIED,
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d)")
_WORD = re.compile(r"[-\w.µ]+")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


class QueryError(ValueError):
    """A query that cannot be parsed or run: `message` says why (in English; `code` and
    `params` say the same in any language, explorer/query/messages.py), `position` (from 0),
    `line` and `column` (from 1) where."""

    def __init__(
        self,
        message: str,
        position: int,
        line: int,
        column: int,
        code: str = "",
        params: dict[str, str] | None = None,
    ):
        super().__init__(message, position, line, column)
        self.message = message
        self.position = position
        self.line = line
        self.column = column
        self.code = code
        self.params = params or {}

    def __str__(self) -> str:
        where = (
            f"column {self.column}" if self.line == 1 else f"line {self.line}, column {self.column}"
        )
        return f"{self.message} at {where}"


def error_at(text: str, position: int, code: str, **params: object) -> QueryError:
    """The error of this code (explorer/query/messages.py) at this position of `text`."""
    position = max(0, min(position, len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    said = {k: str(v) for k, v in params.items()}
    return QueryError(english(code, said), position, line, column, code, said)


def parse(
    text: str, *, max_length: int = DEFAULT_MAX_LENGTH, max_depth: int = DEFAULT_MAX_DEPTH
) -> Query:
    """The query `text` as nodes; QueryError when it is not one (or breaks a limit above)."""
    if len(text) > max_length:
        raise error_at(text, max_length, "too_long", length=len(text), limit=max_length)
    _check_depth(text, max_depth)
    if not text.strip():
        raise error_at(text, 0, "empty")
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    try:
        return _Builder(text).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse brackets nested deeper than max_depth (strings skipped), before parsing."""
    _open_brackets(text, max_depth)


def _open_brackets(text: str, max_depth: int | None = None) -> list[str]:
    """The brackets still open at the end of `text`, innermost last (strings skipped); with
    `max_depth`, QueryError at the first bracket nested deeper."""
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char == "`":
            end = text.find("`", i + 1)
            i = n if end < 0 else end
        elif char in "({":
            stack.append(char)
            if max_depth is not None and len(stack) > max_depth:
                raise error_at(text, i, "too_deep", limit=max_depth)
        elif char in ")}" and stack:
            stack.pop()
        i += 1
    return stack


# --- syntax errors -----------------------------------------------------------------------

_COMPARISONS = {"EQ", "NE", "GT", "GE", "LT", "LE", "MATCH", "NOT_MATCH"}
_PUNCTUATION = {  # token -> its phrase in messages.EXPECTED_PHRASES
    "LBRACE": "lbrace",
    "RBRACE": "rbrace",
    "LPAR": "lpar",
    "RPAR": "rpar",
    "_AND": "and",
    "_OR": "or",
    "PIPE": "pipe",
    "DESC": "descendant",
}


def _syntax_error(text: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position]
        if char in '"`':
            return error_at(text, position, "unclosed_string")
        if char.isdigit() or char == "-":
            word = _WORD.match(text, position)
            return error_at(text, position, "not_a_number", word=word.group() if word else char)
        return error_at(text, position, "unexpected_character", char=repr(char)[1:-1])
    expected: set[str] = set(getattr(exc, "expected", ()) or ())
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        position, found = len(text.rstrip()), ""
    else:
        assert isinstance(exc, UnexpectedToken)
        position, found = exc.token.start_pos or 0, str(exc.token)
    previous = _previous_token(text, position)
    # LALR merges states, so its expected set may hold a ')' or '}' that closes nothing here
    still_open = _open_brackets(text[:position])
    innermost = still_open[-1] if still_open else ""
    expected -= {"RPAR"} if innermost != "(" else set()
    expected -= {"RBRACE"} if innermost != "{" else set()
    wanted = ",".join(_describe(expected, previous))
    return error_at(text, position, "expected", wanted=wanted, previous=previous or "", found=found)


def _previous_token(text: str, position: int) -> str | None:
    """The token before `position`, the start of a token the lexer read (so the text before
    it lexes too)."""
    last = None
    for token in parser().lex(text[:position]):
        last = token
    return None if last is None else str(last)


def _describe(expected: set[str], previous: str | None) -> list[str]:
    """The codes of messages.EXPECTED_PHRASES that say what the parser expected."""
    phrases = []
    if expected & {"STRING", "NUMBER", "DURATION"}:
        phrases.append("value")
    elif "ATTRIBUTE" in expected:
        phrases.append("field")
    elif "NAME" in expected:
        phrases.append("aggregate" if previous == "|" else "name")
    comparisons = expected & _COMPARISONS
    if len(comparisons) > 2:
        phrases.append("comparison")
    phrases += [phrase for name, phrase in _PUNCTUATION.items() if name in expected]
    if "GT" in expected and len(comparisons) <= 2:
        phrases.append("child")
    if expected & {"ORDER_FIELD", "ORDER_DWELL"}:
        phrases.append("order_condition")
    return phrases or ["something_else"]


# --- from lark's tree to nodes -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    kind: str  # STRING, RAW_STRING, NUMBER, DURATION or NAME
    value: Any
    at: int


@dataclass(frozen=True, slots=True)
class _Op:
    op: Operator
    at: int


@dataclass(frozen=True, slots=True)
class _FieldAt:
    field: Field
    at: int


class _Builder(Transformer_NonRecursive):
    """Turns lark's tree into nodes, checking what the grammar cannot (types, names)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def fail(self, at: int, code: str, **params: object) -> QueryError:
        return error_at(self.text, at, code, **params)

    # spanset expressions

    def start(self, children: list) -> Query:
        return Query(_with_stages(children[0], tuple(children[1:])), self.text)

    def group(self, children: list) -> SpansetExpression:
        return _with_stages(children[1], tuple(children[2:-1]))

    def set_or(self, children: list) -> SpansetOr:
        return SpansetOr(_flatten(SpansetOr, children))

    def set_and(self, children: list) -> SpansetAnd:
        return SpansetAnd(_flatten(SpansetAnd, children))

    def set_struct(self, children: list) -> Structural:
        operands = children[0::2]
        for token, operand in zip(children[1::2], operands[1:], strict=True):
            for side in (operand, operands[0]):
                if isinstance(side, OrderCondition | OrderDwell):
                    raise self.fail(side.at, "order_in_structure", op=token)
        first = operands[0]
        steps = tuple(
            (Relation(str(token)), operand)
            for token, operand in zip(children[1::2], operands[1:], strict=True)
        )
        if isinstance(first, Structural):  # (a > b) > c is a > b > c
            return Structural(first.first, first.steps + steps)
        return Structural(first, steps)

    def order_field(self, children: list) -> OrderCondition:
        token, op, literal = children
        name = str(token).removeprefix("order.")
        value = literal.value
        if literal.kind == "DURATION":
            raise self.fail(literal.at, "order_not_duration", name=name)
        if op.op in REGEX:
            self._pattern(literal, op)
        elif op.op in ORDERING and literal.kind != "NUMBER":
            raise self.fail(op.at, "ordering_needs_number", op=op.op.value, value=literal.value)
        if literal.kind == "NAME" and value in ("true", "false"):
            value = value == "true"
        return OrderCondition(name, op.op, value, at=token.start_pos)

    def order_dwell(self, children: list) -> OrderDwell:
        token, _, state, _, op, literal = children
        if op.op in REGEX:
            raise self.fail(op.at, "dwell_operator", op=op.op.value)
        if literal.kind != "DURATION":
            raise self.fail(literal.at, "dwell_needs_duration")
        return OrderDwell(str(state), op.op, literal.value, at=token.start_pos)

    # inside { }

    def spanset(self, children: list) -> SpanFilter:
        return SpanFilter(children[1] if len(children) == 3 else None)

    def cond_or(self, children: list) -> ConditionOr:
        return ConditionOr(_flatten(ConditionOr, children))

    def cond_and(self, children: list) -> ConditionAnd:
        return ConditionAnd(_flatten(ConditionAnd, children))

    def cond_atom(self, children: list) -> SpanCondition:
        return children[1]  # ( condition )

    def comparison(self, children: list) -> Comparison:
        field, op, literal = children
        return Comparison(field.field, op.op, self._span_value(field, op, literal))

    def _span_value(self, field: _FieldAt, op: _Op, literal: _Literal) -> Value:
        target = field.field
        if target in (Intrinsic.STATUS, Intrinsic.KIND):
            words: dict[str, Any] = STATUS_WORDS if target is Intrinsic.STATUS else KIND_WORDS
            if op.op not in EQUALITY:
                raise self.fail(op.at, "equality_only", what=target.value)
            if literal.kind != "NAME" or literal.value not in words:
                raise self.fail(literal.at, "one_of", what=target.value, words=", ".join(words))
            return words[literal.value]
        if op.op in REGEX:
            self._pattern(literal, op)
            return literal.value
        if target is Intrinsic.DURATION:
            if literal.kind != "DURATION":
                raise self.fail(literal.at, "duration_needs_duration")
            return literal.value
        if target is Intrinsic.NAME and literal.kind not in ("STRING", "RAW_STRING"):
            raise self.fail(literal.at, "name_needs_string")
        if literal.kind != "NAME":
            return literal.value
        if literal.value in ("true", "false", "nil"):
            if op.op not in EQUALITY:
                raise self.fail(op.at, "equality_only", what=literal.value)
            return None if literal.value == "nil" else literal.value == "true"
        raise self.fail(literal.at, "not_a_value", word=literal.value)

    def _pattern(self, literal: _Literal, op: _Op) -> None:
        if literal.kind not in ("STRING", "RAW_STRING"):
            raise self.fail(literal.at, "pattern_needs_quotes", op=op.op.value)
        try:
            patterns.check(literal.value)
        except patterns.UnsafePattern as exc:
            raise self.fail(literal.at, "unsafe_pattern", **exc.params) from None

    # pipeline stages

    def stage(self, children: list) -> AggregateFilter:
        name: Token = children[1]
        field: _FieldAt | None = children[3] if len(children) == 7 else None
        op, literal = children[-2], children[-1]
        try:
            function = Aggregate(str(name))
        except ValueError:
            raise self.fail(name.start_pos or 0, "unknown_aggregate", name=name) from None
        if (function is Aggregate.COUNT) != (field is None):
            code = "count_takes_no_field" if field else "aggregate_needs_field"
            raise self.fail(name.start_pos or 0, code, function=function.value)
        if field is not None and field.field in (Intrinsic.NAME, Intrinsic.STATUS, Intrinsic.KIND):
            raise self.fail(field.at, "aggregate_field", function=function.value)
        if op.op in REGEX:
            raise self.fail(op.at, "aggregate_operator", op=op.op.value)
        if field is not None and field.field is Intrinsic.DURATION:
            if literal.kind != "DURATION":
                raise self.fail(literal.at, "aggregate_duration")
        elif literal.kind not in ("NUMBER", "DURATION"):
            raise self.fail(literal.at, "aggregate_number", function=function.value)
        return AggregateFilter(
            function, None if field is None else field.field, op.op, literal.value
        )

    # leaves

    def field(self, children: list) -> _FieldAt:
        (token,) = children
        at = token.start_pos or 0
        if token.type == "NAME":
            try:
                return _FieldAt(Intrinsic(str(token)), at)
            except ValueError:
                raise self.fail(at, "unknown_field", name=token) from None
        scope, _, name = str(token).partition(".")
        if name.startswith('"'):
            name = self._string(name, at + len(scope) + 1)
        return _FieldAt(Attribute(AttributeScope(scope), name), at)

    def compare_op(self, children: list) -> _Op:
        (token,) = children
        return _Op(Operator(str(token)), token.start_pos or 0)

    def value(self, children: list) -> _Literal:
        (token,) = children
        at = token.start_pos or 0
        text = str(token)
        kind = token.type
        if kind == "STRING":
            return _Literal(kind, self._string(text, at), at)
        if kind == "RAW_STRING":
            return _Literal(kind, text[1:-1], at)
        if kind == "NUMBER":
            number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
            if not math.isfinite(number):
                raise self.fail(at, "number_too_large", number=text)
            return _Literal(kind, number, at)
        if kind == "DURATION":
            return _Literal(kind, Duration(duration_ns(text)), at)
        return _Literal(kind, text, at)

    def _string(self, quoted: str, at: int) -> str:
        """The text of a "..." literal: escapes \\" \\\\ \\n \\r \\t and \\uXXXX."""
        out = []
        i, end = 1, len(quoted) - 1
        while i < end:
            char = quoted[i]
            if char != "\\":
                out.append(char)
                i += 1
                continue
            code = quoted[i + 1]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
            elif code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", quoted[i + 2 : i + 6]):
                out.append(chr(int(quoted[i + 2 : i + 6], 16)))
                i += 6
            else:
                raise self.fail(at + i, "unknown_escape", escape=code)
        return "".join(out)


def duration_ns(text: str) -> int:
    """`1h30m` -> nanoseconds (fractions allowed, as in Go: `1.5s`; truncated to whole ns)."""
    total = sum(
        Decimal(number) * DURATION_UNITS_NS[unit] for number, unit in _DURATION_PART.findall(text)
    )
    return int(total)


_Joined = type[SpansetAnd] | type[SpansetOr] | type[ConditionAnd] | type[ConditionOr]


def _flatten(kind: _Joined, operands: list) -> tuple:
    """`(a || b) || c` as one `||` of three: both mean the same, and the round trip holds."""
    out: list = []
    for operand in operands:
        out.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return tuple(out)


def _with_stages(source: SpansetExpression, stages: tuple) -> SpansetExpression:
    if not stages:
        return source
    if isinstance(source, Pipeline):  # ({a} | count() > 1) | max(duration) > 2s
        return Pipeline(source.source, source.stages + stages)
    return Pipeline(source, stages)
