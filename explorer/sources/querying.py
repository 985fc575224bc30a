"""Running a query (explorer.query) on a trace source: as much as the source can answer, the
rest evaluated here with the reference evaluator (explorer.query.evaluate.matches).

- Tempo (SearchesTraceQL) is sent the query as TraceQL and its answer is the result.
- Jaeger (SearchesSpanTags) is sent its search form (explorer.query.translate.to_jaeger);
  when that answer may hold traces the query does not match, they are checked here.
- Any source, the embedded store first (explorer.store.source.StoreSource.search: its index
  of operations, of business attributes and its summary columns), is asked for the traces
  that meet the conditions every match must meet (`necessary_search`); those candidates are
  read in bulk and the query is evaluated on each, newest first, until `limit` matched or
  `max_candidates` were read (the result then says it is bounded).
- Order conditions are answered by an OrderLookup (explorer.orders: the order-status rows):
  a query whose every match needs an order condition reads the traces of the orders that
  meet it; one where a match may belong to no order (`||`) reads candidates as above.

The result says which of these ran (`notes`), so a page can say "evaluated here".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from explorer.query.evaluate import OrderFacts, matches
from explorer.query.nodes import (
    Attribute,
    AttributeScope,
    Comparison,
    ConditionAnd,
    Duration,
    Intrinsic,
    Operator,
    OrderCondition,
    OrderDwell,
    Pipeline,
    Query,
    SpanFilter,
    SpansetAnd,
    SpansetExpression,
    Structural,
    order_conditions,
)
from explorer.query.translate import Untranslatable, to_jaeger, to_traceql
from explorer.sources.base import (
    ReadsTracesInBulk,
    SearchesSpanTags,
    SearchesTraceQL,
    TraceNotFound,
    TraceQuery,
    TraceSource,
    TraceSummary,
)
from explorer.sources.summary import newest_first
from explorer.traces.model import Span, StatusCode, Trace
from explorer.traces.vocabulary import ORDER_KEY

# Where a result came from (QueryResult.answered_by).
INDEXES, TEMPO, JAEGER, HERE = "indexes", "tempo", "jaeger", "here"
MAX_CANDIDATES = 5000  # traces read and evaluated here at most, per query
PAGE_MOST = 500  # candidates asked for and read at once
MAX_ORDERS = 1000  # orders whose traces are looked up at most, per query


@runtime_checkable
class OrderLookup(OrderFacts, Protocol):
    """OrderFacts plus the orders that meet order conditions, from the order-status rows."""

    def orders_where(self, conditions: list[OrderCondition | OrderDwell]) -> list[str] | None:
        """Ids of the orders that may meet every condition, newest first; None when the
        conditions do not narrow the orders down (every order is a candidate)."""

    def all_orders(self) -> list[str]:
        """Every known order, newest first."""


@dataclass(frozen=True, slots=True)
class QueryHit:
    summary: TraceSummary
    span_ids: tuple[str, ...] = ()  # the matched spanset; empty when the backend said no more


@dataclass(slots=True)
class QueryResult:
    hits: list[QueryHit] = field(default_factory=list)
    answered_by: str = INDEXES
    notes: list[str] = field(default_factory=list)  # what ran where, in English (see pages)
    examined: int = 0  # traces read and evaluated here
    bounded: bool = False  # stopped at max_candidates: older matches may exist

    def as_dict(self) -> dict:
        return {
            "answered_by": self.answered_by,
            "bounded": self.bounded,
            "examined": self.examined,
            "notes": list(self.notes),
            "traces": [
                {
                    "trace_id": hit.summary.trace_id,
                    "start_ns": hit.summary.start_ns,
                    "duration_ns": hit.summary.duration_ns,
                    "span_count": hit.summary.span_count,
                    "root_service": hit.summary.root_service,
                    "root_name": hit.summary.root_name,
                    "error_count": hit.summary.error_count,
                    "matched_spans": list(hit.span_ids),
                }
                for hit in self.hits
            ],
        }


@dataclass(frozen=True, slots=True)
class QueryRun:
    """One query's settings: the window of trace start times, how many traces to return and
    to read at most, and how a viewer sees a trace (`view`: redaction; the query is evaluated
    on what the viewer sees, so it cannot find what their redaction hides)."""

    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 20
    max_candidates: int = MAX_CANDIDATES
    business_keys: tuple[str, ...] = (ORDER_KEY,)
    view: Callable[[Trace], Trace] | None = None
    # Literal -> the value to look it up with in indexes (a pseudonym -> the customer id).
    index_values: Mapping[str, str] = field(default_factory=dict)


def run_query(
    source: TraceSource, query: Query, run: QueryRun, orders: OrderLookup | None = None
) -> QueryResult:
    """The traces matching `query`, newest first, at most run.limit."""
    if order_conditions(query.expression):
        if orders is None:
            matches(query, Trace("", []))  # raises the QueryError that points at it
        assert orders is not None
        if _required_order_conditions(query.expression):
            return _by_orders(source, query, run, orders)
    plain = run.view is None and not run.index_values
    if plain and isinstance(source, SearchesTraceQL):
        return _on_tempo(source, query, run)
    if plain and isinstance(source, SearchesSpanTags):
        try:
            search = to_jaeger(query)
        except Untranslatable as exc:
            result = _by_candidates(source, query, run, orders)
            result.notes.insert(0, f"Jaeger cannot answer it ({exc.reason}): evaluated here")
            return result
        return _on_jaeger(source, query, run, search, orders)
    return _by_candidates(source, query, run, orders)


def necessary_search(
    expression: SpansetExpression,
    business_keys: Iterable[str],
    index_values: Mapping[str, str] | None = None,
    one_spanset: bool = False,
) -> TraceQuery:
    """A search every trace matching `expression` meets (a superset of the matches): the
    conditions of its spansets that all must match, as far as a TraceQuery can say them.
    Service and operation come from one spanset only (the store finds them as one pair);
    with `one_spanset`, everything does (Jaeger looks for one span with all of them)."""
    search = TraceQuery()
    keys = set(business_keys)
    mapped = index_values or {}
    pending = [expression]
    while pending:
        node = pending.pop(0)
        if isinstance(node, SpansetAnd):
            pending.extend(node.operands)
        elif isinstance(node, Structural):  # every operand must select spans
            pending.append(node.first)
            pending.extend(operand for _, operand in node.steps)
        elif isinstance(node, Pipeline):  # stages only drop spansets
            pending.append(node.source)
        elif isinstance(node, SpanFilter) and node.condition is not None:
            condition = node.condition
            parts = condition.operands if isinstance(condition, ConditionAnd) else (condition,)
            _narrow(search, [c for c in parts if isinstance(c, Comparison)], keys, mapped)
            if one_spanset:
                break
    return search


def _narrow(
    search: TraceQuery, comparisons: list[Comparison], keys: set[str], mapped: Mapping[str, str]
) -> None:
    """Adds to `search` what these comparisons, joined by && in one spanset, require."""
    service = operation = None
    for comparison in comparisons:
        target, op, value = comparison.field, comparison.op, comparison.value
        if target is Intrinsic.DURATION and op in (Operator.GT, Operator.GE):
            assert isinstance(value, Duration)  # a span that long makes the trace as long
            search.min_duration_ns = max(search.min_duration_ns or 0, value.ns)
        elif op is not Operator.EQ:
            continue
        elif target is Intrinsic.STATUS and value is StatusCode.ERROR:
            search.errors_only = True
        elif target is Intrinsic.NAME and isinstance(value, str):
            operation = value
        elif not isinstance(target, Attribute) or not isinstance(value, str):
            continue
        elif target.name == "service.name" and target.scope is AttributeScope.RESOURCE:
            service = value
        elif target.name in keys:
            search.attributes.setdefault(target.name, mapped.get(value, value))
    if (service or operation) and search.service is None and search.operation is None:
        search.service, search.operation = service, operation


# --- evaluated here over candidates --------------------------------------------------------


class _Evaluating:
    """Reads candidate traces and keeps those the query matches, within the run's bound."""

    def __init__(self, source: TraceSource, query: Query, run: QueryRun, orders) -> None:
        self.source, self.query, self.run, self.orders = source, query, run, orders
        self.result = QueryResult(answered_by=HERE)
        self.seen: set[str] = set()

    def room(self) -> int:
        return self.run.max_candidates - self.result.examined

    def evaluate(self, summaries: list[TraceSummary]) -> None:
        fresh = [s for s in summaries if s.trace_id not in self.seen][: self.room()]
        self.seen.update(s.trace_id for s in fresh)
        by_id = {t.trace_id: t for t in _read(self.source, [s.trace_id for s in fresh])}
        for summary in fresh:
            trace = by_id.get(summary.trace_id)
            if trace is None or not trace.spans:
                continue
            self.result.examined += 1
            if self.run.view is None:
                found = matches(self.query, trace, self.orders)
            else:  # order facts are of the trace as stored (its order id unredacted)
                orders = None if self.orders is None else _FactsOf(self.orders, trace)
                found = matches(self.query, self.run.view(trace), orders)
            if found:
                spans: tuple[Span, ...] = found.spans
                self.result.hits.append(QueryHit(summary, tuple(s.span_id for s in spans)))


@dataclass(frozen=True, slots=True)
class _FactsOf:
    """The order facts of `trace`, whatever view of it the evaluator is given."""

    orders: OrderFacts
    trace: Trace

    def value(self, trace: Trace, name: str) -> object | None:
        return self.orders.value(self.trace, name)

    def dwell_ns(self, trace: Trace, state: str) -> int | None:
        return self.orders.dwell_ns(self.trace, state)


def _read(source: TraceSource, trace_ids: list[str]) -> list[Trace]:
    if isinstance(source, ReadsTracesInBulk):
        return source.get_traces(trace_ids)
    found = []
    for trace_id in trace_ids:
        try:
            found.append(source.get_trace(trace_id))
        except TraceNotFound:
            continue
    return found


def _by_candidates(
    source: TraceSource, query: Query, run: QueryRun, orders, search: TraceQuery | None = None
) -> QueryResult:
    """Candidates from source.search, newest first, a page at a time, until `limit` matched
    or the bound is reached. Each page is of the traces starting at or before the oldest
    start of the last (a search has no offset, and several traces may start at one moment):
    those of that start are asked for again on top of the page and skipped."""
    if search is None:
        one_spanset = isinstance(source, SearchesSpanTags)
        search = necessary_search(
            query.expression, run.business_keys, run.index_values, one_spanset
        )
    search.start_ns, search.end_ns = run.start_ns, run.end_ns
    evaluating = _Evaluating(source, query, run, orders)
    result = evaluating.result
    page = run.limit  # most candidates may match: read no more than needed, then more
    again = 0  # traces of the last page's oldest start, which the next page holds again
    while len(result.hits) < run.limit:
        if evaluating.room() <= 0:
            result.bounded = True
            break
        search.limit = min(page, evaluating.room()) + again
        summaries = source.search(search)
        evaluating.evaluate(summaries)
        if len(summaries) < search.limit:
            break  # the source has no more
        oldest = min(s.start_ns for s in summaries)
        search.end_ns = oldest + 1
        again = sum(1 for s in summaries if s.start_ns == oldest)
        page = min(2 * page, PAGE_MOST)
    result.hits = result.hits[: run.limit]
    result.notes.append(_candidates_note(search, result))
    return result


def _candidates_note(search: TraceQuery, result: QueryResult) -> str:
    used = [
        name
        for name, present in (
            ("service and operation", search.service or search.operation),
            ("business attributes", search.attributes),
            ("durations", search.min_duration_ns is not None),
            ("errors", search.errors_only),
        )
        if present
    ]
    how = f"candidates found by {', '.join(used)}" if used else "every trace a candidate"
    note = f"{how}; {result.examined} traces evaluated here"
    if result.bounded:
        note += f" (stopped at {result.examined}: older traces were not read)"
    return note


# --- order conditions ----------------------------------------------------------------------


def _required_order_conditions(
    expression: SpansetExpression,
) -> list[OrderCondition | OrderDwell]:
    """The order conditions every match must meet: the query's own, or those joined to the
    rest by && at its top. None: a match may belong to no order (`{ } || order.…`)."""
    operands = expression.operands if isinstance(expression, SpansetAnd) else (expression,)
    return [o for o in operands if isinstance(o, OrderCondition | OrderDwell)]


def _by_orders(source: TraceSource, query: Query, run: QueryRun, orders: OrderLookup):
    """The traces of the orders that may meet the query's required order conditions,
    evaluated here: the orders the status rows give, or every order when they narrow nothing
    (a dwell); at most MAX_ORDERS orders, each a look-up of its traces."""
    required = _required_order_conditions(query.expression)
    order_ids = orders.orders_where(required)
    if order_ids is None:
        order_ids = orders.all_orders()
    evaluating = _Evaluating(source, query, run, orders)
    result = evaluating.result
    for looked_up, order_id in enumerate(order_ids):
        if evaluating.room() <= 0 or looked_up >= MAX_ORDERS:
            result.bounded = True
            break
        found = source.find_traces(ORDER_KEY, order_id, run.start_ns, run.end_ns, limit=1000)
        evaluating.evaluate(found)
    result.hits.sort(key=lambda hit: newest_first(hit.summary))
    result.hits = result.hits[: run.limit]
    note = f"orders from the order-status rows; {result.examined} traces evaluated here"
    if result.bounded:
        note += " (stopped at the bound: other orders were not read)"
    result.notes.append(note)
    return result


# --- passed through ------------------------------------------------------------------------


def _on_tempo(source: SearchesTraceQL, query: Query, run: QueryRun) -> QueryResult:
    text = to_traceql(query)  # no order conditions here: run_query sent those elsewhere
    found = source.search_traceql(text, run.start_ns, run.end_ns, run.limit)
    hits = [QueryHit(summary) for summary in sorted(found, key=newest_first)[: run.limit]]
    return QueryResult(hits, TEMPO, [f"answered by Tempo: {text}"])


def _on_jaeger(source, query: Query, run: QueryRun, search, orders) -> QueryResult:
    tags = TraceQuery(
        service=search.service,
        operation=search.operation,
        attributes=dict(search.attributes),
        min_duration_ns=search.min_duration_ns,
        max_duration_ns=search.max_duration_ns,
        start_ns=run.start_ns,
        end_ns=run.end_ns,
        errors_only=search.errors_only,
        limit=run.limit,
    )
    if search.exact:
        found = source.search_span_tags(tags)
        hits = [QueryHit(summary) for summary in sorted(found, key=newest_first)[: run.limit]]
        return QueryResult(hits, JAEGER, ["answered by Jaeger's search"])
    tags.limit = min(max(2 * run.limit, 50), run.max_candidates)
    evaluating = _Evaluating(source, query, run, orders)
    evaluating.evaluate(source.search_span_tags(tags))
    result = evaluating.result
    result.hits.sort(key=lambda hit: newest_first(hit.summary))
    result.hits = result.hits[: run.limit]
    result.answered_by = JAEGER
    result.bounded = len(evaluating.seen) >= tags.limit
    result.notes.append(
        f"Jaeger's search, its {result.examined} traces checked here "
        "(Jaeger also matches tags of processes and logs, as text)"
    )
    return result
