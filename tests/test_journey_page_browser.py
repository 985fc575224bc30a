"""The order page in the browser (issue 28): it opens on an overview that fits a 1366x768
screen at readable size; playback keeps its step and its controls on screen, on the overview
and on the detailed diagram, at an adjustable speed; the step list is one column that follows
the current step and reaches the stop; at 420 px nothing scrolls sideways and the picture is
readable (zoomed to where the order is, with a hint). English and Russian."""

import pytest

from tests.browser_support import AFTER_DRAWING, log_in, screenshot
from tests.test_journey_diagram_browser import simulated  # noqa: F401 - the fixture, by name
from tests.test_web_browser import serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SMALLEST_TEXT = f"""async (selector) => {{
    {AFTER_DRAWING}
    const sizes = [...document.querySelectorAll(selector)]
        .filter(t => t.getClientRects().length)
        .map(t => parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a);
    return sizes.length ? Math.min(...sizes) : 0; }}"""
TOUCHED_TEXT = (
    "#journey-overview g.ov-element:not(.c4-dimmed) text, #journey-overview g.ov-hop text"
)
IN_VIEW = """(selector) => {
    const bar = document.querySelector('.playback-bar').getBoundingClientRect();
    return [...document.querySelectorAll(selector)].filter(n => n.getClientRects().length)
        .map(n => { const r = n.getBoundingClientRect();
                    const x = r.left + r.width / 2, y = r.top + r.height / 2;
                    return x >= 0 && x <= innerWidth && y >= 0 && y <= bar.top; }); }"""
# How much of the lit call (or mark) lies inside its picture's rectangle, and whether that
# rectangle is on screen above the sticky controls; after the next frame, when svg-pan-zoom
# has drawn the new view.
WHOLLY_SHOWN = f"""async (picture) => {{
    {AFTER_DRAWING}
    const svg = document.querySelector(picture + ' svg');
    const f = svg.getBoundingClientRect();
    const bar = document.querySelector('.playback-bar').getBoundingClientRect();
    const lit = svg.querySelector('g.edge.pb-current') || svg.querySelector('.pb-current');
    const r = lit.getBoundingClientRect();
    const w = Math.min(r.right, f.right) - Math.max(r.left, f.left);
    const h = Math.min(r.bottom, f.bottom) - Math.max(r.top, f.top);
    return {{inside: Math.max(0, w) * Math.max(0, h) / Math.max(1, r.width * r.height),
            onScreen: f.top >= -1 && f.left >= -1 && f.right <= innerWidth + 1 &&
                      f.bottom <= bar.top + 1,
            box: [r.left, r.top, r.width, r.height].map(Math.round).join(',')}}; }}"""
CONTROLS_IN_VIEW = """() => {
    const r = document.querySelector('.playback-bar').getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight + 1; }"""


def _switch_language(page, lang: str) -> None:
    page.select_option("#language-select", lang)
    page.click(".language-form button")
    page.wait_for_selector(f"html[lang={lang}]")


def _steps(page) -> int:
    return int(page.get_attribute("#pb-slider", "max"))


def _the_overview_fits(page) -> None:
    page.locator("#journey .diagram-toolbar").evaluate("e => e.scrollIntoView()")
    figure = page.locator("#journey-overview svg").bounding_box()
    bar = page.locator(".playback-bar").bounding_box()
    assert figure["width"] <= 1366 and figure["y"] >= 0
    assert figure["y"] + figure["height"] <= bar["y"] + 1  # whole, above the controls
    assert page.evaluate(SMALLEST_TEXT, TOUCHED_TEXT) >= 11
    assert page.locator("#journey-overview g.ov-element.c4-dimmed").count() >= 1
    assert page.locator("#journey-figure").is_hidden()  # descriptions: on "details"
    assert page.locator(".zoom-hint").is_hidden()


def _playback_stays_in_view(page, picture: str, lit_selector: str = ".pb-current") -> None:
    """Next: the lit call (or every lit mark) in view above the controls, the controls in view,
    the current step visible in the step list."""
    for _ in range(4):
        page.click("#pb-next")
        page.wait_for_timeout(150)  # svg-pan-zoom applies a new view on the next frame
        lit = page.evaluate(IN_VIEW, f"{picture} svg {lit_selector}")
        assert lit and all(lit), (picture, page.input_value("#pb-slider"), lit)
        assert page.evaluate(CONTROLS_IN_VIEW)
        current = page.locator("#step-list li.pb-current")
        assert current.count() == 1
        assert page.evaluate(
            """() => { const li = document.querySelector('#step-list li.pb-current');
                       const list = document.getElementById('step-list').getBoundingClientRect();
                       const r = li.getBoundingClientRect();
                       return r.top >= list.top - 1 && r.bottom <= list.bottom + 1; }"""
        )


def test_overview_first_and_playback_in_view_at_1366(page, live_server, simulated):  # noqa: F811
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size({"width": 1366, "height": 768})
    order = simulated["busy"]
    for lang in ("en", "ru"):
        if lang == "ru":
            _switch_language(page, "ru")
        page.goto(f"{live_server.url}/orders/{order}/")
        _the_overview_fits(page)
        screenshot(page, f"order-overview-1366-{lang}")
        page.click("#pb-first")
        _playback_stays_in_view(page, "#journey-overview")
        screenshot(page, f"order-playback-overview-1366-{lang}")
        page.click("button[data-level=details]")
        assert page.locator("#journey-overview").is_hidden()
        # the call in view (its ends may be too far apart to show both readably)
        _playback_stays_in_view(page, "#journey-figure", "g.edge.pb-current")
        # zoomed to the step far enough to read the 9-point text
        assert page.evaluate(SMALLEST_TEXT, "#journey-figure g.pb-current text") >= 11
        screenshot(page, f"order-playback-details-1366-{lang}")
        page.click("button[data-level=overview]")
    # the step list: one column (no columns flowing off to the right), the stop reachable
    columns = page.evaluate(
        "() => new Set([...document.querySelectorAll('#step-list li')]"
        ".map(li => li.offsetLeft)).size"
    )
    assert columns == 1
    assert page.evaluate(
        "() => { const l = document.getElementById('step-list'); "
        "return l.scrollWidth <= l.clientWidth; }"
    )
    # a hop of the overview lists its calls
    hop = page.locator("#journey-overview svg g.ov-hop").first
    hop.locator("path").first.dispatch_event("click")
    listed = page.locator("#step-list li:visible")
    assert 1 <= listed.count() < _steps(page)
    route = listed.first.get_attribute("data-route")
    assert all(li.get_attribute("data-route") == route for li in listed.all())
    page.click("#steps-filter-clear")
    page.click("#pb-stop")
    assert page.locator("#step-list li.is-stop.pb-current").count() == 1
    assert all(page.evaluate(IN_VIEW, "#journey-overview svg .journey-stop"))
    assert page.input_value("#pb-slider") == str(_steps(page))
    assert serious_violations(page) == []


def test_speed_is_adjustable_and_remembered(page, live_server, simulated):  # noqa: F811
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/orders/{simulated['busy']}/")
    assert page.get_attribute("#pb-play", "data-interval") == "1400"
    page.select_option("#pb-speed", "4")
    page.click("#pb-first")
    page.click("#pb-play")
    assert page.get_attribute("#pb-play", "data-interval") == "350"
    page.wait_for_timeout(1600)
    page.click("#pb-play")
    assert int(page.input_value("#pb-slider")) >= 4  # about four steps in 1.6 s, not one
    page.reload()
    assert page.input_value("#pb-speed") == "4"
    assert page.get_attribute("#pb-play", "data-interval") == "350"


def test_readable_at_420_without_sideways_scroll(page, live_server, simulated):  # noqa: F811
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size({"width": 420, "height": 900})
    order = simulated["busy"]
    for lang in ("en", "ru"):
        if lang == "ru":
            _switch_language(page, "ru")
        page.goto(f"{live_server.url}/orders/{order}/")
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        # the overview, zoomed in on where the order is: readable, with a hint to move it
        assert page.evaluate(SMALLEST_TEXT, "#journey-overview g.journey-stop text") >= 11
        assert page.locator(".zoom-hint").is_visible()
        page.locator("#journey-overview").evaluate("e => e.scrollIntoView()")
        screenshot(page, f"order-overview-420-{lang}")
        page.click("#pb-first")
        _playback_stays_in_view(page, "#journey-overview")
        assert page.evaluate(SMALLEST_TEXT, "#journey-overview g.pb-current text") >= 11
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        screenshot(page, f"order-playback-420-{lang}")


def test_every_step_wholly_shown_at_420(page, live_server, simulated):  # noqa: F811
    """Calls between parts of the picture far apart (Shop API -> 3D files storage, step 5 of
    the busy order: about 830 px tall on the details at readable size, the picture 570): at
    420x900 each call, on the overview and on the details, is panned inside the picture,
    zoomed out if it is longer than the picture, and the picture is on screen above the
    controls."""
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size({"width": 420, "height": 900})
    for lang in ("en", "ru"):
        if lang == "ru":
            _switch_language(page, "ru")
        page.goto(f"{live_server.url}/orders/{simulated['busy']}/")
        for level, picture in (("overview", "#journey-overview"), ("details", "#journey-figure")):
            page.click(f"button[data-level={level}]")
            page.click("#pb-first")
            for step in range(1, min(_steps(page), 40)):
                shown = page.evaluate(WHOLLY_SHOWN, picture)
                assert shown["inside"] >= 0.98 and shown["onScreen"], (lang, level, step, shown)
                page.click("#pb-next")
            screenshot(page, f"order-playback-{level}-420-{lang}-last")
