"""The analysis core on hand-built traces: critical path, service graph, self time, statistics."""

import pytest

from explorer.analysis import (
    CriticalPathSection,
    Edge,
    ServiceGraph,
    SpanTree,
    critical_path,
    operation_stats,
    self_times,
    service_graph,
)
from explorer.traces.model import Resource, SpanKind, Trace
from tests.trace_support import make_span, span_factory

T0 = 1_700_000_000_000_000  # µs; times below are offsets from it


span = span_factory(T0 * 1000, 1000)  # times in µs after T0


def path_of(*spans):
    """Critical path as (span id, start, end) offsets, for readable assertions."""
    sections = critical_path(Trace("t1", list(spans)))
    return [(s.span_id, s.start_us - T0, s.end_us - T0) for s in sections]


# --- critical path -------------------------------------------------------------------------


def test_sequential_children_walk_back_from_the_end():
    assert path_of(
        span("root", None, 0, 200),
        span("late", "root", 120, 150),
        span("early", "root", 30, 70),
    ) == [
        ("root", 150, 200),
        ("late", 120, 150),
        ("root", 70, 120),
        ("early", 30, 70),
        ("root", 0, 30),
    ]


def test_parallel_children_the_one_finishing_last_is_critical():
    assert path_of(
        span("root", None, 0, 100),
        span("slow", "root", 10, 80),
        span("fast", "root", 20, 60),  # finishes before slow and overlaps it: never critical
    ) == [("root", 80, 100), ("slow", 10, 80), ("root", 0, 10)]


def test_the_walk_descends_and_comes_back_up_through_grandchildren():
    assert path_of(
        span("root", None, 0, 100),
        span("mid", "root", 10, 90),
        span("leaf", "mid", 20, 50),
        span("leaf2", "mid", 60, 70),
        span("side", "root", 2, 8),
    ) == [
        ("root", 90, 100),
        ("mid", 70, 90),
        ("leaf2", 60, 70),
        ("mid", 50, 60),
        ("leaf", 20, 50),
        ("mid", 10, 20),
        ("root", 8, 10),
        ("side", 2, 8),
        ("root", 0, 2),
    ]


def test_child_starting_before_its_parent_is_cut_at_the_parent_start():
    assert path_of(span("root", None, 10, 100), span("early", "root", 0, 50)) == [
        ("root", 50, 100),
        ("early", 10, 50),
    ]


def test_child_outliving_its_parent_is_cut_at_the_parent_end():
    # the cut child ends with the root: the root's own empty section is left out
    assert path_of(span("root", None, 0, 100), span("late", "root", 40, 150)) == [
        ("late", 40, 100),
        ("root", 0, 40),
    ]


def test_child_covering_its_parent_on_both_sides_is_cut_to_it():
    assert path_of(span("root", None, 10, 100), span("wide", "root", 0, 150)) == [("wide", 10, 100)]


def test_children_wholly_outside_their_parent_are_dropped_with_descendants():
    assert path_of(
        span("root", None, 0, 30),
        span("after", "root", 40, 80),
        span("after-child", "after", 50, 60),
        span("before", "root", -50, -10),
        span("touching", "root", 30, 35),  # starts exactly at the parent's end: outside
    ) == [("root", 0, 30)]


def test_fitting_uses_the_already_fitted_parent():
    # mid is cut to [0, 50]; its child [40, 70] is then cut to [40, 50], not to the root's end
    assert path_of(
        span("root", None, 0, 100),
        span("mid", "root", -20, 50),
        span("leaf", "mid", 40, 70),
    ) == [("root", 50, 100), ("leaf", 40, 50), ("mid", 0, 40)]


def test_follows_from_children_stay_on_the_path():
    # Jaeger UI (2026) no longer drops FOLLOWS_FROM children; only consumers of producers go
    assert path_of(
        span("root", None, 0, 100),
        span("async", "root", 60, 95, follows=True),
        span("async-child", "async", 70, 90),
        span("sync", "root", 10, 50),
    ) == [
        ("root", 95, 100),
        ("async", 90, 95),
        ("async-child", 70, 90),
        ("async", 60, 70),
        ("root", 50, 60),
        ("sync", 10, 50),
        ("root", 0, 10),
    ]


def test_several_roots_every_root_is_walked_by_start_time():
    assert path_of(
        span("second", None, 50, 300),
        span("first", None, 0, 100),
        span("child", "first", 20, 60),
    ) == [("first", 60, 100), ("child", 20, 60), ("first", 0, 20), ("second", 50, 300)]


def test_roots_starting_in_the_same_microsecond_keep_trace_order():
    # Jaeger UI sorts roots by start in whole microseconds, a stable sort: b starts 0.8 µs
    # before a but in the same microsecond, so a, first in the trace, is walked first
    nanos = span_factory(T0 * 1000, 1)  # times in ns after T0
    assert path_of(nanos("a", None, 1_900, 5_000), nanos("b", None, 1_100, 3_000)) == [
        ("a", 1, 4),
        ("b", 1, 2),
    ]


def test_a_span_whose_parent_is_absent_is_not_followed():
    # Jaeger UI follows only spans without a parent reference; an orphan and its subtree are
    # shown as a root in the waterfall but are not on the critical path
    assert path_of(span("orphan", "not-in-trace", 0, 10), span("c", "orphan", 2, 4)) == []
    assert path_of(
        span("orphan", "not-in-trace", 0, 10),
        span("c", "orphan", 2, 4),
        span("root", None, 5, 8),
    ) == [("root", 5, 8)]


def test_equal_end_times_prefer_the_earlier_start_then_trace_order():
    assert path_of(
        span("root", None, 0, 100),
        span("b", "root", 50, 80),
        span("a", "root", 40, 80),
        span("c", "root", 40, 80),
    ) == [("root", 80, 100), ("a", 40, 80), ("root", 0, 40)]


def test_time_zero_is_a_time_not_a_missing_value():
    at_zero = span_factory(unit=1000, trace_id="t", service="s")  # µs from time 0
    spans = [
        at_zero("r", None, 0, 100, name="r"),
        at_zero("a", "r", 0, 40, name="a"),
        at_zero("b", "r", 50, 90, name="b"),
    ]
    assert critical_path(Trace("t", spans)) == [
        CriticalPathSection("r", 90, 100),
        CriticalPathSection("b", 50, 90),
        CriticalPathSection("r", 40, 50),
        CriticalPathSection("a", 0, 40),
    ]


def test_times_are_the_traces_own_microseconds_as_jaeger_gives_them():
    # Jaeger's API and Jaeger UI: start = start_ns // 1000, end = start + duration_ns // 1000,
    # here 1500 + 7_499_002 // 1000 = 8999, not 9_000_001 // 1000 = 9000
    s = make_span("r", trace_id="t", name="r", service="s", start_ns=1_500_999, end_ns=9_000_001)
    assert critical_path(Trace("t", [s])) == [CriticalPathSection("r", 1500, 8999)]
    half = make_span("r", trace_id="t", name="r", service="s", start_ns=1_500, end_ns=9_000)
    assert critical_path(Trace("t", [half])) == [CriticalPathSection("r", 1, 8)]  # 1 + 7
    whole = make_span("r", trace_id="t", name="r", service="s", start_ns=1_000, end_ns=9_000)
    assert critical_path(Trace("t", [whole])) == [CriticalPathSection("r", 1, 9)]


def test_the_microsecond_jaeger_drops_decides_the_last_finishing_child():
    # a ends at 60_500 ns, but starts at 10_999 ns and lasts 49_501 ns: Jaeger ends it at
    # 10 + 49 = 59 µs, as b (5 + 54); of the two equal ends the earlier start, b, wins
    nanos = span_factory(T0 * 1000, 1)  # times in ns after T0
    spans = [
        nanos("root", None, 0, 100_000),
        nanos("a", "root", 10_999, 60_500),
        nanos("b", "root", 5_000, 59_900),
    ]
    assert path_of(*spans) == [("root", 59, 100), ("b", 5, 59), ("root", 0, 5)]


def test_empty_trace_and_parent_cycle_give_no_path():
    assert critical_path(Trace("t", [])) == []
    assert path_of(span("a", "b", 0, 10), span("b", "a", 0, 10)) == []


def test_a_hundred_thousand_levels_deep_needs_no_recursion():
    depth = 100_000
    spans = [span("s0", None, 0, 2 * depth)]
    spans += [span(f"s{i}", f"s{i - 1}", i, 2 * depth - i) for i in range(1, depth)]
    sections = path_of(*spans)
    assert len(sections) == 2 * depth - 1
    assert sections[0] == ("s0", 2 * depth - 1, 2 * depth)
    assert sections[depth - 1] == (f"s{depth - 1}", depth - 1, depth + 1)
    assert sections[-1] == ("s0", 0, 1)


def test_the_tree_can_be_shared():
    spans = [span("r", None, 0, 10), span("c", "r", 2, 4)]
    tree = SpanTree.build(spans)
    assert tree.roots == [0] and tree.children[0] == [1] and tree.parent == [-1, 0]
    assert critical_path(Trace("t1", spans), tree) == critical_path(Trace("t1", spans))


# --- service graph -------------------------------------------------------------------------


def edges_of(*traces):
    return {
        (e.client, e.server, e.connection_type): (e.total, e.failed) for e in service_graph(traces)
    }


def call(
    client_service,
    server_service,
    *,
    trace_id="t1",
    prefix="x",
    parent=None,
    client_error=False,
    server_error=False,
    client_kind=SpanKind.CLIENT,
    server_kind=SpanKind.SERVER,
):
    return [
        span(
            f"{prefix}c",
            parent,
            0,
            10,
            service=client_service,
            kind=client_kind,
            error=client_error,
            trace_id=trace_id,
        ),
        span(
            f"{prefix}s",
            f"{prefix}c",
            1,
            9,
            service=server_service,
            kind=server_kind,
            error=server_error,
            trace_id=trace_id,
        ),
    ]


def test_client_and_server_spans_pair_into_one_edge():
    assert edges_of(Trace("t1", call("shop-api", "crm-api", parent="p"))) == {
        ("shop-api", "crm-api", ""): (1, 0)
    }


def test_the_pair_is_found_whichever_span_comes_first():
    assert edges_of(Trace("t1", call("shop-api", "crm-api", parent="p")[::-1])) == {
        ("shop-api", "crm-api", ""): (1, 0)
    }


@pytest.mark.parametrize(
    ("client_error", "server_error", "failed"),
    [(True, False, 1), (False, True, 1), (True, True, 1), (False, False, 0)],
)
def test_an_error_on_either_side_fails_the_request(client_error, server_error, failed):
    spans = call("a", "b", parent="p", client_error=client_error, server_error=server_error)
    assert edges_of(Trace("t1", spans)) == {("a", "b", ""): (1, failed)}


def test_producer_and_consumer_make_a_messaging_edge():
    spans = call(
        "crm-api",
        "mes-api",
        parent="p",
        client_kind=SpanKind.PRODUCER,
        server_kind=SpanKind.CONSUMER,
    )
    assert edges_of(Trace("t1", spans)) == {("crm-api", "mes-api", "messaging_system"): (1, 0)}


def test_counts_add_up_over_traces():
    traces = [
        Trace(f"t{i}", call("a", "b", trace_id=f"t{i}", parent="p", server_error=i == 0))
        for i in range(3)
    ]
    graph = ServiceGraph()
    for trace in traces:
        graph.add_trace(trace)
    assert graph.edges() == [Edge("a", "b", "", 3, 1)]


def db_client(attributes, resource_attributes=None, error=False):
    return span(
        "db",
        "p",
        0,
        5,
        resource=Resource("shop-api", resource_attributes or {}),
        kind=SpanKind.CLIENT,
        attributes=attributes,
        error=error,
    )


@pytest.mark.parametrize(
    ("attributes", "server"),
    [
        ({"db.system.name": "postgresql", "db.namespace": "shop"}, "shop"),  # semconv >= 1.26
        ({"db.system": "postgresql", "db.name": "shop"}, "shop"),  # older semconv
        ({"db.namespace": "new", "db.name": "old"}, "new"),  # db.namespace wins
        ({"db.system": "postgresql"}, "postgresql"),
        ({"db.system.name": "postgresql"}, "postgresql"),
        ({"db.name": "shop", "peer.service": "shop-db", "server.address": "pg1"}, "shop-db"),
        ({"db.name": "shop", "server.address": "pg1", "network.peer.address": "10.0.0.5"}, "pg1"),
        (
            {"db.name": "shop", "network.peer.address": "10.0.0.5", "network.peer.port": 5432},
            "10.0.0.5:5432",
        ),
        ({"db.name": "shop", "network.peer.address": "10.0.0.5"}, "10.0.0.5"),
    ],
)
def test_database_edges_are_named_by_tempos_precedence(attributes, server):
    assert edges_of(Trace("t1", [db_client(attributes)])) == {
        ("shop-api", server, "database"): (1, 0)
    }


def test_resource_attributes_name_the_database_before_span_attributes():
    client = db_client({"db.name": "from-span"}, resource_attributes={"db.name": "from-resource"})
    assert edges_of(Trace("t1", [client])) == {("shop-api", "from-resource", "database"): (1, 0)}


def test_a_failed_database_call_is_a_failed_database_edge():
    assert edges_of(Trace("t1", [db_client({"db.name": "shop"}, error=True)])) == {
        ("shop-api", "shop", "database"): (1, 1)
    }


def test_root_server_span_is_called_by_the_virtual_user():
    root = span("r", None, 0, 10, service="internet-shop", kind=SpanKind.SERVER)
    assert edges_of(Trace("t1", [root])) == {("user", "internet-shop", "virtual_node"): (1, 0)}


def test_root_consumer_with_a_peer_is_called_by_that_peer():
    root = span(
        "r",
        None,
        0,
        10,
        service="mes-api",
        kind=SpanKind.CONSUMER,
        attributes={"peer.service": "partner-feed"},
    )
    assert edges_of(Trace("t1", [root])) == {("partner-feed", "mes-api", "virtual_node"): (1, 0)}


def test_client_without_server_calls_the_virtual_peer_it_names():
    client = span(
        "c",
        "p",
        0,
        10,
        service="shop-api",
        kind=SpanKind.CLIENT,
        attributes={"peer.service": "payments"},
        error=True,
    )
    assert edges_of(Trace("t1", [client])) == {("shop-api", "payments", "virtual_node"): (1, 1)}


def test_unpaired_spans_without_peer_information_make_no_edge():
    spans = [
        span(
            "c",
            "p",
            0,
            10,
            service="shop-api",
            kind=SpanKind.CLIENT,
            attributes={"server.address": "s3.internal"},
        ),  # not a peer attribute in Tempo
        span("s", "absent-client", 0, 10, service="crm-api", kind=SpanKind.SERVER),
        span("i", None, 0, 10, service="crm-api", kind=SpanKind.INTERNAL),
    ]
    assert edges_of(Trace("t1", spans)) == {}


def test_spans_without_a_service_name_are_ignored():
    assert edges_of(Trace("t1", call("", "crm-api", parent="p"))) == {}


# --- self time and statistics --------------------------------------------------------------


def test_self_time_subtracts_the_union_of_children_cut_to_the_span():
    spans = [
        span("p", None, 0, 100),
        span("a", "p", 10, 40),
        span("b", "p", 30, 50),  # overlaps a: counted once
        span("c", "p", 90, 130),  # outlives p: counts until 100
        span("d", "p", -20, 5),  # starts before p: counts from 0
        span("e", "p", 200, 300),  # wholly outside: does not count
    ]
    assert self_times(SpanTree.build(spans))[0] == (100 - 40 - 10 - 5) * 1000


def test_self_time_of_a_leaf_and_of_a_single_child_parent():
    spans = [span("p", None, 0, 100), span("c", "p", 20, 70)]
    assert self_times(SpanTree.build(spans)) == [50_000, 50_000]


def test_operation_statistics():
    trace = Trace(
        "t1",
        [
            span("r", None, 0, 100, service="shop-api", name="POST /api/orders"),
            span("q1", "r", 10, 30, service="shop-api", name="SELECT", error=True),
            span("q2", "r", 40, 90, service="shop-api", name="SELECT"),
        ],
    )
    (orders, select) = operation_stats([trace])
    assert (orders.service, orders.operation, orders.count, orders.total_ns, orders.self_ns) == (
        "shop-api",
        "POST /api/orders",
        1,
        100_000,
        30_000,
    )
    assert (
        select.count,
        select.total_ns,
        select.self_ns,
        select.min_ns,
        select.max_ns,
        select.mean_ns,
        select.errors,
    ) == (2, 70_000, 70_000, 20_000, 50_000, 35_000, 1)


def test_a_span_list_changed_in_place_is_never_read_through_an_old_tree():
    spans = [span("r", None, 0, 10), span("c", "r", 2, 4)]
    first = Trace("t1", spans)
    assert SpanTree.of(first).children[0] == [1]
    # Same length, another shape: "c" now hangs below a new root.
    spans[0] = span("x", None, 0, 10)
    assert SpanTree.of(first).roots == [0, 1]
    spans[0] = span("r", None, 0, 10)
    spans.append(span("d", "r", 5, 8))
    assert SpanTree.of(first).children[0] == [1, 2]
    assert [s.span_id for s in critical_path(first)] == ["r", "d", "r", "c", "r"]


def test_threads_computing_critical_paths_each_get_their_own_trace():
    import sys
    import threading

    traces = [
        Trace(
            f"t{k}",
            [span("r", None, 0, 100)] + [span(f"c{k}-{i}", "r", i, i + 1) for i in range(k)],
        )
        for k in range(1, 9)
    ]
    expected = {t.trace_id: critical_path(t) for t in traces}
    wrong: list[str] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:

        def run(trace: Trace) -> None:
            for _ in range(200):
                if critical_path(trace) != expected[trace.trace_id]:
                    wrong.append(trace.trace_id)

        threads = [threading.Thread(target=run, args=(t,)) for t in traces for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
