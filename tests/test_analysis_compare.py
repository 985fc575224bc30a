"""The structure diff of two traces (explorer.analysis.compare), on hand-built traces."""

from explorer.analysis.compare import BOTH, ONLY_A, ONLY_B, compare_traces
from explorer.traces.model import Trace
from tests.trace_support import span_factory

T0 = 1_700_000_000 * 10**9
MS = 10**6


span = span_factory(T0, MS)  # times in ms after T0


def price_trace(trace_id, calculate_ms, retries=0, with_cache=False):
    """mes-api consumes "order.submitted", reads the model, calculates the price."""
    spans = [
        span(
            "r",
            None,
            0,
            10 + calculate_ms,
            trace_id=trace_id,
            service="mes-api",
            name="consume order.submitted",
        ),
        span("f", "r", 1, 5, trace_id=trace_id, service="mes-api", name="GET s3 model"),
    ]
    for i in range(retries + 1):
        spans.append(
            span(
                f"c{i}",
                "r",
                6,
                6 + calculate_ms,
                trace_id=trace_id,
                service="mes-api",
                name="calculate price",
                error=i < retries,
            )
        )
    if with_cache:
        spans.append(
            span("k", "r", 2, 3, trace_id=trace_id, service="mes-api", name="GET price cache")
        )
    return Trace(trace_id, spans)


def rows(diff):
    return [(node.depth, node.name, node.status, node.count_a, node.count_b) for node in diff.nodes]


def test_paths_only_in_a_only_in_b_and_in_both_with_the_time_change():
    slow = price_trace("a", calculate_ms=900, retries=2)
    typical = price_trace("b", calculate_ms=40, with_cache=True)
    diff = compare_traces(slow, typical)
    assert rows(diff) == [
        (0, "consume order.submitted", BOTH, 1, 1),
        (1, "GET s3 model", BOTH, 1, 1),
        (1, "GET price cache", ONLY_B, 0, 1),
        (1, "calculate price", BOTH, 3, 1),
    ]
    calculate = diff.nodes[-1]
    assert calculate.duration_a_ns == 3 * 900 * MS and calculate.duration_b_ns == 40 * MS
    assert calculate.change_ns == (40 - 2700) * MS and calculate.errors_a == 2
    assert diff.nodes[0].change_ns == (50 - 910) * MS
    assert diff.count(BOTH) == 3 and diff.count(ONLY_B) == 1 and diff.count(ONLY_A) == 0
    assert (diff.span_count_a, diff.span_count_b) == (5, 4)
    assert diff.duration_a_ns == 910 * MS and diff.duration_b_ns == 50 * MS
    reverse = compare_traces(typical, slow)
    assert [n.status for n in reverse.nodes] == [BOTH, BOTH, ONLY_A, BOTH]


def test_the_same_name_under_different_parents_is_a_different_path():
    a = Trace(
        "a",
        [
            span("1", None, 0, 10, trace_id="a", service="shop-api", name="POST /orders"),
            span("2", "1", 1, 2, trace_id="a", service="shop-api", name="INSERT"),
            span("3", "1", 3, 9, trace_id="a", service="crm-api", name="handle"),
            span("4", "3", 4, 5, trace_id="a", service="crm-api", name="INSERT"),
        ],
    )
    b = Trace(
        "b",
        [
            span("1", None, 0, 10, trace_id="b", service="shop-api", name="POST /orders"),
            span("2", "1", 1, 2, trace_id="b", service="shop-api", name="INSERT"),
        ],
    )
    diff = compare_traces(a, b)
    assert [(n.service, n.name, n.status) for n in diff.nodes] == [
        ("shop-api", "POST /orders", BOTH),
        ("shop-api", "INSERT", BOTH),
        ("crm-api", "handle", ONLY_A),
        ("crm-api", "INSERT", ONLY_A),
    ]
    assert diff.nodes[3].path == (
        ("shop-api", "POST /orders"),
        ("crm-api", "handle"),
        ("crm-api", "INSERT"),
    )


def test_different_roots_share_nothing_and_empty_traces_are_fine():
    a = Trace("a", [span("1", None, 0, 10, trace_id="a", service="shop-api", name="GET /a")])
    b = Trace("b", [span("1", None, 0, 10, trace_id="b", service="shop-api", name="GET /b")])
    assert [n.status for n in compare_traces(a, b).nodes] == [ONLY_A, ONLY_B]
    empty = compare_traces(Trace("x", []), Trace("y", []))
    assert empty.nodes == [] and empty.duration_a_ns == 0


def test_a_chain_of_20000_spans_needs_no_recursion():
    length = 20_000  # far beyond the recursion limit
    chain = Trace(
        "a",
        [
            span(
                f"c{i}", f"c{i - 1}" if i else None, 0, 1, trace_id="a", service="svc", name="step"
            )
            for i in range(length)
        ],
    )
    diff = compare_traces(chain, Trace("b", chain.spans[:10]))
    assert len(diff.nodes) == length and diff.nodes[-1].depth == length - 1
    assert diff.count(BOTH) == 10 and diff.count(ONLY_A) == length - 10
