"""The diff graph of /compare/: the merged tree as nested boxes, each marked added, removed,
slower, faster or about the same by a text mark and a class (not colour alone); names
escaped; in English and Russian."""

import re
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from explorer.traces.model import Trace
from tests.trace_support import span_factory
from tests.web_support import MES, T0

A_ID, B_ID = "a" * 32, "b" * 32
EVIL = '<img src=x onerror="alert(1)">'


def _trace(trace_id: str, root_ms: int, extra: str, evil_ms: int) -> Trace:
    span = span_factory(T0, trace_id=trace_id, resource=MES)  # ns after T0
    ms = 10**6
    return Trace(
        trace_id,
        [
            span("r", None, 0, root_ms * ms, name="calculate price"),
            span("m", "r", 0, ms, name="GET model"),
            span("e", "r", ms, (1 + evil_ms) * ms, name=EVIL),
            span("x", "m", 0, 10, name=extra),
        ],
    )


@pytest.fixture
def pair(db):
    reset_caches()
    # B: the root slower, the evil span faster, "GET model" the same, one leaf each side.
    store_traces([_trace(A_ID, 100, "only A", 50), _trace(B_ID, 300, "only B", 10)])
    yield
    reset_caches()


def graph_of(body: str) -> ET.Element:
    start = body.index('<div class="diff-graph"')
    return ET.fromstring(body[start : body.index("</div>", start) + 6])  # noqa: S314 - our page


def boxes(graph: ET.Element) -> dict[str, tuple[str, str, int]]:
    """{name: (kind, mark, depth in the lists)} of every box."""
    found = {}

    def walk(element, depth):
        for child in element:
            if child.tag == "span" and "diff-node" in child.get("class", ""):
                what = child.find("span[@class='what']")
                name = "".join(what.itertext()).split(" ", 1)[1]
                mark = child.find("span[@class='mark']").text
                found[name] = (child.get("data-kind"), mark, depth)
            walk(child, depth + (child.tag == "ul"))

    walk(graph, 0)
    return found


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_graph_marks_each_path_and_nests_children(client, login_as, pair, language):
    login_as("architect")
    if language == "ru":
        client.post(reverse("set_language"), {"language": "ru"})
    body = client.get(reverse("web:compare"), {"a": A_ID, "b": B_ID}).content.decode()
    found = boxes(graph_of(body))
    assert found == {
        "calculate price": ("slower", "▲", 1),
        "GET model": ("same", "=", 2),
        "only A": ("removed", "−", 3),
        "only B": ("added", "+", 3),
        EVIL: ("faster", "▼", 2),
    }
    assert "<img" not in body and "&lt;img src=x" in body
    legend = body[body.index('id="diff-legend"') : body.index('<div class="diff-graph"')]
    words = ["только в B", "медленнее"] if language == "ru" else ["only in B", "slower in B"]
    assert all(word in legend for word in words)
    hidden = re.findall(r'class="visually-hidden">([^<]+):</span>', body)
    assert len(hidden) == 5 and ("медленнее" in hidden if language == "ru" else "slower" in hidden)


def test_a_graph_of_many_paths_is_cut_and_says_so(client, login_as, db, monkeypatch):
    from explorer.web import diff_graph

    monkeypatch.setattr(diff_graph, "MAX_GRAPH_NODES", 2)
    reset_caches()
    store_traces([_trace(A_ID, 100, "only A", 50), _trace(B_ID, 300, "only B", 10)])
    login_as("architect")
    body = client.get(reverse("web:compare"), {"a": A_ID, "b": B_ID}).content.decode()
    assert len(boxes(graph_of(body))) == 2  # still well nested: it parses
    assert "The graph shows the first 2 paths" in body
    reset_caches()
