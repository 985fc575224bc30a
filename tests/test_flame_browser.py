"""The flame graph and the comparison's diff graph in Debian's Chromium, in English and
Russian, at 1366 x 768 and 420 px wide: boxes drawn in their services' legend colours, the
tooltip, zoom by click and by dragging, the span opened by Enter, no sideways scroll; the
diff graph's marks. One flame page and one comparison page per language."""

import pytest

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from explorer.traces.model import SpanKind, Trace
from tests.browser_support import log_in, screenshot
from tests.test_web_browser import serious_violations
from tests.test_web_diff_graph import A_ID, B_ID, EVIL
from tests.test_web_diff_graph import _trace as diff_trace
from tests.test_web_trace_browser import in_language, wait_until
from tests.trace_support import make_span
from tests.web_support import T0

TRACE_ID = "fa" * 16
WIDE = {"width": 1366, "height": 768}
NARROW = {"width": 420, "height": 800}
MS = 10**6
WORDS = {
    "en": {"self": "self time", "zoomed": "Zoomed into", "slower": "slower in B"},
    "ru": {"self": "собственное время", "zoomed": "Увеличено", "slower": "медленнее в B"},
}


def flame_trace() -> Trace:
    """shop-api's root, mes-api and crm-api under it, a service outside the mapping."""

    def span(sid, parent, service, start, end, **kw):
        return make_span(
            sid,
            parent,
            service,
            trace_id=TRACE_ID,
            name=kw.pop("name", f"{service} {sid}"),
            start_ns=T0 + start * MS,
            end_ns=T0 + end * MS,
            **kw,
        )

    return Trace(
        TRACE_ID,
        [
            span("root", None, "shop-api", 0, 100, kind=SpanKind.SERVER, name=EVIL),
            span("mes", "root", "mes-api", 5, 60),
            span("price", "mes", "mes-api", 10, 50),
            span("db", "price", "billing<x>", 12, 30),
            span("crm", "root", "crm-api", 62, 95, error=True),
            span("tiny", "crm", "crm-api", 63, 63),
        ],
    )


@pytest.fixture
def stored(transactional_db):
    reset_caches()
    store_traces(
        [flame_trace(), diff_trace(A_ID, 100, "only A", 50), diff_trace(B_ID, 300, "only B", 10)]
    )
    yield
    reset_caches()


def drawn(page) -> bool:
    return page.evaluate("(document.getElementById('flame').dataset.drawn || '0') !== '0'")


def check_colours(page) -> None:
    """Each drawn service's box (away from its text and edges) has its legend's colour."""
    pixels = page.evaluate(
        """(() => {
        const canvas = document.getElementById('flame');
        const view = canvas.flame.view();
        const g = canvas.getContext('2d');
        const ratio = canvas.width / canvas.clientWidth;
        const seen = {};
        for (let i = 0; i < view.row.length; i++) {
          const r = canvas.flame.rect(i);
          if (view.error[i] || r[2] < 12 || view.service[i] in seen) continue;
          const x = Math.floor((r[0] + r[2] - 2) * ratio), y = Math.floor((r[1] + 4) * ratio);
          const d = g.getImageData(x, y, 1, 1).data;
          seen[view.service[i]] = [d[0], d[1], d[2]];
        }
        const legend = {};
        document.querySelectorAll('#flame-legend li').forEach(li => {
          legend[li.textContent] = getComputedStyle(li.querySelector('.swatch'))
            .backgroundColor.match(/\\d+/g).map(Number);
        });
        const names = {};
        for (const s in seen) names[view.services[s].name] = seen[s];
        return {seen: names, legend: legend};
        })()"""
    )
    assert len(pixels["seen"]) >= 3, pixels
    for service, rgb in pixels["seen"].items():
        assert rgb == pixels["legend"][service], (service, rgb, pixels["legend"])
    colours = {tuple(rgb) for rgb in pixels["legend"].values()}
    assert len(colours) == len(pixels["legend"]) == 4  # 4 services, 4 colours


def box_point(page, index: int) -> tuple[float, float]:
    r = page.evaluate(f"document.getElementById('flame').flame.rect({index})")
    box = page.locator("#flame").bounding_box()
    return box["x"] + r[0] + r[2] / 2, box["y"] + r[1] + r[3] / 2


def check_flame(page, base: str, language: str) -> None:
    words = WORDS[language]
    page.set_viewport_size(WIDE)
    page.goto(f"{base}/traces/{TRACE_ID}/")
    page.click("#flame-link")
    # The click only starts the navigation: polling at once could read the trace page.
    page.wait_for_url(f"**/traces/{TRACE_ID}/flame/")
    wait_until(page, "(document.getElementById('flame').dataset.drawn || '0') !== '0'")
    assert page.evaluate("document.getElementById('flame').flame.view().row.length") == 5
    check_colours(page)
    assert page.is_visible("#flame-density-help")  # the 0 ms span is not drawn
    # Hover the mes-api box: the tooltip names it, with its self time.
    x, y = box_point(page, 1)
    page.mouse.move(x, y)
    wait_until(page, "!document.getElementById('flame-tip').hidden")
    tip = page.inner_text("#flame-tip")
    assert "mes-api" in tip and words["self"] in tip, tip
    screenshot(page, f"flame-{language}")
    if language == "ru":  # axe-core once: the page is the same in both
        assert serious_violations(page) == []
    # A click zooms into the subtree of mes-api: its box spans the width.
    page.mouse.click(x, y)
    wait_until(page, "document.getElementById('flame').dataset.root === '1'")
    assert words["zoomed"] in page.inner_text("#flame-status")
    assert page.is_visible("#flame-reset")
    rect = page.evaluate("document.getElementById('flame').flame.rect(0)")
    assert rect[0] == 0 and rect[2] > 1000, rect
    page.click("#flame-reset")
    wait_until(page, "document.getElementById('flame').dataset.root === '-1'")
    # A drag over the first 10 % zooms into that time range.
    box = page.locator("#flame").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + 10, steps=3)
    page.mouse.up()
    wait_until(page, "document.getElementById('flame').flame.view().window !== null")
    assert page.evaluate("document.getElementById('flame').flame.view().duration_ns") < 12 * MS
    page.click("#flame-reset")
    wait_until(page, "document.getElementById('flame').flame.view().window === null")
    # 420 px: redrawn to the width, nothing scrolls sideways.
    page.set_viewport_size(NARROW)
    wait_until(page, "document.getElementById('flame').width <= 420 * devicePixelRatio")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"] + 1
    screenshot(page, f"flame-narrow-{language}")
    # Keyboard: focus the graph, move to the first child, Enter opens its span.
    page.focus("#flame")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.getElementById('flame').flame.focus()") == 1
    page.keyboard.press("Enter")
    page.wait_for_url("**/spans/mes/?row=1")
    assert "mes-api" in page.inner_text("main")


def check_diff_graph(page, base: str, language: str) -> None:
    page.set_viewport_size(WIDE)
    page.goto(f"{base}/compare/?a={A_ID}&b={B_ID}")
    kinds = page.eval_on_selector_all("#diff-graph .diff-node", "ns => ns.map(n => n.dataset.kind)")
    assert sorted(kinds) == ["added", "faster", "removed", "same", "slower"]
    marks = page.eval_on_selector_all("#diff-graph .mark", "ms => ms.map(m => m.textContent)")
    assert sorted(marks) == sorted(["▲", "=", "−", "+", "▼"])
    assert WORDS[language]["slower"] in page.inner_text("#diff-legend")
    assert EVIL in page.inner_text("#diff-graph")  # shown as text, never as markup
    # Each kind looks different without colour: border styles differ.
    styles = page.eval_on_selector_all(
        "#diff-legend .diff-node",
        "ns => ns.map(n => getComputedStyle(n).borderStyle + getComputedStyle(n).borderWidth)",
    )
    assert len(set(styles)) >= 4, styles
    screenshot(page, f"diff-graph-{language}")
    if language == "ru":
        assert serious_violations(page) == []
    page.set_viewport_size(NARROW)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"] + 1
    page.locator("#diff-graph").scroll_into_view_if_needed()
    screenshot(page, f"diff-graph-narrow-{language}")


@pytest.mark.browser
@pytest.mark.slow  # a real Chromium: about 5 s a language, one flame and one compare page each
@pytest.mark.parametrize("language", ["en", "ru"])
def test_flame_graph_and_diff_graph(page, live_server, stored, language):
    log_in(page, live_server.url, "architect")
    in_language(page, live_server.url, language)
    check_flame(page, live_server.url, language)
    check_diff_graph(page, live_server.url, language)
