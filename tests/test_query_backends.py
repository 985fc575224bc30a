"""Queries passed on to Tempo (TraceQL) and Jaeger (tags and durations) where they can answer,
evaluated here where they cannot: checked against real HTTP servers on 127.0.0.1 that record
what they receive."""

from __future__ import annotations

import json

import pytest

from explorer.query.parser import parse
from explorer.query.translate import to_traceql
from explorer.sources.config import BackendConfig
from explorer.sources.jaeger import JaegerSource
from explorer.sources.memory import MemorySource
from explorer.sources.querying import HERE, JAEGER, TEMPO, QueryRun, run_query
from explorer.sources.remote import go_duration
from explorer.sources.tempo import TempoSource
from explorer.sources.wrapper import WrappedSource
from explorer.traces.model import Trace
from tests.backends_support import ReplayServer
from tests.test_backends_sources import FAST, TRACE_ID, jaeger_classic, tempo
from tests.trace_support import make_span

WINDOW = QueryRun(start_ns=1_690_000_000 * 10**9, end_ns=1_710_000_000 * 10**9, limit=5)


class OneOrder:
    """OrderFacts and OrderLookup of the recorded trace's order A-100042, stuck."""

    def value(self, trace: Trace, name: str):
        return {"status": "stuck", "id": "A-100042"}.get(name)

    def dwell_ns(self, trace: Trace, state: str):
        return None

    def orders_where(self, conditions):
        return ["A-100042"]

    def all_orders(self):
        return ["A-100042"]


@pytest.fixture
def tempo_server():
    with ReplayServer(tempo(protobuf=False)) as server:
        yield server


@pytest.fixture
def jaeger_server():
    with ReplayServer(jaeger_classic) as server:
        yield server


def tempo_source(server) -> TempoSource:
    return TempoSource(BackendConfig(name="t", kind="tempo", url=server.url, **FAST))


def jaeger_source(server) -> JaegerSource:
    config = BackendConfig(name="j", kind="jaeger", url=server.url, api="classic", **FAST)
    return JaegerSource(config)


def sent_traceql(server) -> list[str]:
    return [seen.query["q"][0] for seen in server.seen if seen.path == "/api/search"]


@pytest.mark.parametrize(
    "text",
    [
        '{ resource.service.name = "crm-api" && span.http.response.status_code >= 500 '
        "&& duration > 2s }",
        "{ .a = 1 || .b = 1 && .c = 1 }",
        '({ kind = server } >> { status = error } | count() > 2) || { name =~ "GET .*" }',
        "{ .x != nil } > { duration <= 1d } | avg(duration) > 150ms",
    ],
)
def test_tempo_receives_the_query_as_traceql(tempo_server, text):
    query = parse(text)
    result = run_query(tempo_source(tempo_server), query, WINDOW)
    assert sent_traceql(tempo_server) == [to_traceql(query)]
    assert result.answered_by == TEMPO
    assert [hit.summary.trace_id for hit in result.hits] == [TRACE_ID]
    assert result.notes == [f"answered by Tempo: {to_traceql(query)}"]
    search = next(seen for seen in tempo_server.seen if seen.path == "/api/search")
    assert search.query["limit"] == ["5"] and search.query["start"] == ["1690000000"]


def test_a_wrapped_tempo_still_receives_traceql(tempo_server):
    wrapped = WrappedSource(tempo_source(tempo_server))
    run_query(wrapped, parse("{ status = error }"), WINDOW)
    assert sent_traceql(tempo_server) == ["{ status = error }"]


def test_tempo_is_not_sent_order_conditions(tempo_server):
    """Tempo has no orders: the order's traces are looked up by order.id and the query runs
    here on each."""
    query = parse('{ .order.id = "A-100042" } && order.status = stuck')
    result = run_query(tempo_source(tempo_server), query, WINDOW, OneOrder())
    sent = sent_traceql(tempo_server)
    assert sent and not any("order.status" in text for text in sent)
    assert all('"A-100042"' in text for text in sent)
    assert result.answered_by == HERE
    assert [hit.summary.trace_id for hit in result.hits] == [TRACE_ID]
    assert result.examined == 1 and "evaluated here" in result.notes[0]


def test_jaeger_answers_what_its_search_can_say(jaeger_server):
    query = parse(
        '{ resource.service.name = "shop-api" && name = "POST /api/orders" '
        "&& duration >= 100ms && duration <= 2s }"
    )
    result = run_query(jaeger_source(jaeger_server), query, WINDOW)
    search = next(seen for seen in jaeger_server.seen if seen.path == "/api/traces")
    assert search.query["service"] == ["shop-api"]
    assert search.query["operation"] == ["POST /api/orders"]
    assert search.query["minDuration"] == [go_duration(100 * 10**6)]
    assert search.query["maxDuration"] == [go_duration(2 * 10**9)]
    assert result.answered_by == JAEGER and result.examined == 0
    assert [hit.summary.trace_id for hit in result.hits] == [TRACE_ID]


def test_jaeger_tags_are_checked_here(jaeger_server):
    """Jaeger matches tags of processes and logs too, as text: its traces are read and the
    query is evaluated on them."""
    matching = parse('{ resource.service.name = "shop-api" && span.order.id = "A-100042" }')
    result = run_query(jaeger_source(jaeger_server), matching, WINDOW)
    search = next(seen for seen in jaeger_server.seen if seen.path == "/api/traces")
    assert json.loads(search.query["tags"][0]) == {"order.id": "A-100042"}
    assert result.answered_by == JAEGER and result.examined == 1
    assert [hit.summary.trace_id for hit in result.hits] == [TRACE_ID]
    assert result.hits[0].span_ids  # the matched span, found here
    other = parse('{ resource.service.name = "shop-api" && span.customer.type = "vip" }')
    assert run_query(jaeger_source(jaeger_server), other, WINDOW).hits == []


def test_what_jaeger_cannot_answer_is_evaluated_here(jaeger_server):
    query = parse('{ kind = server } >> { resource.service.name = "mes-api" && duration > 1ms }')
    result = run_query(jaeger_source(jaeger_server), query, WINDOW)
    assert result.answered_by == HERE
    assert result.notes[0].startswith("Jaeger cannot answer it")
    assert [hit.summary.trace_id for hit in result.hits] == [TRACE_ID]
    searches = [seen for seen in jaeger_server.seen if seen.path == "/api/traces"]
    assert searches and all("tags" not in seen.query for seen in searches)


def one_span_traces(count: int, same_time: bool = True) -> list[Trace]:
    """`count` one-span traces (starting at one moment, or a nanosecond apart, the last
    newest); only the last (by id) is named "x"."""
    return [
        Trace(
            f"t{i:03d}",
            [
                make_span(
                    "s",
                    trace_id=f"t{i:03d}",
                    name="x" if i == count - 1 else "y",
                    start_ns=0 if same_time else i,
                    end_ns=100,
                )
            ],
        )
        for i in range(count)
    ]


def test_many_traces_of_one_start_time_are_paged_past():
    """Candidates come newest first, a page at a time; a page of one start time grows until
    the next trace is read, so a small limit still finds the match behind them."""
    source = MemorySource(one_span_traces(40), business_keys=[])
    result = run_query(source, parse('{ name =~ "x" }'), QueryRun(limit=1))
    assert [hit.summary.trace_id for hit in result.hits] == ["t039"]
    assert result.examined == 40 and not result.bounded


def test_the_bound_is_said():
    """At most max_candidates traces are read, the newest: the match (oldest) is not."""
    traces = one_span_traces(40, same_time=False)
    traces[0].spans[0].name, traces[-1].spans[0].name = "x", "y"
    source = MemorySource(traces, business_keys=[])
    result = run_query(source, parse('{ name =~ "x" }'), QueryRun(limit=1, max_candidates=10))
    assert result.hits == [] and result.bounded and result.examined == 10
    assert "stopped at 10" in result.notes[0]


def test_an_order_condition_under_or_still_finds_traces_of_no_order():
    """`{ … } || order.…`: a match may belong to no order, so candidates are every trace and
    not only the traces of orders."""
    traces = one_span_traces(3, same_time=False)  # no order.id on any
    result = run_query(
        MemorySource(traces, business_keys=[]),
        parse('{ name =~ "x" } || order.status = stuck'),
        QueryRun(limit=5),
        NoOrder(),
    )
    assert [hit.summary.trace_id for hit in result.hits] == ["t002"]


class NoOrder(OneOrder):
    def value(self, trace: Trace, name: str):
        return None

    def orders_where(self, conditions):
        raise AssertionError("the orders' traces are not all the candidates here")
