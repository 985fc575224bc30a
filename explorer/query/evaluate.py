"""matches(query, trace) -> MatchResult: the brute-force reference evaluation of a query.

It reads every span of one trace; faster executions (the store's indexes, Tempo, Jaeger) are
checked against it. Semantics, as Tempo's where Tempo has the feature (docs/query.md):

- `{ cond }` selects the spans for which `cond` holds; a spanset that selects no span does
  not match. `{ }` selects every span.
- `A && B`: both matched; the spans of both. `A || B`: either matched; the spans of those
  that did. `A > B`: the spans of B whose parent is in A; `A >> B`: whose ancestor is.
- `| count() > 2` and the other aggregates keep the spanset when the comparison holds.
- An order condition matches or not with no spans of its own, so `order.status = stuck`
  alone matches a trace with an empty spanset.

Comparing an attribute with a literal (the literal's type decides, as in Tempo):

- a string literal compares with string values only (`=`, `!=`, `<`... by code point);
- a number or duration literal compares with int and float values, and with strings that
  spell a number (`"500"`, as Zipkin and Jaeger string tags carry numbers); a duration is
  its count of nanoseconds;
- `true` / `false` compare with bool values and with the strings "true" / "false";
- `=~` / `!~` test string values only, fully anchored; values longer than
  patterns.MAX_SUBJECT_LENGTH characters are not tested (neither operator holds);
- any comparison with an absent attribute or a value of another type (bytes, lists, maps,
  a string that is not a number...) is false, `!=` included: `!=` means "present, of the
  literal's type, and different". `= nil` holds when the attribute is absent, `!= nil` when
  it is present.

An unscoped attribute (`.x`) is the span's when the span has it, else its resource's.
`resource.service.name` is the resource's service name when the resource attributes lack it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from explorer.analysis.tree import NO_PARENT, SpanTree
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
    order_conditions,
)
from explorer.query.parser import error_at
from explorer.query.translate import to_text
from explorer.traces.model import Span, SpanKind, StatusCode, Trace

_ABSENT: Any = object()
_NUMBER = re.compile(r"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")


class OrderFacts(Protocol):
    """What the orders service knows about the order a trace belongs to (None: no order, or
    the fact is unknown; the condition is then false)."""

    def value(self, trace: Trace, name: str) -> object | None:
        """`order.<name>`: status, customer_type, id..."""

    def dwell_ns(self, trace: Trace, state: str) -> int | None:
        """How long the order stayed in `state`, in nanoseconds."""


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Whether the trace matched, and the spans of its matched spanset (in trace order)."""

    matched: bool
    spans: tuple[Span, ...] = ()

    def __bool__(self) -> bool:
        return self.matched


NO_MATCH = MatchResult(False)

# A spanset: positions of spans in trace.spans; None when the expression did not match.
_Spanset = frozenset[int] | None


def matches(query: Query, trace: Trace, orders: OrderFacts | None = None) -> MatchResult:
    """Evaluate `query` on `trace`. A query with order conditions needs `orders` (the orders
    service, or a fake in tests): without it, QueryError points at the first such condition."""
    if orders is None:
        needed = order_conditions(query.expression)
        if needed:
            condition = to_text(Query(needed[0]))
            raise error_at(query.text, needed[0].at, "needs_orders", condition=condition)
    selected = _Evaluation(trace, orders).spanset(query.expression)
    if selected is None:
        return NO_MATCH
    return MatchResult(True, tuple(trace.spans[i] for i in sorted(selected)))


class _Evaluation:
    def __init__(self, trace: Trace, orders: OrderFacts | None):
        self.trace = trace
        self.orders = orders
        self._tree: SpanTree | None = None

    @property
    def tree(self) -> SpanTree:
        if self._tree is None:
            self._tree = SpanTree.of(self.trace)
        return self._tree

    def spanset(self, node: SpansetExpression) -> _Spanset:
        if isinstance(node, SpanFilter):
            return self.filter(node)
        if isinstance(node, SpansetAnd):
            parts = []
            for operand in node.operands:
                part = self.spanset(operand)
                if part is None:
                    return None
                parts.append(part)
            return frozenset().union(*parts)
        if isinstance(node, SpansetOr):
            found = [part for part in map(self.spanset, node.operands) if part is not None]
            return frozenset().union(*found) if found else None
        if isinstance(node, Structural):
            return self.structural(node)
        if isinstance(node, Pipeline):
            selected = self.spanset(node.source)
            for stage in node.stages:
                if selected is None:
                    break
                selected = selected if self.aggregate(stage, selected) else None
            return selected
        return frozenset() if self.order(node) else None

    def filter(self, node: SpanFilter) -> _Spanset:
        condition = node.condition
        spans = self.trace.spans
        if condition is None:
            selected = frozenset(range(len(spans)))
        else:
            selected = frozenset(i for i, span in enumerate(spans) if _holds(condition, span))
        return selected or None

    def structural(self, node: Structural) -> _Spanset:
        selected = self.spanset(node.first)
        for relation, operand in node.steps:
            if selected is None:
                return None
            candidates = self.spanset(operand)
            if candidates is None:
                return None
            ancestors = selected
            parent = self.tree.parent
            if relation is Relation.CHILD:
                selected = frozenset(i for i in candidates if parent[i] in ancestors)
            else:
                selected = frozenset(i for i in candidates if self._has_ancestor(i, ancestors))
            selected = selected or None
        return selected

    def _has_ancestor(self, position: int, ancestors: frozenset[int]) -> bool:
        """Walks up from each candidate: the brute force, O(depth) per span, on purpose."""
        parent = self.tree.parent
        seen = {position}
        current = parent[position]
        while current != NO_PARENT and current not in seen:  # bad input may hold a cycle
            if current in ancestors:
                return True
            seen.add(current)
            current = parent[current]
        return False

    def aggregate(self, stage: AggregateFilter, selected: frozenset[int]) -> bool:
        if stage.function is Aggregate.COUNT:
            result: float = len(selected)
        else:
            assert stage.field is not None
            numbers = []
            for i in selected:
                value = _number(_field_value(stage.field, self.trace.spans[i]))
                if value is not None:
                    numbers.append(value)
            if not numbers:
                return False
            result = _AGGREGATES[stage.function](numbers)
        literal = stage.value.ns if isinstance(stage.value, Duration) else stage.value
        return _ordered(result, stage.op, literal)

    def order(self, node: OrderCondition | OrderDwell) -> bool:
        assert self.orders is not None  # matches() made sure
        if isinstance(node, OrderDwell):
            dwell = self.orders.dwell_ns(self.trace, node.state)
            return dwell is not None and _ordered(dwell, node.op, node.value.ns)
        actual = self.orders.value(self.trace, node.name)
        return actual is not None and _compare(actual, node.op, node.value)


_AGGREGATES: dict[Aggregate, Callable[[list[float]], float]] = {
    Aggregate.AVG: lambda values: math.fsum(values) / len(values),
    Aggregate.MIN: min,
    Aggregate.MAX: max,
    Aggregate.SUM: math.fsum,
}


def _holds(condition: SpanCondition, span: Span) -> bool:
    if isinstance(condition, Comparison):
        return _compare_field(condition, span)
    if isinstance(condition, ConditionAnd):
        return all(_holds(operand, span) for operand in condition.operands)
    assert isinstance(condition, ConditionOr)
    return any(_holds(operand, span) for operand in condition.operands)


def _field_value(field: Field, span: Span) -> Any:
    if isinstance(field, Attribute):
        return _attribute(field, span)
    if field is Intrinsic.NAME:
        return span.name
    if field is Intrinsic.STATUS:
        return span.status_code
    if field is Intrinsic.KIND:
        return span.kind
    return span.duration_ns


def _attribute(field: Attribute, span: Span) -> Any:
    if field.scope is not AttributeScope.RESOURCE:
        value = span.attributes.get(field.name, _ABSENT)
        if value is not _ABSENT or field.scope is AttributeScope.SPAN:
            return value
    resource = span.resource
    value = resource.attributes.get(field.name, _ABSENT)
    if value is _ABSENT and field.name == "service.name":
        return resource.service_name
    return value


def _compare_field(condition: Comparison, span: Span) -> bool:
    actual = _field_value(condition.field, span)
    literal = condition.value
    if literal is None:  # nil
        present = actual is not _ABSENT
        return present if condition.op is Operator.NE else not present
    if actual is _ABSENT:
        return False
    if isinstance(literal, StatusCode | SpanKind):
        return (actual == literal) == (condition.op is Operator.EQ)
    return _compare(actual, condition.op, literal)


def _compare(actual: Any, op: Operator, literal: Value) -> bool:
    """`actual op literal` under the coercion rules of the module docstring."""
    if op in (Operator.MATCH, Operator.NOT_MATCH):
        if not isinstance(actual, str) or len(actual) > patterns.MAX_SUBJECT_LENGTH:
            return False
        assert isinstance(literal, str)
        found = patterns.compiled(literal).fullmatch(actual) is not None
        return found == (op is Operator.MATCH)
    if isinstance(literal, bool):
        if isinstance(actual, str) and actual in ("true", "false"):
            actual = actual == "true"
        if not isinstance(actual, bool):
            return False
        return _ordered(actual, op, literal)
    if isinstance(literal, str):
        return isinstance(actual, str) and _ordered(actual, op, literal)
    number = literal.ns if isinstance(literal, Duration) else literal
    assert isinstance(number, int | float)
    value = _number(actual)
    return value is not None and _ordered(value, op, number)


def _number(value: Any) -> int | float | None:
    """An int or float value as itself, a string spelling a number as that number, else None
    (bools are not numbers here, although Python's bool is an int)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, str) and len(value) <= 64 and _NUMBER.fullmatch(value):
        text = value.strip()
        return float(text) if any(c in text for c in ".eE") else int(text)
    return None


def _ordered(actual: Any, op: Operator, literal: Any) -> bool:
    if op is Operator.EQ:
        return bool(actual == literal)
    if op is Operator.NE:
        return bool(actual != literal)
    if op is Operator.GT:
        return bool(actual > literal)
    if op is Operator.GE:
        return bool(actual >= literal)
    if op is Operator.LT:
        return bool(actual < literal)
    return bool(actual <= literal)
