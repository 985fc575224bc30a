"""Every width, in Debian's Chromium, English and Russian: at 420x900 the trace page, the
comparison, the order list and the alerts page never scroll sideways (neither the page nor a
table inside it), the trace id in the heading wraps, the timeline keeps at least half the width
with the span panel below it; at 1366x768 the timeline keeps at least 60 % of the waterfall and
its handle widens it, by mouse and by keyboard, remembered. Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest
from django.utils import timezone

from explorer.alerts.models import Alert
from tests import test_web_trace_browser as trace_pages
from tests.browser_support import log_in, screenshot
from tests.test_web_browser import serious_violations
from tests.test_web_trace_browser import LANGUAGES, TRACE_ID, in_language

stored = trace_pages.stored  # the fixture: an order, a tree of 121 spans, traces to compare

NARROW = {"width": 420, "height": 900}
WIDE = {"width": 1366, "height": 768}
ORDER_STATUSES = ("complete", "in_progress", "stuck", "lost", "anomalous")

# What scrolls sideways: the page itself, or any element that scrolls its overflow.
SIDEWAYS = """() => {
  const root = document.documentElement;
  const found = [];
  const wider = el => el.scrollWidth + ' > ' + el.clientWidth;
  if (root.scrollWidth > root.clientWidth) { found.push('page ' + wider(root)); }
  for (const el of document.body.querySelectorAll('*')) {
    const x = getComputedStyle(el).overflowX;
    if ((x === 'auto' || x === 'scroll') && el.clientWidth && el.scrollWidth > el.clientWidth + 1) {
      found.push(el.tagName.toLowerCase() + '.' + el.className + ' ' + wider(el));
    }
  }
  return found;
}"""

SHARE = """() => {
  const table = document.getElementById('waterfall').getBoundingClientRect().width;
  return document.getElementById('time-axis').getBoundingClientRect().width / table;
}"""


def no_sideways_scroll(page, what: str) -> None:
    assert page.evaluate(SIDEWAYS) == [], what


def lines_of(page, selector: str) -> int:
    """How many lines the element's text takes."""
    return page.eval_on_selector(
        selector,
        """el => { const r = document.createRange(); r.selectNodeContents(el);
                   const tops = Array.from(r.getClientRects()).map(b => Math.round(b.top));
                   return new Set(tops).size; }""",
    )


def wrapped_figures(page) -> list[str]:
    """The table cells of figures (td.num) whose text takes more than one line."""
    return page.eval_on_selector_all(
        "td.num",
        """cells => cells.filter(el => { const r = document.createRange();
                   r.selectNodeContents(el);
                   const tops = Array.from(r.getClientRects()).map(b => Math.round(b.top));
                   return new Set(tops).size > 1; }).map(el => el.innerText)""",
    )


def open_trace(page, base: str, language: str, viewport: dict) -> None:
    page.set_viewport_size(viewport)
    log_in(page, base, "analyst")
    in_language(page, base, language)
    page.goto(f"{base}/traces/{TRACE_ID}/")
    page.wait_for_selector("#waterfall tr.span-row")


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_trace_page_at_420(page, live_server, stored, language):
    open_trace(page, live_server.url, language, NARROW)
    no_sideways_scroll(page, "trace page")
    assert lines_of(page, "h1 code") >= 2  # the 32-character id wraps
    table = page.locator("#waterfall").bounding_box()
    axis = page.locator("#time-axis").bounding_box()
    bar = page.locator("#row-0 td.bar-cell").bounding_box()
    assert axis["width"] >= table["width"] / 2 and bar["width"] >= table["width"] / 2
    # The span panel is below the waterfall, not beside it.
    panel = page.locator("#span-panel").bounding_box()
    assert panel["y"] >= page.locator("#waterfall-scroll").bounding_box()["y"] + 100
    assert panel["width"] >= table["width"] * 0.9
    # Names readable (not "sho…"), ticks apart (not "5,07,5…").
    assert page.eval_on_selector("#row-0 a.span-link", "a => a.scrollWidth <= a.clientWidth + 1")
    ticks = page.eval_on_selector_all(
        "#time-axis .tick",
        "ts => ts.filter(t => t.offsetParent).map(t => t.getBoundingClientRect())"
        ".map(r => [r.left, r.right])",
    )
    assert len(ticks) >= 3
    assert all(a[1] <= b[0] for a, b in zip(ticks, ticks[1:], strict=False)), ticks
    screenshot(page, f"widths-trace-420-{language}")
    # Clicking a span fills the panel below; the page still does not scroll sideways.
    page.click("#row-0 a.span-link")
    page.wait_for_selector("#span-panel #span-title")
    no_sideways_scroll(page, "trace page with a span's details")
    assert serious_violations(page) == []
    page.locator("#span-panel").scroll_into_view_if_needed()
    screenshot(page, f"widths-trace-420-span-{language}")


def order_list_with_rows(page, base: str) -> None:
    for status in ORDER_STATUSES:
        page.goto(f"{base}/orders/?status={status}")
        if page.locator("table.order-table a.order-id").count():
            return
    raise AssertionError("no order list has rows")


def add_alert() -> None:
    now = timezone.now()
    Alert.objects.create(
        kind="lost_message",
        subject="A-100001",
        order_id="A-100001",
        customer_id="C-00123",
        customer_type="vip",
        opened_at=now,
        last_seen_at=now,
        facts={
            "messages": [
                {
                    "destination": "orders.priced",
                    "producer": "mes_api",
                    "at_ns": 1741543560 * 10**9,
                    "trace_id": "t",
                    "consumers": ["crm_api"],
                }
            ]
        },
    )


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["420", "1366"])
def test_compare_orders_and_alerts(page, live_server, stored, language, viewport):
    add_alert()
    page.set_viewport_size(viewport)
    width = viewport["width"]
    log_in(page, live_server.url, "analyst")
    in_language(page, live_server.url, language)
    base = live_server.url
    page.goto(f"{base}/compare/?a={'5' * 32}&b=typical")
    page.wait_for_selector("#compare-table tr.diff-row")
    no_sideways_scroll(page, "compare")
    # Both ids whole (no "5555…"), wrapping within the page.
    assert page.locator(".compare-facts code").first.inner_text() == "5" * 32
    # One path per card, each value whole and named (not cut to one character).
    cut = page.eval_on_selector_all(
        "#compare-table td", "tds => tds.filter(td => td.scrollWidth > td.clientWidth + 1).length"
    )
    assert cut == 0
    assert page.locator("#compare-table td[data-label]").count() >= 6
    assert serious_violations(page) == []
    screenshot(page, f"widths-compare-{width}-{language}")
    order_list_with_rows(page, base)
    no_sideways_scroll(page, "order list")
    assert lines_of(page, "table.order-table a.order-id") == 1  # never broken after the hyphen
    assert serious_violations(page) == []
    screenshot(page, f"widths-orders-{width}-{language}")
    page.goto(f"{base}/alerts/")
    page.wait_for_selector(".alert-card")
    no_sideways_scroll(page, "alerts")
    assert lines_of(page, ".alert-card h3 a") == 1
    screenshot(page, f"widths-alerts-{width}-{language}")


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_timeline_column_at_1366_can_be_widened(page, live_server, stored, language):
    open_trace(page, live_server.url, language, WIDE)
    no_sideways_scroll(page, "trace page at 1366")
    assert page.evaluate(SHARE) >= 0.595
    screenshot(page, f"widths-trace-1366-{language}")
    # Dragging the handle 150 px to the left widens the timeline; it never goes below 60 %.
    handle = page.locator("#timeline-handle").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 75, y, steps=3)
    page.mouse.move(x - 150, y, steps=3)
    page.mouse.up()
    dragged = page.evaluate(SHARE)
    assert dragged > 0.65, dragged
    assert page.evaluate("document.getElementById('waterfall').waterfall.zoom()") == [0, 1]
    handle = page.locator("#timeline-handle").bounding_box()
    x = handle["x"] + handle["width"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 450, y, steps=4)
    page.mouse.up()
    assert 0.595 <= page.evaluate(SHARE) < 0.62
    # The keyboard: left widens, right narrows, End and Home go to the limits.
    page.focus("#timeline-handle")
    assert page.get_attribute("#timeline-handle", "aria-valuenow") == "60"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("#timeline-handle", "aria-valuenow") == "64"
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#timeline-handle", "aria-valuenow") == "62"
    page.keyboard.press("End")  # as wide as leaves 8rem for the names
    names = page.locator("th.span-head").bounding_box()["width"]
    assert page.evaluate(SHARE) > 0.66 and 120 <= names <= 150, names
    no_sideways_scroll(page, "trace page at 1366, timeline widest")
    page.keyboard.press("Home")
    assert page.get_attribute("#timeline-handle", "aria-valuenow") == "60"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    wider = page.evaluate(SHARE)
    assert wider > 0.635
    # Remembered on the next visit.
    page.reload()
    page.wait_for_selector("#waterfall tr.span-row")
    assert abs(page.evaluate(SHARE) - wider) < 0.01
    assert page.get_attribute("#timeline-handle", "aria-valuenow") == "64"
    no_sideways_scroll(page, "trace page at 1366, timeline widened")
    screenshot(page, f"widths-trace-1366-widened-{language}")


@pytest.mark.browser
def test_the_waterfall_scrolls_to_a_row_after_narrowing(page, live_server, stored):
    """Rows are twice as tall below 60rem: virtual scrolling measures them again on resize,
    so scrolling to a row shows that row."""
    open_trace(page, live_server.url, "en", WIDE)
    page.set_viewport_size(NARROW)
    page.evaluate("document.getElementById('waterfall').waterfall.scrollToIndex(60)")
    row = "#waterfall tr.span-row[data-index='60']"
    page.wait_for_selector(row)
    page.wait_for_timeout(200)
    shown = page.locator(row).bounding_box()
    box = page.locator("#waterfall-scroll").bounding_box()
    assert box["y"] < shown["y"] and shown["y"] + shown["height"] <= box["y"] + box["height"] + 1
