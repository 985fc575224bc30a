"""The query page's scatter plot and histogram in Chromium, in English and Russian: one page
load per language; a mark's text on keyboard focus (a hostile service name shown as text),
no sideways scroll at 1366x768 and at 420x900, and a click on a mark opens its trace.
Screenshots of both widths in test-artifacts/."""

from __future__ import annotations

import re

import pytest

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from explorer.traces.model import Trace
from tests.browser_support import log_in, screenshot
from tests.test_web_browser import serious_violations
from tests.test_web_trace_browser import in_language, wait_until
from tests.trace_support import make_span
from tests.web_support import T0

LANGUAGES = ["en", "ru"]
MS = 1_000_000
EVIL = '<img src=x onerror="window.pwned=1">'
SERVICES = ["shop-api", "crm-api", "mes-api", EVIL]
# (start in s after T0, duration in ms, error): a wide spread, so durations are on a log scale.
TRACES = [(i * 40, d, i % 4 == 3) for i, d in enumerate([3, 12, 40, 150, 600, 2500, 9000, 30])]
HEADINGS = {"en": "Duration over time", "ru": "Длительность во времени"}


def trace_id(i: int) -> str:
    return f"{i + 1:02x}" * 16


@pytest.fixture
def stored(transactional_db):
    reset_caches()
    store_traces(
        [
            Trace(
                trace_id(i),
                [
                    make_span(
                        "a1",
                        None,
                        SERVICES[i % len(SERVICES)],
                        trace_id=trace_id(i),
                        name=f"GET /items/{i}",
                        start_ns=T0 + start * 10**9,
                        end_ns=T0 + start * 10**9 + duration * MS,
                        error=error,
                    )
                ],
            )
            for i, (start, duration, error) in enumerate(TRACES)
        ]
    )
    yield
    reset_caches()


SIDEWAYS = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_scatter_plot_and_histogram(page, live_server, stored, language):
    """3 to 5 s per language, most of it the login with its second factor, the switch of
    language and axe: every check is made on the one page load rather than a test each."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server.url, "analyst")
    in_language(page, live_server.url, language)
    page.goto(f"{live_server.url}/query/?q=%7B+%7D&limit=20")
    assert HEADINGS[language] in page.inner_text(".result-charts")
    assert page.locator("svg.scatter a.point").count() == len(TRACES)
    assert page.locator("svg.scatter a.point.is-error use[href='#chart-error']").count() == 2
    assert page.locator("svg.histogram g.bar").count() >= 3
    # Keyboard focus shows the mark's text, the hostile name as text.
    hostile = page.locator("svg.scatter a.point[aria-label*='onerror']").first
    hostile.focus()
    wait_until(page, "!document.getElementById('chart-tip').hidden")
    assert EVIL in page.inner_text("#chart-tip")
    assert page.evaluate("window.pwned") is None
    screenshot(page, f"result-charts-focus-{language}")
    assert serious_violations(page) == []
    # Tab from the skip link goes past the marks.
    page.focus(".result-charts .skip-link")
    assert page.locator(".result-charts .skip-link").is_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('table') !== null")
    for width, height in [(1366, 768), (420, 900)]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(50)
        assert not page.evaluate(SIDEWAYS), f"sideways scroll at {width} px"
        page.evaluate("document.querySelector('.result-charts').scrollIntoView()")
        screenshot(page, f"result-charts-{language}-{width}x{height}")
        scatter = page.locator("svg.scatter").bounding_box()
        histogram = page.locator("svg.histogram").bounding_box()
        if width < 900:  # one above the other, each the page's width
            assert histogram["y"] > scatter["y"] + scatter["height"]
            assert scatter["width"] >= width * 0.8 and histogram["width"] >= width * 0.8
        else:  # side by side
            assert histogram["x"] > scatter["x"] + scatter["width"]
    # A click on a mark opens its trace (at 420 px, the narrowest).
    page.locator(f"svg.scatter a.point[href*='{trace_id(5)}']").click()
    page.wait_for_url(re.compile(rf".*/traces/{trace_id(5)}/$"))
    assert errors == []
