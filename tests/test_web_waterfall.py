"""The waterfall's pure core: tree order, collapsing, windows, rows, minimap."""

from explorer.analysis.layout import TreeOrder, tree_order
from explorer.web.waterfall import (
    build_rows,
    hidden_runs,
    histogram,
    parse_collapsed,
    visible_count,
    visible_index,
    visible_window,
)
from tests.web_support import chain_trace, tree_trace


def names(trace, tree, rows):
    return [trace.spans[tree.order[r]].name for r in rows]


def test_depth_first_order_children_by_start_time():
    trace = tree_trace(fanout=2, depth=2)
    trace.spans.reverse()  # input order must not matter
    tree = tree_order(trace.spans)
    assert names(trace, tree, range(len(tree))) == [
        "POST /api/orders",
        "step 1.0",
        "step 2.0",
        "step 2.1",
        "step 1.1",
        "step 2.0",
        "step 2.1",
    ]
    assert list(tree.depth) == [0, 1, 2, 2, 1, 2, 2]
    assert list(tree.end) == [7, 4, 3, 4, 7, 6, 7]


def test_a_chain_of_100000_spans_needs_no_recursion():
    trace = chain_trace("deep", 100_000)
    tree = tree_order(trace.spans)
    assert tree.depth[99_999] == 99_999
    assert tree.end[0] == 100_000
    assert tree_order(trace.spans).to_bytes() == TreeOrder.from_bytes(tree.to_bytes()).to_bytes()


def test_parent_cycle_still_shows_every_span_once():
    trace = chain_trace("cycle", 3)
    trace.spans[0].parent_id = "c2"  # c0 -> c2 -> c1 -> c0
    tree = tree_order(trace.spans)
    assert sorted(tree.order) == [0, 1, 2]


def test_collapsing_hides_the_subtree_and_windows_skip_it():
    trace = tree_trace(fanout=3, depth=2)  # 13 rows: root, 3 x (child + 3 grandchildren)
    tree = tree_order(trace.spans)
    runs = hidden_runs(tree, {1, 2})  # row 2 is inside row 1's subtree: absorbed
    assert runs == [(2, 5)]
    assert visible_count(tree, runs) == 10
    assert visible_window(tree, runs, 0, 4) == [0, 1, 5, 6]
    assert visible_window(tree, runs, 2, 3) == [5, 6, 7]
    assert visible_index(5, runs) == 2
    assert visible_index(3, runs) is None
    everything = visible_window(tree, hidden_runs(tree, {0}), 0, 100)
    assert everything == [0]
    assert visible_window(tree, runs, 50, 10) == []


def test_rows_carry_bars_errors_and_critical_path():
    trace = tree_trace(fanout=2, depth=2)
    tree = tree_order(trace.spans)
    rows = build_rows(
        trace.spans, tree, range(len(tree)), {1}, {0}, trace.start_ns, trace.end_ns - trace.start_ns
    )
    assert rows[0].critical and not rows[1].critical
    assert rows[0].bar_x == 0 and rows[0].bar_width == 1000
    assert rows[1].collapsed and rows[1].has_children and not rows[2].has_children
    assert rows[-1].error
    assert 0 < rows[2].bar_x < 1000


def test_histogram_counts_starts_and_errors():
    trace = tree_trace(fanout=2, depth=2)
    buckets = histogram(trace.spans, trace.start_ns, 100_000_000, buckets=10)
    assert sum(b.spans for b in buckets) == 7
    assert sum(b.errors for b in buckets) == 1
    assert max(b.height for b in buckets) == 100
    assert buckets[0].top == 0


def test_collapsed_parameter_ignores_garbage():
    assert parse_collapsed("1,2,x,-3,99999999999999,5", 4) == {1, 2}
    assert parse_collapsed(None, 10) == set()
    assert parse_collapsed("\x00,../..", 10) == set()
