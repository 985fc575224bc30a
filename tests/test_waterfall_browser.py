"""The waterfall's service colours and legend, span events, clock times, collapse by service
and a span's copied link, in Chromium, in English and Russian: one page load per language for
the checks, then the copied link opened (which also shows the clock times were remembered).
Screenshots at 1366x768 and 420x900."""

import pytest

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from tests.browser_support import log_in, screenshot
from tests.test_waterfall_services import EVIL, TRACE_ID, services_trace
from tests.test_web_browser import serious_violations
from tests.test_web_trace_browser import in_language, wait_until

LANGUAGES = ["en", "ru"]
TOTAL = "document.getElementById('waterfall').waterfall.total()"
COPIED = {"en": "Link copied", "ru": "Ссылка скопирована"}


@pytest.fixture
def stored(transactional_db):
    reset_caches()
    store_traces([services_trace()])
    yield
    reset_caches()


def fill_of(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).fill")


def check_colours_and_legend(page) -> None:
    """A service's bars and its legend swatch share one colour; three services, three
    colours; the critical path a dark line, the error an outline."""
    swatches = page.eval_on_selector_all(
        ".service-legend li",
        "lis => lis.map(li => [li.textContent.trim(),"
        " getComputedStyle(li.querySelector('.swatch')).backgroundColor])",
    )
    colours = dict(swatches)
    assert set(colours) == {"shop-api", "crm-api", "mes-api"}
    assert len(set(colours.values())) == 3
    for row, service in [(0, "shop-api"), (3, "crm-api"), (6, "mes-api")]:
        assert fill_of(page, f"#row-{row} rect.span-bar") == colours[service]
    assert page.locator("#row-0 rect.critical-line").is_visible()
    stroke = page.eval_on_selector("#row-5 rect.span-bar", "e => getComputedStyle(e).stroke")
    assert stroke not in ("none", "")
    assert page.locator("#row-5 .badge.error").is_visible()


def check_events(page, language: str) -> None:
    """Hover shows an event's name; keyboard focus shows the hostile one as text."""
    page.hover("#row-0 g.event >> nth=0", force=True)
    wait_until(page, "!document.getElementById('event-tip').hidden")
    assert page.inner_text("#event-tip").startswith("order.accepted")
    page.focus("#row-0 g.event >> nth=1")
    wait_until(page, "document.getElementById('event-tip').textContent.startsWith('<img')")
    assert page.eval_on_selector("#event-tip", "t => t.textContent").startswith(EVIL)
    assert page.locator("#event-tip img").count() == 0
    assert page.evaluate("window.pwned") is None
    screenshot(page, f"waterfall-event-tip-{language}")
    page.keyboard.press("Tab")  # the focus leaves the event: the tip goes
    wait_until(page, "document.getElementById('event-tip').hidden")


def check_clock_times(page) -> None:
    relative = page.inner_text("#row-3 td.start")
    page.check("#clock-times")
    clock = page.inner_text("#row-3 td.start")
    assert clock != relative and clock.count(":") == 2, (relative, clock)
    assert page.evaluate("localStorage.getItem('explorer.waterfall-clock-times')") == "1"
    ticks = page.inner_text("#time-axis .ticks")
    assert ticks.count(":") >= 4, ticks  # clock times on the axis


def check_collapse_by_service(page) -> None:
    page.select_option("#fold-service", "mes-api")
    wait_until(page, f"{TOTAL} === 6")
    page.click("#fold-entries")
    wait_until(page, f"{TOTAL} === 3")
    assert page.get_attribute("#fold-entries", "aria-pressed") == "true"
    page.click("#collapse-all")
    wait_until(page, f"{TOTAL} === 1")
    page.click("#expand-all")
    wait_until(page, f"{TOTAL} === 8")
    page.wait_for_selector("#row-7")


def check_copy_link(page, language: str) -> str:
    """The link of crm's lookup, copied from the keyboard; returns it."""
    page.click("#row-3 a.span-link")
    page.wait_for_selector("#span-panel .copy-span-link:not([hidden])")
    page.focus("#span-panel .copy-span-link")
    page.keyboard.press("Enter")
    wait_until(page, "document.querySelector('#span-panel .copy-status').textContent !== ''")
    assert page.inner_text("#span-panel .copy-status") == COPIED[language]
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.endswith(f"/traces/{TRACE_ID}/?span=l&at=3#row-3"), copied
    return copied


def check_widths(page, language: str) -> None:
    for width, height in [(1366, 768), (420, 900)]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(50)
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), f"sideways scroll at {width} px"
        page.evaluate("document.getElementById('waterfall-title').scrollIntoView()")
        screenshot(page, f"waterfall-services-{language}-{width}x{height}")
    page.set_viewport_size({"width": 1400, "height": 1000})


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_waterfall_by_service_events_times_and_links(page, live_server, stored, language):
    """About 5 s per language, most of it the login with its second factor and the switch of
    language: every feature is checked on the one page load rather than a test each."""
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server.url, "analyst")
    in_language(page, live_server.url, language)
    page.goto(f"{live_server.url}/traces/{TRACE_ID}/")
    page.wait_for_selector("#waterfall tr.span-row")
    check_colours_and_legend(page)
    check_events(page, language)
    check_clock_times(page)
    check_collapse_by_service(page)
    assert serious_violations(page) == []
    copied = check_copy_link(page, language)
    check_widths(page, language)
    # The copied link: the span selected and in view, its details shown, clock times kept.
    page.goto(copied)
    page.wait_for_selector("#row-3.is-selected")
    assert "op l" in page.inner_text("#span-title")
    assert page.is_checked("#clock-times")
    assert page.locator("#row-3 time.abs").is_visible()
    assert errors == []
