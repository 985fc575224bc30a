"""The trace page, the comparison and the system map in Debian's Chromium, in English and
Russian: bars with width (no decimal comma in their geometry), zoom by dragging, levels,
search hits, details following j / k, a huge trace scrolled to its end, axe-core."""

import importlib.util
import io
import re
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from tests.browser_support import log_in, screenshot
from tests.journey_support import complete_order
from tests.test_web_browser import serious_violations
from tests.web_support import T0, price_trace, tree_trace

TRACE_ID = "ab" * 16
HUGE_ID = "1f" * 16
HUGE_SPANS = 300_001
LANGUAGES = ["en", "ru"]


@pytest.fixture
def stored(transactional_db):
    reset_caches()
    store_traces(
        [
            *complete_order("A-100001").traces,
            tree_trace(TRACE_ID),
            price_trace("5" * 32, 900),
            price_trace("6" * 32, 40, cached=True),
            price_trace("7" * 32, 50, cached=True),
        ]
    )
    call_command("orders", "--refresh", stdout=io.StringIO())
    yield
    reset_caches()


def in_language(page, base: str, language: str) -> None:
    if language == "en":
        return
    page.goto(base + "/settings/")
    page.select_option("#language-select", language)
    page.click(".language-form button")
    page.wait_for_load_state()


def wait_until(page, expression: str, seconds: float = 10.0) -> None:
    """Polls a JavaScript expression until it is true (wait_for_function compiles it in the
    page, which the pages' CSP forbids)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {seconds} s: {expression}")
        page.wait_for_timeout(50)


def bar_widths(page) -> list[float]:
    return page.eval_on_selector_all(
        "#waterfall tr.span-row svg.bar rect",
        "rects => rects.map(r => r.getBoundingClientRect().width)",
    )


def zoom_of(page) -> list[float]:
    return page.evaluate("document.getElementById('waterfall').waterfall.zoom()")


def check_bars_and_minimap(page, errors: list[str], language: str) -> None:
    """Bars have a width, the minimap draws its spans, the duration header fits."""
    widths = bar_widths(page)
    assert widths and all(w > 0 for w in widths) and max(widths) > 100, widths[:5]
    assert (
        page.eval_on_selector_all(
            "#minimap rect:not(.zoom-window):not(.zoom-selection)",
            "rs => rs.filter(r => r.getBBox().height > 0).length",
        )
        > 3
    )
    assert not [e for e in errors if "Expected length" in e or "attribute" in e]
    header = page.locator("th.duration-head")
    assert header.evaluate("th => th.scrollWidth <= th.clientWidth")  # "Длительность" fits
    screenshot(page, f"trace-{language}")


def check_zoom_by_dragging(page, language: str) -> None:
    """Drag over the minimap from 20 % to 40 % of the trace, then over the time axis (half
    of the zoomed range), then Esc."""
    box = page.locator("#minimap").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * 0.4, y, steps=4)
    page.mouse.up()
    zoom = zoom_of(page)
    assert abs(zoom[0] - 0.2) < 0.02 and abs(zoom[1] - 0.4) < 0.02, zoom
    view = [float(v) for v in page.get_attribute("#row-0 svg.bar", "viewBox").split()]
    assert abs(view[0] - 200) < 20 and abs(view[2] - 200) < 20, view
    assert page.is_visible("#zoom-reset")
    screenshot(page, f"trace-zoomed-{language}")
    axis = page.locator("#time-axis").bounding_box()
    page.mouse.move(axis["x"] + 2, axis["y"] + axis["height"] / 2)
    page.mouse.down()
    page.mouse.move(axis["x"] + axis["width"] / 2, axis["y"] + axis["height"] / 2, steps=5)
    page.mouse.up()
    zoom = zoom_of(page)
    assert 0.19 < zoom[0] < 0.22 and abs(zoom[1] - 0.3) < 0.02, zoom
    page.keyboard.press("Escape")
    assert zoom_of(page) == [0, 1]
    assert not page.is_visible("#zoom-reset")


def check_keys_move_the_details(page) -> None:
    """j / k: the focus moves and the details panel follows it; keys break at separators."""
    page.locator("#waterfall-scroll").focus()
    for _ in range(3):
        page.keyboard.press("j")
    assert page.evaluate("document.activeElement.closest('tr').dataset.row") == "2"
    # Depth first: row 2 is the first child of the first child (s4).
    wait_until(
        page,
        "document.querySelector('#span-title') && document.querySelector("
        "'#span-panel').textContent.includes('s4')",
    )
    page.keyboard.press("k")
    wait_until(page, "document.querySelector('#span-panel').textContent.includes('s1')")
    page.click("#row-0 a.span-link")
    page.wait_for_selector("#span-panel table.kv th wbr", state="attached")


def check_search_hits(page) -> None:
    """Search hits: next / previous, highlighted."""
    assert page.locator("tr.is-match").count() >= 1  # those of the 9 in the drawn rows
    assert page.inner_text("#hit-status") == "9"
    page.click("#hit-next")
    page.wait_for_selector("tr.is-current-hit")
    first = page.get_attribute("tr.is-current-hit", "data-row")
    page.click("#hit-next")
    wait_until(
        page,
        f"document.querySelector('tr.is-current-hit')"
        f" && document.querySelector('tr.is-current-hit').dataset.row"
        f" !== '{first}'",
    )
    page.click("#hit-prev")
    wait_until(page, f"document.querySelector('tr.is-current-hit').dataset.row === '{first}'")


def check_levels_and_critical_path(page) -> None:
    """Only the root and its children, then one more level under one of them; the critical
    path toggle."""
    page.select_option("#depth-select", value="2")
    wait_until(page, "document.getElementById('waterfall').waterfall.total() === 4")
    page.wait_for_selector("#row-41 button.toggle[aria-expanded='false']")
    page.click("#row-41 button.toggle")
    wait_until(page, "document.getElementById('waterfall').waterfall.total() === 7")
    page.wait_for_selector("#row-42")
    page.uncheck("#show-critical")
    assert "hide-critical" in page.get_attribute("#waterfall", "class")


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_waterfall_bars_zoom_levels_hits_and_details(page, live_server, stored, language):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server.url, "analyst")
    in_language(page, live_server.url, language)
    page.goto(f"{live_server.url}/traces/{TRACE_ID}/?q=step%203.1")
    page.wait_for_selector("#waterfall tr.span-row")
    check_bars_and_minimap(page, errors, language)
    check_zoom_by_dragging(page, language)
    check_keys_move_the_details(page)
    check_search_hits(page)
    check_levels_and_critical_path(page)
    assert serious_violations(page) == []


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_compare_with_a_typical_trace(page, live_server, stored, language):
    log_in(page, live_server.url, "support")
    in_language(page, live_server.url, language)
    page.goto(f"{live_server.url}/traces/{'5' * 32}/")
    page.click(".compare-links a >> nth=0")
    page.wait_for_selector("#compare-table")
    assert page.input_value("#compare-b") == "7" * 32  # the median of the same root
    assert page.locator("tr.diff-row.only_b").count() == 1
    assert page.locator("tr.diff-row.both").count() == 2
    assert page.locator("tr.diff-row.both.faster").count() >= 1
    screenshot(page, f"compare-{language}")
    # Another pair, typed in.
    page.fill("#compare-b", "6" * 32)
    page.click(".compare-form button.primary")
    page.wait_for_url(re.compile(r".*b=6{32}.*"))
    assert serious_violations(page) == []


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_system_map_and_home_pages(page, live_server, stored, language):
    log_in(page, live_server.url, "architect")
    in_language(page, live_server.url, language)
    page.goto(f"{live_server.url}/map/?window=7d")
    page.wait_for_selector("figure.diagram svg")
    assert page.locator("svg g.c4-metric").count() >= 1  # metrics under their boxes
    header = page.locator("thead th.num >> nth=1").inner_text()
    assert header in ("Per hour", "В час")
    assert serious_violations(page) == []
    screenshot(page, f"map-{language}")
    # The header keeps the language menu and its button on one line, the admin is linked.
    page.goto(f"{live_server.url}/accounts/audit/")
    select = page.locator("#language-select").bounding_box()
    button = page.locator(".language-form button").bounding_box()
    assert abs(select["y"] - button["y"]) < select["height"]
    page.goto(f"{live_server.url}/")
    assert page.locator(".site-nav a[href='/admin/']").count() == 1


def big_trace(trace_id: str, spans: int):
    """The benchmark's huge trace (scripts/bench_web.py): order units of 10 spans."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "bench_web.py"
    spec = importlib.util.spec_from_file_location("bench_web_traces", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.big_trace(trace_id, spans, T0)


@pytest.mark.browser
@pytest.mark.slow
def test_a_huge_trace_scrolls_to_its_last_row_within_a_second(page, live_server, transactional_db):
    """300,001 rows: more than the scroll area's pixel cap, so the scaled scrolling is the one
    tested (scripts/bench_web.py measures the 1,000,000-span trace: trace_scroll_end_ms_1m)."""
    reset_caches()
    store_traces([big_trace(HUGE_ID, HUGE_SPANS)])
    log_in(page, live_server.url, "analyst")
    page.goto(f"{live_server.url}/traces/{HUGE_ID}/")
    page.wait_for_selector("#waterfall tr.span-row")
    total = page.evaluate("document.getElementById('waterfall').waterfall.total()")
    assert total == HUGE_SPANS
    assert page.evaluate("document.getElementById('waterfall-scroll').scrollHeight") < 9e6
    # Somewhere in the middle first: the index shown matches the scaled scroll position.
    page.evaluate("document.getElementById('waterfall').waterfall.scrollToIndex(150000)")
    page.wait_for_selector("#waterfall tr.span-row[data-index='150000']")
    started = time.perf_counter()
    page.evaluate(
        "(() => { const s = document.getElementById('waterfall-scroll');"
        " s.scrollTop = s.scrollHeight; })()"
    )
    page.wait_for_selector(f"#waterfall tr.span-row[data-index='{total - 1}']", state="visible")
    elapsed = time.perf_counter() - started
    screenshot(page, "trace-huge-end")
    assert elapsed <= 1.0, f"{elapsed:.2f} s to the last row"
    reset_caches()
