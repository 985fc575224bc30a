"""The journey diagram in the browser, on a simulated Alexandrite (some messages lost, some
price calculations slow, cut off with orders in progress and stuck): a complete, a lost, a stuck
and a busy anomalous order in English and Russian, where it stopped, readable text at 1366 px,
playback by buttons, keys and link, a relationship's calls on click, the tour panel at 680 px,
and axe."""

import io
import re

import pytest
from django.core.management import call_command

from explorer.caching import reset_caches
from tests.browser_support import AFTER_DRAWING, ARTIFACTS, log_in, screenshot
from tests.test_web_browser import serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]
STOP_WORDS = {
    "en": {"lost": "never consumed", "stuck": "waiting", "complete": "finished"},
    "ru": {"lost": "не получено", "stuck": "ждёт", "complete": "завершён"},
}


@pytest.fixture
def simulated(transactional_db, tmp_path):
    from explorer.orders.models import OrderStatus

    reset_caches()
    folder = tmp_path / "traces"
    call_command(
        "simulate",
        "--orders",
        "150",
        "--days",
        "12",
        "--until-days",
        "12",
        "--seed",
        "7",
        "--fault-rate",
        "lost_message=0.06",
        "--fault-rate",
        "slow_price=0.1",
        "--out",
        str(folder),
        stdout=io.StringIO(),
    )
    call_command("ingest", str(folder), stdout=io.StringIO())
    call_command("orders", "--refresh", stdout=io.StringIO())
    call_command("tours", "import", "--shipped", stdout=io.StringIO())
    rows = OrderStatus.objects.all()
    now = max(r.as_of_ns for r in rows)
    picks = {
        "complete": rows.filter(status="complete", anomalous=False).order_by("order_id").first(),
        "lost": rows.lost_at(now).order_by("order_id").first(),
        "stuck": rows.stuck_at(now).order_by("order_id").first(),
        "busy": rows.filter(anomalous=True).order_by("-last_seen_ns").first(),
    }
    missing = [k for k, v in picks.items() if v is None]
    assert not missing, f"the simulation has no {missing} order"
    yield {k: v.order_id for k, v in picks.items()}
    reset_caches()


def _text_px(page) -> float:
    """The on-screen size of the diagram's 9-point text, once drawn."""
    return page.evaluate(f"""async () => {{
        {AFTER_DRAWING}
        const svg = document.querySelector('#journey-figure svg');
        const text = svg.querySelector('text[font-size="9.00"]');
        return 9 * text.getScreenCTM().a; }}""")


def test_journey_diagram_in_two_languages_with_playback(page, live_server, simulated):
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size({"width": 1366, "height": 768})
    for lang in ("en", "ru"):
        if lang == "ru":
            page.select_option("#language-select", "ru")
            page.click(".language-form button")
            page.wait_for_selector("html[lang=ru]")
        for kind, order in simulated.items():
            page.goto(f"{live_server.url}/orders/{order}/")
            figure = page.locator("#journey-figure svg")
            stops = figure.locator(".journey-stop")
            assert stops.count() >= 1, (kind, order)
            stop_text = " ".join(stops.all_text_contents()) + page.inner_text(".journey-stop-line")
            if kind in STOP_WORDS[lang]:  # the busy one may be anywhere: it has a mark
                assert STOP_WORDS[lang][kind] in stop_text, (kind, stop_text)
            if kind == "lost":
                assert figure.locator("g.edge.journey-lost").count() >= 1
                last = page.locator("table.timeline tr.is-stop")
                assert last.count() == 1
                assert STOP_WORDS[lang]["lost"].split()[-1] in last.inner_text()
            if kind == "stuck":
                assert figure.locator("g.node.journey-stuck").count() == 1
            page.click("button[data-level=details]")  # the page opens on the overview
            assert _text_px(page) >= 11, (lang, kind)
            screenshot(page, f"journey-{kind}-{lang}")
            page.locator("#journey-figure").screenshot(
                path=str(ARTIFACTS / f"journey-{kind}-{lang}-diagram.png")
            )
    # playback: buttons, the slider, keys and a link; the sentence is announced
    order = simulated["busy"]
    page.goto(f"{live_server.url}/orders/{order}/")
    sentence = page.locator("#pb-sentence")
    assert sentence.get_attribute("aria-live") == "polite"
    total = int(page.get_attribute("#pb-slider", "max"))
    page.click("#pb-first")
    assert page.input_value("#pb-slider") == "1" and sentence.inner_text().startswith("1. ")
    assert "pb-active" in page.get_attribute("#journey-figure svg", "class")
    assert page.locator("#journey-figure svg g.pb-current").count() >= 1
    page.click("#pb-next")
    assert page.input_value("#pb-slider") == "2"
    page.keyboard.press("ArrowRight")
    assert page.input_value("#pb-slider") == "3" and page.locator(".state.pb-state").count() == 1
    for button in ("#pb-first", "#pb-prev", "#pb-play", "#pb-next"):
        assert page.get_attribute(button, "aria-label")
    page.click("#pb-play")
    assert page.get_attribute("#pb-play", "aria-pressed") == "true"
    for _ in range(50):  # the page's CSP forbids wait_for_function's eval: poll
        if page.input_value("#pb-slider") != "3":
            break
        page.wait_for_timeout(100)
    assert page.input_value("#pb-slider") != "3"  # it played on
    page.click("#pb-play")
    assert page.get_attribute("#pb-play", "aria-pressed") == "false"
    page.click("#pb-all")
    assert page.input_value("#pb-slider") == str(total)
    page.goto(f"{live_server.url}/orders/{order}/?step=4")
    assert page.input_value("#pb-slider") == "4"
    assert page.locator("#step-4.pb-current").count() == 1
    page.goto(f"{live_server.url}/orders/{order}/#step-5")
    assert page.inner_text("#pb-count").startswith("5 /")
    screenshot(page, "journey-playback-ru")
    # a relationship's calls, listed on click
    edge = page.locator("#journey-figure svg g.edge[data-steps]").first
    numbers = edge.get_attribute("data-steps").split()
    edge.locator("path").first.dispatch_event("click")
    assert page.locator("#step-list li:visible").count() == len(numbers)
    page.click("#steps-filter-clear")
    assert page.locator("#step-list li:visible").count() == total
    assert serious_violations(page) == []


def test_tour_panel_marks_where_the_example_order_stopped(page, live_server, simulated):
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size({"width": 680, "height": 900})
    page.goto(f"{live_server.url}/tours/stuck-order/")
    page.wait_for_url(re.compile(r".*/tours/stuck-order/\d+/$"))
    last = page.locator(".tour-progress progress").get_attribute("max")
    page.goto(f"{live_server.url}/tours/stuck-order/{last}/")
    figure = page.locator(".tour-figure svg")
    assert figure.locator(".journey-stop").count() >= 1
    scale = page.evaluate(
        f"async () => {{ {AFTER_DRAWING} "
        "return document.querySelector('.tour-figure svg text').getScreenCTM().a; }"
    )
    assert 9 * scale >= 11  # zoomed in on the step's element
    screenshot(page, "tour-panel-stuck-680")
    assert serious_violations(page) == []


def test_tour_panel_plays_the_example_order_step_by_step(page, live_server, simulated):
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size({"width": 680, "height": 900})
    page.goto(f"{live_server.url}/tours/retail-order/2/")
    assert page.locator("#journey-figure svg g[data-steps]").count() >= 1
    sentence = page.locator("#pb-sentence")
    assert sentence.get_attribute("aria-live") == "polite"
    page.click("#pb-first")
    assert page.input_value("#pb-slider") == "1" and sentence.inner_text().startswith("1. ")
    assert page.locator("#journey-figure svg g.pb-current").count() >= 1
    # the focus is on the step control: the arrows go through the journey, not the tour
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.input_value("#pb-slider") == "3" and "/tours/retail-order/2/" in page.url
    assert page.locator(".tour-states .state.pb-state").count() == 1
    assert page.locator("#step-3.pb-current").count() == 1
    page.click("#pb-play")
    assert page.get_attribute("#pb-play", "aria-pressed") == "true"
    for _ in range(50):  # the page's CSP forbids wait_for_function's eval: poll
        if page.input_value("#pb-slider") != "3":
            break
        page.wait_for_timeout(100)
    page.click("#pb-play")
    assert page.input_value("#pb-slider") != "3"  # it played on
    page.locator("#pb-sentence").evaluate("e => e.scrollIntoView({block: 'end'})")
    screenshot(page, "tour-panel-playback-680")
    assert serious_violations(page) == []
    page.locator("h1.tour-title").click()  # out of the journey: the arrows are the tour's again
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r".*/tours/retail-order/3/$"))


def test_typical_path_drawn_under_the_order(page, live_server, simulated):
    from explorer.orders.models import OrderStatus

    log_in(page, live_server.url, "analyst")
    order = OrderStatus.objects.get(order_id=simulated["busy"])
    page.goto(f"{live_server.url}/orders/{order.order_id}/")
    typical = page.locator("#journey-figure svg g.c4-typical")
    assert typical.count() >= 1, f"no typical path for a {order.customer_type} order"
    page.check("#typical-toggle")
    assert "show-typical" in page.get_attribute("#journey-figure svg", "class")
    assert page.locator(".typical-legend").is_visible()
    svg = "#journey-figure svg "
    under = page.locator(svg + "g.c4-typical path.c4-typical-under")
    assert under.count() == page.locator(svg + "g[id^='rel-'].c4-typical").count()
    assert under.first.is_visible()
    for kind in ("extra", "missing", "slow"):  # what it did differently stays highlighted
        if page.locator(f"#typical-differences li.diff-{kind}").count():
            assert page.locator(f"{svg}.diff-{kind}").count() >= 1
    under.first.evaluate("e => e.scrollIntoView({block: 'center'})")
    screenshot(page, "order-typical-path")
    page.uncheck("#typical-toggle")
    assert "show-typical" not in (page.get_attribute("#journey-figure svg", "class") or "")
    assert not under.first.is_visible()


def test_a_long_journey_lists_its_first_calls_and_plays_to_where_it_stopped(
    page, live_server, transactional_db, monkeypatch
):
    """The step list and the timeline of an order of many calls are cut (at 3 here, at
    thousands in use): the page says so in both languages, at a laptop's width and in a
    narrow panel, and the playback goes from the first call to where the order stopped."""
    from explorer.store.ingest import store_traces
    from explorer.web import order_page
    from tests.journey_support import DAY, OrderBuilder

    reset_caches()
    monkeypatch.setattr(order_page, "PLAYBACK_STEPS_SHOWN", 3)
    monkeypatch.setattr(order_page, "TIMELINE_STEPS_SHOWN", 3)
    order = OrderBuilder("A-200010", "C-00910")
    order.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    for n in range(8):
        order.produce("shop-api", 60 + n)  # never consumed
    late = OrderBuilder("A-200011", "C-00911")  # only there to move "now" days later
    late.state("shop-api", "POST /api/orders", 5 * DAY, "INITIATED", None)
    store_traces([*order.traces, *late.traces])
    log_in(page, live_server.url, "analyst")
    cut = {"en": ("first 3 of 8 calls", "first 3 of"), "ru": ("первые 3 из 8", "первые 3 из")}
    for lang in ("en", "ru"):
        if lang == "ru":
            page.select_option("#language-select", "ru")
            page.click(".language-form button")
            page.wait_for_selector("html[lang=ru]")
        for width in (1366, 680):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/orders/A-200010/")
            calls, steps = cut[lang]
            assert calls in page.inner_text(".steps-cut")
            assert steps in page.inner_text(".timeline-cut")
            assert page.locator("#step-list li").count() == 4
            assert page.locator("table.timeline tr.is-stop").count() >= 1
            page.locator(".steps-cut").scroll_into_view_if_needed()
            screenshot(page, f"journey-cut-{lang}-{width}")
    assert page.get_attribute("#pb-slider", "max") == "4"
    page.click("#pb-first")
    for _ in range(2):
        page.click("#pb-next")
    assert page.inner_text("#pb-count") == "3 / 4"
    assert page.locator("#step-3.pb-current").count() == 1
    page.click("#pb-next")  # the last step: the whole journey, with where it stopped
    assert page.inner_text("#pb-count") == "4 / 4"
    assert "pb-active" not in (page.get_attribute("#journey-figure svg", "class") or "")
