"""The alerts page in Debian's Chromium: acknowledge through the real form, English and Russian,
wide and narrow (screenshots in test-artifacts/), and axe-core finds no serious violation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from explorer.alerts.models import Alert
from tests.browser_support import ARTIFACTS, log_in, screenshot

SERIOUS = {"serious", "critical"}
WIDE = {"width": 1366, "height": 768}
NARROW = {"width": 680, "height": 900}
NARROW_PHONE = {"width": 420, "height": 900}


@pytest.fixture
def alerts(transactional_db):
    now = timezone.now()
    common = {"opened_at": now, "last_seen_at": now}
    Alert.objects.create(
        kind="lost_message",
        subject="A-100188",
        order_id="A-100188",
        customer_id="C-00123",
        customer_type="vip",
        **common,
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
    Alert.objects.create(
        kind="stuck",
        subject="A-100024",
        order_id="A-100024",
        customer_id="C-00045",
        customer_type="retail",
        **common,
        facts={
            "state": "MANUFACTURING_APPROVED",
            "since_ns": 1741079700 * 10**9,
            "limit_ns": 4 * 86400 * 10**9,
            "next_states": ["MANUFACTURING_STARTED"],
            "next_setters": ["mes_api"],
        },
    )
    Alert.objects.create(
        kind="sla_breach",
        subject="crm_api POST /api/orders/{id}/approve",
        container="crm_api",
        operation="POST /api/orders/{id}/approve",
        **common,
        facts={"requests": 20, "within": 13, "target": 0.95, "limit_ms": 800, "window_minutes": 60},
    )
    Alert.objects.create(
        kind="state_violation",
        subject="A-100097",
        order_id="A-100097",
        customer_id="C-00002",
        customer_type="b2b_partner",
        resolved_at=now,
        **common,
        facts={
            "violations": [
                {
                    "kind": "state_skipped",
                    "state": "PACKAGING",
                    "previous": "MANUFACTURING_STARTED",
                    "container": "mes_api",
                    "other": "MANUFACTURING_COMPLETED",
                }
            ]
        },
    )


def serious_violations(tab) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(tab)
    return [
        f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes'][:3]]})"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.browser
def test_alerts_page_in_english_and_russian_wide_and_narrow(page, live_server, alerts):
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size(WIDE)
    page.goto(live_server.url + "/")
    page.click("a:has-text('3 open alerts')")
    page.wait_for_selector("h1:has-text('Alerts')")
    assert "Check the consumer in CRM API" in page.inner_text(".alert-list")
    assert serious_violations(page) == []
    screenshot(page, "alerts-en-wide")

    card = page.locator(".alert-card", has_text="A-100188")
    card.locator("textarea").fill("CRM consumer restarted")
    page.once("dialog", lambda dialog: dialog.accept())  # "Acknowledge ...?"
    card.locator("button:has-text('Acknowledge')").click()
    page.wait_for_selector(".alert-card:has-text('CRM consumer restarted')")
    assert Alert.objects.get(order_id="A-100188").acknowledged_by is not None
    acknowledged = page.locator(".alert-list.acknowledged .alert-card", has_text="A-100188")
    assert "user-analyst" in acknowledged.inner_text()
    acknowledged.screenshot(path=str(ARTIFACTS / "alerts-acknowledged.png"))
    page.set_viewport_size(NARROW)
    screenshot(page, "alerts-en-narrow")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"] + 1

    page.select_option("#language-select", "ru")
    page.click(".language-form button")
    page.wait_for_selector("h1:has-text('Оповещения')")
    assert "Проверьте потребителя в CRM API" in page.inner_text(".alert-list.acknowledged")
    screenshot(page, "alerts-ru-narrow")
    page.set_viewport_size(WIDE)
    assert serious_violations(page) == []
    screenshot(page, "alerts-ru-wide")


def _stuck_alerts(count: int) -> list[Alert]:
    now = timezone.now()
    return [
        Alert.objects.create(
            kind="stuck",
            subject=f"A-{600000 + n}",
            order_id=f"A-{600000 + n}",
            opened_at=now - timedelta(minutes=n),  # newest first: 1, 2, 3...
            last_seen_at=now,
            facts={"state": "PACKAGING", "since_ns": 1741079700 * 10**9},
        )
        for n in range(1, count + 1)
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sixty_alerts_acknowledged_on_page_three_in_russian(page, live_server):
    """Sixty open alerts come ten to a page; acknowledging one on page 3 asks first, says
    what it did and comes back to page 3 at the next card, in view; at 1366 and 420 in
    Russian (screenshots alerts-ru-paged-*.png)."""
    alerts = _stuck_alerts(60)
    log_in(page, live_server.url, "analyst")
    page.set_viewport_size(WIDE)
    page.goto(live_server.url + "/alerts/")
    page.select_option("#language-select", "ru")
    page.click(".language-form button")
    page.wait_for_selector("h1:has-text('Оповещения')")
    assert page.locator(".alert-card").count() == 10
    page.click("#open-alerts ~ .pagination a[rel=next]")
    page.click("#open-alerts ~ .pagination a[rel=next]")
    page.wait_for_selector("text=Страница 3 из 6")
    chosen, following = alerts[24], alerts[25]
    card = page.locator(f"#alert-{chosen.pk}")
    card.scroll_into_view_if_needed()
    page.once("dialog", lambda dialog: dialog.dismiss())  # changed one's mind: nothing done
    card.locator(".ack-form button").click()
    page.wait_for_timeout(300)
    assert Alert.objects.get(pk=chosen.pk).acknowledged_at is None
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator(".ack-form button").click()
    page.wait_for_url(f"**/alerts/?open_page=3#alert-{following.pk}")
    assert Alert.objects.get(pk=chosen.pk).acknowledged_at is not None
    message = page.locator(".messages")
    assert f"Принято: Застрявший заказ {chosen.order_id}" in message.inner_text()
    assert 0 <= message.bounding_box()["y"] < WIDE["height"]  # in view above the card
    assert "Страница 3 из 6" in page.inner_text("#open-alerts ~ .pagination")
    box = page.locator(f"#alert-{following.pk}").bounding_box()
    assert 0 <= box["y"] < WIDE["height"] / 2, box
    screenshot(page, "alerts-ru-paged-wide")
    assert chosen.order_id in page.inner_text(".alert-list.acknowledged")
    page.set_viewport_size(NARROW_PHONE)
    page.goto(live_server.url + f"/alerts/?open_page=3#alert-{following.pk}")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW_PHONE["width"] + 1
    screenshot(page, "alerts-ru-paged-narrow")
