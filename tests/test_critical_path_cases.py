"""The critical path against Jaeger UI's own test cases (CriticalPath/testCases, 2026), each
rebuilt here on the project's own data with the same shape, plus the cases its 2026 rules add:
several roots, orphans (not followed), producer/consumer pruning, and the tie between two
children cut at their parent's end. Times are microseconds. Last, the rules written plainly
a second time (recursive, quadratic) and compared with the fast walk on random traces."""

import random

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


# --- the rules once more, written plainly, against the fast walk ------------------------------


def plain_critical_path(spans):
    """Jaeger UI's rules restated as directly as possible (recursive, quadratic): roots by
    start µs then trace order; per root, a map of its subtree without consumers of producers,
    children fitted into their parent in preorder (a child whose parent was dropped goes
    too), then from the end backwards the last finishing child before the returning time."""
    us = {
        x.span_id: (x.start_ns // 1000, x.start_ns // 1000 + (x.end_ns - x.start_ns) // 1000)
        for x in spans
    }
    kind = {x.span_id: x.kind for x in spans}
    kids = {x.span_id: [c.span_id for c in spans if c.parent_id == x.span_id] for x in spans}
    kids = {i: sorted(k, key=lambda c: us[c][0]) for i, k in kids.items()}  # a stable sort
    roots = sorted((x.span_id for x in spans if x.parent_id is None), key=lambda i: us[i][0])
    sections: list = []
    for root in roots:
        times, parent = plain_fit(root, us, kind, kids)
        plain_walk(root, root, None, times, parent, kids, sections)
    return sections


def plain_fit(root, us, kind, kids):
    order, stack = [], [root]
    while stack:  # preorder, children left to right
        node = stack.pop()
        order.append(node)
        stack.extend(reversed([c for c in kids[node] if not (kind[node] == P and kind[c] == C)]))
    parent = {c: p for p in order for c in kids[p] if c in order}
    times = {root: us[root]}
    for node in order[1:]:
        if parent[node] not in times:
            continue  # its parent was dropped
        (start, end), (p_start, p_end) = us[node], times[parent[node]]
        if start < p_end and end > p_start:
            times[node] = (max(start, p_start), min(end, p_end))
    return times, parent


def plain_walk(node, root, returning, times, parent, kids, sections):
    lfc, best = None, -1
    for c in kids[node]:
        end = times[c][1] if c in times else -1
        if end > best and (returning is None or end < returning):
            lfc, best = c, end
    until = times[node][1] if returning is None else returning
    if lfc is not None:
        if best != until:
            sections.append((node, best, until))
        plain_walk(lfc, root, None, times, parent, kids, sections)
        return
    if times[node][0] != until:
        sections.append((node, times[node][0], until))
    if node != root:
        plain_walk(parent[node], root, times[node][0], times, parent, kids, sections)


def random_trace(rnd):
    kinds = [INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, P, C]
    spans = []
    for i in range(rnd.randint(1, 12)):
        r = rnd.random()
        parent = None if i == 0 or r < 0.1 else "gone" if r < 0.2 else f"s{rnd.randrange(i)}"
        start = rnd.randint(0, 100_000) * rnd.choice([1, 1000])  # ns, often sub-µs
        end = start + rnd.randint(0, 60_000) * rnd.choice([1, 1000])
        spans.append(
            s(f"s{i}", parent, start / 1000, end / 1000, kind=rnd.choice(kinds), follows=r > 0.9)
        )
    return spans


def test_the_walk_equals_the_rules_written_plainly_on_random_traces():
    rnd = random.Random(30)
    for _ in range(300):
        spans = random_trace(rnd)
        got = [(x.span_id, x.start_us, x.end_us) for x in critical_path(Trace("t", spans))]
        assert got == plain_critical_path(spans), spans
