"""A query as text again: our own syntax, TraceQL for Tempo, search parameters for Jaeger.

- to_text(query): the query in this language; parse(to_text(q)) == q.
- to_traceql(query): the same for Tempo, for every query without order conditions. Nested
  `&&` / `||` are always parenthesised, because Tempo gives them equal precedence (read from
  the left) where this language binds `&&` tighter; days are written as hours (`24h`).
- to_jaeger(query): Jaeger's search (service, operation, tags, min/max duration) when the
  query is one spanset of `=` conditions joined by `&&` with a service; `exact` says whether
  Jaeger's answer is the query's, or a superset to check with explorer.query.evaluate.

Both translations raise Untranslatable, saying which part cannot be sent and why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from explorer.query.nodes import (
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
    SpanCondition,
    SpanFilter,
    SpansetAnd,
    SpansetExpression,
    SpansetOr,
    Structural,
    Value,
    order_conditions,
)
from explorer.traces.model import SpanKind, StatusCode

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]*")
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNITS = (  # largest first; "d" only in to_text (Go and Tempo durations stop at hours)
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
)


class Untranslatable(ValueError):
    """`part` of a query (as text) cannot be sent to a backend, for `reason`."""

    def __init__(self, reason: str, part: str):
        super().__init__(reason, part)
        self.reason = reason
        self.part = part

    def __str__(self) -> str:
        return f"{self.reason}: {self.part}"


def to_text(query: Query) -> str:
    return _QueryWriter(days=True).expression(query.expression, top=True)


def to_traceql(query: Query) -> str:
    found = order_conditions(query.expression)
    if found:
        raise Untranslatable(
            "Tempo has no order conditions; the query runs here instead", to_text(Query(found[0]))
        )
    return _QueryWriter(days=False).expression(query.expression, top=True)


def duration_text(ns: int, days: bool = False) -> str:
    """`1500000000` -> `1500ms`: the largest unit that holds `ns` exactly (Go's syntax)."""
    for unit, size in _UNITS if days else _UNITS[1:]:
        if ns % size == 0 and (ns or unit == "ns"):
            return f"{ns // size}{unit}"
    return f"{ns}ns"  # unreachable: every int is a whole number of ns


def string_literal(value: str) -> str:
    """A "..." literal holding exactly `value`, read the same by this parser and by Tempo."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@dataclass(frozen=True, slots=True)
class _QueryWriter:
    days: bool

    def expression(self, node: SpansetExpression, top: bool = False) -> str:
        if isinstance(node, SpanFilter):
            return "{ }" if node.condition is None else f"{{ {self.condition(node.condition)} }}"
        if isinstance(node, OrderCondition):
            return f"order.{node.name} {node.op.value} {self.order_value(node.value)}"
        if isinstance(node, OrderDwell):
            return f"order.dwell({node.state}) {node.op.value} {self.value(node.value)}"
        if isinstance(node, SpansetOr):
            return " || ".join(self.operand(o, (SpansetOr,)) for o in node.operands)
        if isinstance(node, SpansetAnd):
            return " && ".join(self.operand(o, (SpansetAnd,)) for o in node.operands)
        if isinstance(node, Structural):
            out = [self.operand(node.first, (Structural,))]
            for relation, operand in node.steps:
                out += [relation.value, self.operand(operand, ())]
            return " ".join(out)
        stages = "".join(f" | {self.stage(stage)}" for stage in node.stages)
        text = self.expression(node.source, top=True) + stages
        return text if top else f"({text})"

    def operand(self, node: SpansetExpression, bare: tuple[type, ...]) -> str:
        """`node` inside an operator: in brackets unless a single spanset or order condition,
        or of a kind that reads the same without them (`bare`)."""
        text = self.expression(node)
        simple = (SpanFilter, OrderCondition, OrderDwell, Pipeline) + bare
        return text if isinstance(node, simple) else f"({text})"

    def condition(self, node: SpanCondition) -> str:
        if isinstance(node, Comparison):
            return f"{self.field(node.field)} {node.op.value} {self.value(node.value)}"
        joiner = " && " if isinstance(node, ConditionAnd) else " || "
        return joiner.join(
            f"({self.condition(o)})"
            if isinstance(o, ConditionAnd | ConditionOr)
            else self.condition(o)
            for o in node.operands
        )

    def stage(self, stage: AggregateFilter) -> str:
        argument = "" if stage.field is None else self.field(stage.field)
        return f"{stage.function.value}({argument}) {stage.op.value} {self.value(stage.value)}"

    def field(self, target: Attribute | Intrinsic) -> str:
        if isinstance(target, Intrinsic):
            return target.value
        name = target.name if _PLAIN_NAME.fullmatch(target.name) else string_literal(target.name)
        return f"{target.scope.value}.{name}"

    def value(self, value: Value) -> str:
        if value is None:
            return "nil"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, StatusCode | SpanKind):
            return value.name.lower()
        if isinstance(value, Duration):
            return duration_text(value.ns, self.days)
        if isinstance(value, str):
            return string_literal(value)
        return repr(value)

    def order_value(self, value: str | int | float | bool) -> str:
        if (
            isinstance(value, str)
            and _BARE_WORD.fullmatch(value)
            and value not in ("true", "false")
        ):
            return value
        return self.value(value)


# --- Jaeger --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JaegerSearch:
    """The fields of Jaeger's search form (and of explorer.sources' TraceQuery). Jaeger finds
    traces with one span that has all of them. `exact` is False when Jaeger's answer can hold
    traces the query does not match (tags are also looked up on the process and in logs, `>`
    is sent as `>=`, status as the `error` tag): those are checked here with matches()."""

    service: str
    operation: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    errors_only: bool = False
    exact: bool = True

    def params(self) -> dict[str, str]:
        """The query parameters of Jaeger's classic search API (api/traces)."""
        tags = dict(self.attributes)
        if self.errors_only:
            tags["error"] = "true"
        out = {"service": self.service}
        if self.operation is not None:
            out["operation"] = self.operation
        if tags:
            out["tags"] = json.dumps(tags, sort_keys=True)
        if self.min_duration_ns is not None:
            out["minDuration"] = duration_text(self.min_duration_ns)
        if self.max_duration_ns is not None:
            out["maxDuration"] = duration_text(self.max_duration_ns)
        return out


def to_jaeger(query: Query) -> JaegerSearch:
    """Jaeger's search for `query`; Untranslatable when Jaeger cannot answer it."""
    expression = query.expression
    if not isinstance(expression, SpanFilter):
        raise Untranslatable(
            "Jaeger searches for one span's service, operation, tags and duration; "
            "it has no &&, ||, structure, pipelines or order conditions between spansets",
            to_text(query),
        )
    condition = expression.condition
    comparisons: tuple[SpanCondition, ...] = (
        ()
        if condition is None
        else condition.operands
        if isinstance(condition, ConditionAnd)
        else (condition,)
    )
    search = _JaegerBuilder()
    for comparison in comparisons:
        if not isinstance(comparison, Comparison):
            raise Untranslatable(
                "Jaeger's tags combine with AND only", _QueryWriter(days=True).condition(comparison)
            )
        search.add(comparison)
    return search.result(to_text(query))


class _JaegerBuilder:
    def __init__(self) -> None:
        self.services: set[str] = set()
        self.operations: set[str] = set()
        self.attributes: dict[str, str] = {}
        self.minimum: int | None = None
        self.maximum: int | None = None
        self.errors_only = False
        self.exact = True

    def add(self, comparison: Comparison) -> None:
        part = _QueryWriter(days=True).condition(comparison)
        target, op, value = comparison.field, comparison.op, comparison.value
        if target is Intrinsic.DURATION and op in (Operator.GT, Operator.GE):
            assert isinstance(value, Duration)
            self.minimum = max(self.minimum or 0, value.ns)
            self.exact &= op is Operator.GE  # Jaeger's minDuration includes the bound
            return
        if target is Intrinsic.DURATION and op in (Operator.LT, Operator.LE):
            assert isinstance(value, Duration)
            self.maximum = value.ns if self.maximum is None else min(self.maximum, value.ns)
            self.exact &= op is Operator.LE
            return
        if op is not Operator.EQ or value is None or isinstance(value, Duration):
            raise Untranslatable(
                "Jaeger compares tags with = only (no !=, <, >, regular expressions or nil)", part
            )
        if target is Intrinsic.STATUS:
            if value is not StatusCode.ERROR:
                raise Untranslatable("Jaeger can only search for errors", part)
            self.errors_only = True
            self.exact = False  # the error tag, which most but not all status errors carry
        elif target is Intrinsic.KIND:
            assert isinstance(value, SpanKind)
            self.attributes["span.kind"] = value.name.lower()
            self.exact = False
        elif target is Intrinsic.NAME:
            self.operations.add(str(value))
        elif (
            isinstance(target, Attribute)
            and target.name == "service.name"
            and (target.scope is not AttributeScope.SPAN)
        ):
            self.services.add(str(value))
            self.exact &= target.scope is AttributeScope.RESOURCE
        elif isinstance(target, Attribute):
            if target.name in self.attributes:
                raise Untranslatable("Jaeger takes one value per tag", part)
            self.attributes[target.name] = _tag_value(value)
            self.exact = False  # Jaeger also matches process tags and log fields, as strings
        else:
            raise Untranslatable("Jaeger has no such field", part)

    def result(self, text: str) -> JaegerSearch:
        if len(self.services) != 1:
            raise Untranslatable(
                "Jaeger searches exactly one service: the query needs one "
                'resource.service.name = "…"',
                text,
            )
        if len(self.operations) > 1:
            raise Untranslatable("Jaeger searches at most one operation (name)", text)
        return JaegerSearch(
            service=next(iter(self.services)),
            operation=next(iter(self.operations), None),
            attributes=self.attributes,
            min_duration_ns=self.minimum,
            max_duration_ns=self.maximum,
            errors_only=self.errors_only,
            exact=self.exact,
        )


def _tag_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
