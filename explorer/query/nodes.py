"""The syntax tree of a query: plain frozen dataclasses, built by explorer.query.parser.

A query is a spanset expression, optionally followed by pipeline stages:

    Query(Pipeline(SpansetOr((SpanFilter(...), OrderCondition(...))), (AggregateFilter(...),)))

Equal queries compare equal whatever their spacing or redundant parentheses, so a parse of
`to_text(query)` gives back `query` (the round trip the tests check). Order-level conditions
keep where they were written (`at`, not compared) so that errors can point at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from explorer.traces.model import SpanKind, StatusCode


class Operator(Enum):
    EQ = "="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    MATCH = "=~"
    NOT_MATCH = "!~"


ORDERING = frozenset({Operator.GT, Operator.GE, Operator.LT, Operator.LE})
EQUALITY = frozenset({Operator.EQ, Operator.NE})
REGEX = frozenset({Operator.MATCH, Operator.NOT_MATCH})


class AttributeScope(Enum):
    """Where an attribute is looked up: `span.x`, `resource.x`, or `.x` (span, then resource)."""

    SPAN = "span"
    RESOURCE = "resource"
    ANY = ""


class Intrinsic(Enum):
    """Fields every span has, written without a dot."""

    NAME = "name"
    STATUS = "status"
    KIND = "kind"
    DURATION = "duration"


@dataclass(frozen=True, slots=True)
class Attribute:
    scope: AttributeScope
    name: str


Field = Attribute | Intrinsic


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration literal (`150ms`, `1h30m`, `2d`), in nanoseconds."""

    ns: int


# None is TraceQL's `nil` (attribute absent). Status and kind literals reuse the model's enums.
Value = str | int | float | bool | Duration | StatusCode | SpanKind | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """`field op value` inside `{ }`, true or false for one span."""

    field: Field
    op: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class ConditionAnd:
    operands: tuple[SpanCondition, ...]


@dataclass(frozen=True, slots=True)
class ConditionOr:
    operands: tuple[SpanCondition, ...]


SpanCondition = Comparison | ConditionAnd | ConditionOr


@dataclass(frozen=True, slots=True)
class SpanFilter:
    """`{ condition }`: the spans of a trace for which the condition holds; `{ }` is every span."""

    condition: SpanCondition | None


@dataclass(frozen=True, slots=True)
class OrderCondition:
    """`order.status = stuck`: a fact about the order a trace belongs to (not about a span)."""

    name: str
    op: Operator
    value: str | int | float | bool
    at: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class OrderDwell:
    """`order.dwell(SUBMITTED) > 1d`: how long the order stayed in a state."""

    state: str
    op: Operator
    value: Duration
    at: int = field(default=0, compare=False)


class Relation(Enum):
    CHILD = ">"
    DESCENDANT = ">>"


@dataclass(frozen=True, slots=True)
class Structural:
    """`{a} > {b} >> {c}`, read from the left: the spans of the last operand whose parent
    (`>`) or some ancestor (`>>`) is among the spans the steps before selected."""

    first: SpansetExpression
    steps: tuple[tuple[Relation, SpansetExpression], ...]


@dataclass(frozen=True, slots=True)
class SpansetAnd:
    """`{a} && {b}`: every operand matched; the spans of all of them."""

    operands: tuple[SpansetExpression, ...]


@dataclass(frozen=True, slots=True)
class SpansetOr:
    """`{a} || {b}`: some operand matched; the spans of those that did."""

    operands: tuple[SpansetExpression, ...]


class Aggregate(Enum):
    COUNT = "count"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"


@dataclass(frozen=True, slots=True)
class AggregateFilter:
    """`| count() > 2`, `| avg(duration) > 1s`: keeps the spanset when the comparison holds."""

    function: Aggregate
    field: Field | None  # None for count()
    op: Operator
    value: int | float | Duration


@dataclass(frozen=True, slots=True)
class Pipeline:
    source: SpansetExpression
    stages: tuple[AggregateFilter, ...]


SpansetExpression = (
    SpanFilter | OrderCondition | OrderDwell | Structural | SpansetAnd | SpansetOr | Pipeline
)


@dataclass(frozen=True, slots=True)
class Query:
    expression: SpansetExpression
    text: str = field(default="", compare=False)  # as written, for errors that point into it


def walk(expression: SpansetExpression) -> Iterator[SpansetExpression]:
    """Every spanset expression in `expression`, itself included (without recursion)."""
    stack = [expression]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, SpansetAnd | SpansetOr):
            stack.extend(node.operands)
        elif isinstance(node, Structural):
            stack.append(node.first)
            stack.extend(operand for _, operand in node.steps)
        elif isinstance(node, Pipeline):
            stack.append(node.source)


def order_conditions(expression: SpansetExpression) -> list[OrderCondition | OrderDwell]:
    """The order conditions in `expression`, in the order they were written."""
    found = [node for node in walk(expression) if isinstance(node, OrderCondition | OrderDwell)]
    return sorted(found, key=lambda node: node.at)
