"""The order-steps page's charts in Debian's Chromium, English and Russian, at 1366x768 and
420x900: the charts of a state are drawn and never scroll sideways, no figure in the tables
breaks from its unit, keyboard focus on a bar shows its time and figures, axe-core finds no
serious violation, and the bar of the over-limit chart opens the list of the order that
waited too long. Screenshots in test-artifacts/ (steps-*)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from tests.browser_support import log_in, screenshot
from tests.journey_support import DAY, OrderBuilder, complete_order
from tests.test_trends_browser import focus_tip
from tests.test_web_browser import serious_violations
from tests.test_web_trace_browser import LANGUAGES, in_language
from tests.test_web_widths_browser import NARROW, WIDE, no_sideways_scroll, wrapped_figures

WORDS = {
    "en": (
        "Orders leaving the state per hour",
        "Over the state's limit per hour",
        "over the limit",
    ),
    "ru": (
        "Заказы, вышедшие из состояния, по часам",
        "Сверх лимита состояния по часам",
        "сверх лимита",
    ),
}


@pytest.fixture
def stored(transactional_db):
    """A-300001 waits 4 days in FILE_UPLOADED (limit 3 d); three orders go through quickly."""
    reset_caches()
    slow = OrderBuilder("A-300001", "C-30001", "vip")
    slow.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    slow.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
    slow.state(
        "shop-api", "POST /api/orders/{id}/submit", 60 + 4 * DAY, "SUBMITTED", "FILE_UPLOADED"
    )
    quick = [complete_order(f"A-30000{n}", offset=n * 3600).traces for n in (2, 3, 4)]
    store_traces([*slow.traces, *(t for traces in quick for t in traces)])
    call_command("orders", "--refresh", stdout=io.StringIO())
    yield
    reset_caches()


@pytest.mark.browser
@pytest.mark.slow  # 4-6 s a language: Chromium at two sizes, axe once, two pages
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_charts_of_a_state(page, live_server, stored, language):
    base = live_server.url
    left_title, over_title, over = WORDS[language]
    log_in(page, base, "analyst")
    in_language(page, base, language)
    for size, viewport in (("1366", WIDE), ("420", NARROW)):
        page.set_viewport_size(viewport)
        page.goto(f"{base}/sla/steps/?window=7d")
        titles = page.inner_text("#step-charts")
        assert left_title in titles and over_title in titles and "FILE_UPLOADED" in titles
        page.wait_for_selector("svg.trend.counts a.point")
        assert page.locator("svg.trend.latency").is_visible()
        no_sideways_scroll(page, f"steps at {size}")
        assert wrapped_figures(page) == [], size  # "17 мин", not "17" above "мин"
        for chart in ("step-left", "step-over"):  # each draws a bar
            heights = page.eval_on_selector_all(
                f"svg[aria-labelledby='{chart}-counts-title'] rect.bar",
                "bars => bars.map(b => +b.getAttribute('height'))",
            )
            assert max(heights) > 0, chart
        screenshot(page, f"steps-{language}-{size}")
        if language == "ru" and size == "1366":  # axe-core once: the page is the same in both
            assert serious_violations(page) == []
        page.locator("#step-charts").scroll_into_view_if_needed()
        screenshot(page, f"steps-charts-{language}-{size}")
    page.set_viewport_size(WIDE)
    over_bar = page.locator("section.trend-charts").nth(1).locator("a.point")
    index = [over_bar.nth(i).get_attribute("aria-label") or "" for i in range(over_bar.count())]
    hit = next(i for i, label in enumerate(index) if re.search(rf"\b1 {over}", label))
    tip = focus_tip(page, f"section.trend-charts >> nth=1 >> a.point >> nth={hit}")
    assert re.search(rf"\d{{2}}:\d{{2}}.*1 {over}", tip), tip
    over_bar.nth(hit).click()
    page.wait_for_url(re.compile(r".*/sla/steps/orders/\?.*over=1.*"))
    listed = page.inner_text("table.step-orders")
    assert "A-300001" in listed and "A-300002" not in listed
    screenshot(page, f"steps-orders-{language}")
