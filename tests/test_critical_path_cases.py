"""The critical path against Jaeger UI's own test cases (CriticalPath/testCases, 2026), each
rebuilt here on the project's own data with the same shape, plus the cases its 2026 rules add:
several roots, orphans (not followed), producer/consumer pruning, and the tie between two
children cut at their parent's end. Times are microseconds."""

import pytest

from explorer.analysis import critical_path
from explorer.traces.model import SpanKind, Trace
from tests.trace_support import span_factory

P, C, INTERNAL = SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL


s = span_factory(unit=1000, trace_id="t")  # times in µs


CASES = {
    # test1: two sequential children; the parent fills the gaps
    "sequential-children": (
        [s("c", None, 1, 101), s("e", "c", 50, 60), s("d", "c", 20, 40)],
        [("c", 60, 101), ("e", 50, 60), ("c", 40, 50), ("d", 20, 40), ("c", 1, 20)],
    ),
    # test2: overlapping children; the one finishing last hides the other
    "overlapping-children": (
        [s("x", None, 1, 101), s("a", "x", 10, 50), s("b", "x", 20, 60)],
        [("x", 60, 101), ("b", 20, 60), ("x", 1, 20)],
    ),
    # test3: a child starting after its producer parent ended is dropped
    "child-after-parent-end": (
        [s("p", None, 100, 140, kind=P), s("q", "p", 200, 500, kind=SpanKind.CLIENT)],
        [("p", 100, 140)],
    ),
    # test4: a dropped child takes its descendants along
    "dropped-child-with-descendants": (
        [s("a", None, 1, 31), s("b", "a", 40, 80), s("c", "b", 50, 60)],
        [("a", 1, 31)],
    ),
    # test5: the consumer of a producer (here also FOLLOWS_FROM) is pruned with its subtree
    "consumer-of-producer-pruned": (
        [
            s("a", None, 1, 31, kind=P),
            s("b", "a", 10, 20, kind=C, follows=True),
            s("c", "b", 12, 14),
        ],
        [("a", 1, 31)],
    ),
    # test6: a grandchild starting before its (cut) parent is cut at the parent's start
    "grandchild-starts-before-parent": (
        [s("a", None, 1, 30), s("b", "a", 15, 35), s("c", "b", 10, 25)],
        [("b", 25, 30), ("c", 15, 25), ("a", 1, 15)],
    ),
    # test7: a chain of children each outliving its parent, cut level by level
    "chain-outliving-parents": (
        [s("a", None, 1, 30), s("b", "a", 15, 35), s("c", "b", 20, 40)],
        [("c", 20, 30), ("b", 15, 20), ("a", 1, 15)],
    ),
    # test8: a child covering its parent on both sides is cut to it
    "child-covering-parent": ([s("a", None, 10, 30), s("b", "a", 5, 35)], [("b", 10, 30)]),
    # test9: a child wholly before its parent is dropped
    "child-before-parent": ([s("a", None, 10, 30), s("b", "a", 1, 5)], [("a", 10, 30)]),
    # 2026: every span without a parent reference is followed, by start time; an orphan (its
    # parent absent from the trace) is not, and nothing of its subtree is on the path
    "several-roots-and-an-orphan": (
        [
            s("late", None, 200, 260),
            s("r", None, 0, 100),
            s("rc", "r", 30, 80),
            s("orphan", "gone", 120, 150),
            s("oc", "orphan", 125, 130),
        ],
        [("r", 80, 100), ("rc", 30, 80), ("r", 0, 30), ("late", 200, 260)],
    ),
    # an orphan outlasting the true root, and starting before it, changes nothing: it is not
    # a child of the root and is not followed itself
    "orphan-overlapping-the-root": (
        [
            s("o", "gone", 0, 500),
            s("r", None, 10, 100),
            s("rc", "r", 20, 60),
            s("oc", "o", 50, 400),
        ],
        [("r", 60, 100), ("rc", 20, 60), ("r", 10, 20)],
    ),
    # a trace of orphans only (its root was never received) has no critical path
    "orphans-only": (
        [s("a", "gone", 0, 100), s("b", "lost", 50, 150), s("bc", "b", 60, 90)],
        [],
    ),
    # orphans of one missing parent, however many, and each one's subtree, are all left out
    "many-orphans-of-one-missing-parent": (
        [
            s("r", None, 0, 10),
            s("o1", "gone", 2, 8),
            s("o2", "gone", 3, 30),
            s("o2c", "o2", 4, 29),
        ],
        [("r", 0, 10)],
    ),
    # a span naming itself as parent, given as it is, has a parent reference: not followed
    # (reading a trace breaks such a cycle first; then it is followed, see test_analyze_command)
    "span-its-own-parent": ([s("self", "self", 0, 10), s("r", None, 20, 30)], [("r", 20, 30)]),
    # 2026: a consumer of a producer is pruned, a consumer under any other span is kept
    "consumer-under-non-producer-kept": (
        [
            s("r", None, 0, 100),
            s("c", "r", 40, 70, kind=C),
            s("p", "r", 10, 30, kind=P),
            s("pc", "p", 15, 29, kind=C),
        ],
        [("r", 70, 100), ("c", 40, 70), ("r", 30, 40), ("p", 10, 30), ("r", 0, 10)],
    ),
    # 2026: FOLLOWS_FROM children that are not consumers of producers stay
    "follows-from-kept": (
        [s("r", None, 0, 100), s("f", "r", 50, 90, follows=True)],
        [("r", 90, 100), ("f", 50, 90), ("r", 0, 50)],
    ),
    # the tie: both children run past the parent's end and are cut there; the first to start
    # wins, not the one whose original end is later
    "tie-cut-at-parent-end-earliest-start-wins": (
        [s("r", None, 0, 100), s("long", "r", 60, 300), s("early", "r", 40, 150)],
        [("early", 40, 100), ("r", 0, 40)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_jaeger_ui_case(name):
    spans, expected = CASES[name]
    got = [(x.span_id, x.start_us, x.end_us) for x in critical_path(Trace("t", spans))]
    assert got == expected
