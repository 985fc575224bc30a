"""The alerts page in Debian's Chromium: acknowledge through the real form, English and Russian,
wide and narrow (screenshots in test-artifacts/), and axe-core finds no serious violation."""

from __future__ import annotations

import pytest
from django.utils import timezone

from explorer.alerts.models import Alert
from tests.browser_support import ARTIFACTS, log_in, screenshot

SERIOUS = {"serious", "critical"}
WIDE = {"width": 1366, "height": 768}
NARROW = {"width": 680, "height": 900}


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
    card.locator("button:has-text('Acknowledge')").click()
    page.wait_for_selector(".alert-card:has-text('CRM consumer restarted')")
    assert Alert.objects.get(order_id="A-100188").acknowledged_by is not None
    acknowledged = page.locator(".alert-card", has_text="A-100188")
    assert "user-analyst" in acknowledged.inner_text()
    acknowledged.screenshot(path=str(ARTIFACTS / "alerts-acknowledged.png"))
    page.set_viewport_size(NARROW)
    screenshot(page, "alerts-en-narrow")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"] + 1

    page.select_option("#language-select", "ru")
    page.click(".language-form button")
    page.wait_for_selector("h1:has-text('Оповещения')")
    assert "Проверьте потребителя в CRM API" in page.inner_text(".alert-list")
    screenshot(page, "alerts-ru-narrow")
    page.set_viewport_size(WIDE)
    assert serious_violations(page) == []
    screenshot(page, "alerts-ru-wide")
