"""The web explorer in Debian's Chromium: from the home page to a stuck order, its diagram, a
trace, a span; Russian; and axe-core on the main pages (no serious violations)."""

import io
import re

import pytest
from django.core.management import call_command

from explorer.store.ingest import store_traces
from tests.browser_support import log_in, screenshot
from tests.journey_support import DAY, OrderBuilder, complete_order
from tests.scenario_support import scenario
from tests.web_support import tree_trace

TRACE_ID = "ab" * 16
SERIOUS = {"serious", "critical"}


@pytest.fixture
def stored(transactional_db):
    stuck = scenario("trace-with-partner-order-stuck-after-upload")  # A-100002
    late = OrderBuilder("A-100003", "C-00778")
    late.state("shop-api", "POST /api/orders", 5 * DAY, "INITIATED", None)
    store_traces([*complete_order("A-100001").traces, *stuck, *late.traces, tree_trace(TRACE_ID)])
    call_command("orders", "--refresh", stdout=io.StringIO())  # the home page's snapshot


def serious_violations(tab) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(tab)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {[n['target'] for n in v['nodes'][:3]]})"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.browser
def test_stuck_order_to_trace_to_span_in_russian(page, live_server, stored):
    log_in(page, live_server.url, "analyst")
    page.goto(live_server.url + "/")
    page.click(".order-list.stuck a:has-text('A-100002')")
    page.wait_for_url(re.compile(r".*/orders/A-100002/$"))
    assert "stopped here" in page.inner_text(".state.current")
    screenshot(page, "web-journey")
    page.click("button[data-level=details]")  # the page opens on the overview
    page.click("#el-mes_api a")
    page.wait_for_url(re.compile(r".*\?container=mes_api#timeline$"))

    page.goto(f"{live_server.url}/traces/{TRACE_ID}/")
    toggle = page.locator("#row-1 button.toggle")
    assert toggle.get_attribute("aria-expanded") == "true"
    toggle.click()
    page.wait_for_function(
        "document.querySelector('#row-1 button.toggle').getAttribute('aria-expanded') === 'false'"
    )
    # The toggle turns at once; the folded rows come from the server after it (rows/), so
    # wait for the rows under it to go rather than read them at once (a race under load).
    page.wait_for_selector("#row-2", state="detached")
    page.wait_for_selector("#row-41")
    page.locator("#row-1 button.toggle").click()
    page.wait_for_selector("#row-2")
    page.click("#row-0 a.span-link")
    page.wait_for_selector("#span-panel .span-detail")
    assert "order.state_changed" in page.inner_text("#span-panel")
    screenshot(page, "web-trace")

    page.select_option("#language-select", "ru")
    page.click(".language-form button")
    page.wait_for_selector("text=Диаграмма времени")
    screenshot(page, "web-trace-ru")


@pytest.mark.browser
def test_main_pages_have_no_serious_accessibility_violations(page, live_server, stored):
    log_in(page, live_server.url, "architect")
    found = {}
    for path in [
        "/",
        "/orders/A-100002/",
        f"/traces/{TRACE_ID}/",
        "/map/?window=7d",
        "/drift/?window=7d",
        "/sla/?window=7d",
        "/anomalies/?window=7d",
        "/upload/",
    ]:
        page.goto(live_server.url + path)
        problems = serious_violations(page)
        if problems:
            found[path] = problems
    assert found == {}


@pytest.mark.browser
def test_the_home_page_lists_follow_the_snapshot_without_a_reload(
    page, live_server, stored, settings
):
    """What the live worker stores appears on an open home page by itself; a read that fails
    (here: the session ended) keeps the lists shown and says so."""
    from explorer.orders.models import OrderStatus

    settings.EXPLORER_LIVE_PAGE_SECONDS = 1
    log_in(page, live_server.url, "analyst")
    page.goto(live_server.url + "/")
    anomalous = page.locator(".order-list.anomalous")
    assert "A-100001" not in anomalous.inner_text()
    page.evaluate("window.notReloaded = true")
    OrderStatus.objects.filter(order_id="A-100001").update(
        anomalous=True, anomaly_summary="CRM: a step no order of its kind takes"
    )
    page.wait_for_selector(".order-list.anomalous a:has-text('A-100001')", timeout=5_000)
    assert page.evaluate("window.notReloaded === true")
    assert "a step no order of its kind takes" in anomalous.inner_text()
    failed = page.locator("[data-refresh-failed]")
    assert failed.is_hidden()
    screenshot(page, "home-lists-followed")

    page.context.clear_cookies()  # logged out: the next read gets the login page
    failed.wait_for(state="visible", timeout=5_000)
    assert "A-100001" in anomalous.inner_text()  # the last lists stay
    assert page.evaluate("window.notReloaded === true")
