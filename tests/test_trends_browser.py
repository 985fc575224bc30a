"""Charts over time in Debian's Chromium, English and Russian, at 1366x768 and 420x900: the
SLA page's chart of breaches and an operation's trend are drawn and never scroll sideways,
keyboard focus on a bar shows its time and figures as a tip, the table alternative opens,
and a bar of the trend lands on the trace search of that operation and hour. Screenshots in
test-artifacts/ (trends-*)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from explorer.caching import reset_caches
from explorer.store.ingest import ingest
from tests.browser_support import log_in, screenshot
from tests.test_web_browser import serious_violations
from tests.test_web_trace_browser import LANGUAGES, in_language
from tests.test_web_widths_browser import NARROW, WIDE, no_sideways_scroll

FAULTS = {"slow_price": 0.5, "crm_5xx": 0.15}
WORDS = {
    "en": ("SLA breaches per hour", "Requests per hour", "breach"),
    "ru": ("Нарушения SLA по часам", "Запросов в час", "нарушени"),
}


@pytest.fixture
def stored(transactional_db, simulation):
    reset_caches()
    ingest(simulation(orders=20, days=3, seed=5, fault_rates=FAULTS).files, workers=1)
    yield
    reset_caches()


def focus_tip(page, selector: str) -> str:
    """Tab until a mark of `selector` has the focus; the tip's text then."""
    page.focus(selector)
    tip = page.locator("#chart-tip")
    tip.wait_for(state="visible")
    return tip.inner_text()


def check_chart(page, name: str, size: str) -> None:
    page.wait_for_selector("svg.trend.counts a.point")
    assert page.locator("svg.trend.counts").is_visible()
    no_sideways_scroll(page, f"{name} at {size}")
    box = page.locator("svg.trend.counts").bounding_box()
    assert box and box["width"] > 300
    heights = page.eval_on_selector_all(
        "svg.trend.counts rect.bar", "bars => bars.map(b => +b.getAttribute('height'))"
    )
    assert max(heights) > 0, f"{name}: every bar empty"
    assert serious_violations(page) == [], name


@pytest.mark.browser
@pytest.mark.slow  # 10-15 s: Chromium at two sizes, axe four times, three pages and a search
@pytest.mark.parametrize("language", LANGUAGES)
def test_sla_chart_and_an_operations_trend(page, live_server, stored, language):
    base = live_server.url
    breaches_title, requests_title, breach = WORDS[language]
    log_in(page, base, "analyst")
    in_language(page, base, language)
    for size, viewport in (("1366", WIDE), ("420", NARROW)):
        page.set_viewport_size(viewport)
        page.goto(f"{base}/sla/?window=7d")
        assert breaches_title in page.inner_text("figure.chart-figure figcaption")
        check_chart(page, "sla", size)
        page.hover("svg.trend.counts a.point >> nth=0")
        page.locator("#chart-tip").wait_for(state="visible")  # the mouse shows the same tip
        tip = focus_tip(page, "svg.trend.counts a.point >> nth=-1")
        assert re.search(rf"\d{{2}}:\d{{2}}.*\d+ {breach}", tip), tip
        screenshot(page, f"trends-sla-{language}-{size}")
        if language == "ru":
            assert "breach" not in tip and "request" not in tip
    page.set_viewport_size(WIDE)
    page.click("a.trend-link >> nth=0")
    page.wait_for_url(re.compile(r".*/trends/\?.*"))
    for size, viewport in (("1366", WIDE), ("420", NARROW)):
        page.set_viewport_size(viewport)
        assert requests_title in page.inner_text("section.trend-charts")
        no_sideways_scroll(page, f"the trend's forms at {size}")
        screenshot(page, f"trends-operation-top-{language}-{size}")
        assert page.locator("svg.trend.latency").is_visible()
        check_chart(page, "operation", size)
        focus_tip(page, "svg.trend.latency a.point >> nth=0")
        screenshot(page, f"trends-operation-{language}-{size}")
        page.click("details.trend-table summary")
        assert page.locator("details.trend-table table").is_visible()
        page.locator("details.trend-table").scroll_into_view_if_needed()
        no_sideways_scroll(page, f"the trend's table at {size}")
        screenshot(page, f"trends-operation-table-{language}-{size}")
        page.click("details.trend-table summary")
    query = parse_qs(urlsplit(page.url).query)
    busiest = page.eval_on_selector_all(
        "svg.trend.counts a.point",
        "marks => marks.map(m => m.querySelector('rect.bar').getAttribute('height'))",
    )
    index = max(range(len(busiest)), key=lambda i: float(busiest[i]))
    mark = page.locator("svg.trend.counts a.point").nth(index)
    label = mark.get_attribute("aria-label") or ""
    bucket = re.search(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d)–(\d\d:\d\d): (\d+)", label)
    assert bucket, label
    mark.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/\?.*since=.*"))
    landed = parse_qs(urlsplit(page.url).query)
    assert landed["service"] == query["service"]
    day, first, last, _count = bucket.groups()
    assert landed["since"] == [f"{day}T{first}"] and landed["until"][0].endswith(last)
    rows = page.locator("#trace-search ~ * table.data tbody tr, section table.data tbody tr")
    assert rows.count() > 0
    screenshot(page, f"trends-traces-{language}")
