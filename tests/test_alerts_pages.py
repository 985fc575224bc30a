"""The alerts page for each role, acknowledging and assigning (POST with CSRF, audited), the
redaction of what it shows, and the open-alert count on the home page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry
from accounts.testing import login_as, make_user, pseudonym_of
from explorer.alerts.models import Alert

PAGE = "/alerts/"


@pytest.fixture
def alerts(db):
    now = timezone.now()
    common = {"opened_at": now, "last_seen_at": now}
    return {
        "lost": Alert.objects.create(
            kind="lost_message",
            subject="A-400001",
            order_id="A-400001",
            customer_id="C-00123",
            customer_type="vip",
            **common,
            facts={
                "messages": [
                    {
                        "destination": "orders.priced",
                        "producer": "mes_api",
                        "at_ns": 1741170000 * 10**9,
                        "trace_id": "t",
                        "consumers": ["crm_api"],
                    }
                ]
            },
        ),
        "sla": Alert.objects.create(
            kind="sla_breach",
            subject="crm_api POST /api/orders/{id}/approve",
            container="crm_api",
            operation="POST /api/orders/{id}/approve",
            **common,
            facts={
                "requests": 20,
                "within": 13,
                "target": 0.95,
                "limit_ms": 800,
                "window_minutes": 60,
            },
        ),
        "old": Alert.objects.create(
            kind="stuck",
            subject="A-400002",
            order_id="A-400002",
            customer_id="C-00456",
            facts={"state": "PACKAGING"},
            resolved_at=now,
            **common,
        ),
    }


@pytest.mark.parametrize(
    ("role", "sees_orders", "sees_endpoints"),
    [("support", True, False), ("analyst", True, True), ("architect", True, True)],
)
def test_the_page_shows_each_role_its_kinds(client, alerts, role, sees_orders, sees_endpoints):
    login_as(client, role)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert ("A-400001" in html) == sees_orders
    assert ("CRM API: POST /api/orders/{id}/approve" in html) == sees_endpoints
    assert "crm_api" not in html and "mes_api" not in html  # names from the model
    assert 'href="/orders/A-400001/"' in html  # the order's journey
    assert "Check the consumer in CRM API" in html
    assert "Recently resolved" in html and "A-400002" in html  # resolved, listed below
    open_count = 2 if sees_endpoints else 1
    assert re.search(rf"{open_count} open alerts?\b", html)


@pytest.mark.parametrize("role", ["onboarding", "administrator"])
def test_roles_without_alerts_are_refused(client, alerts, role):
    login_as(client, role)
    assert client.get(PAGE).status_code == 403
    assert client.post(f"/alerts/{alerts['lost'].pk}/acknowledge/").status_code == 403


def test_customer_ids_redacted_for_the_viewer(client, alerts):
    login_as(client, "analyst")
    html = client.get(PAGE).content.decode()
    assert "C-00123" not in html and pseudonym_of("C-00123") in html
    client.logout()
    login_as(client, "support", username="sup-2")
    assert "C-00123" in client.get(PAGE).content.decode()


def test_filter_by_kind(client, alerts):
    login_as(client, "analyst")
    html = client.get(PAGE + "?kind=sla_breach").content.decode()
    assert "A-400001" not in html and "POST /api/orders/{id}/approve" in html
    # A kind the viewer may not see, or none at all, lists what the viewer may see.
    client.logout()
    login_as(client, "support", username="sup-3")
    html = client.get(PAGE + "?kind=sla_breach").content.decode()
    assert "A-400001" in html and "approve" not in html


def csrf_client(role: str, username: str | None = None) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    user = login_as(client, role, username=username)
    html = client.get(PAGE).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return client, token, user


def test_acknowledge_with_a_note_is_audited(alerts):
    client, token, user = csrf_client("support")
    lost = alerts["lost"]
    target = f"/alerts/{lost.pk}/acknowledge/"
    assert client.post(target, {"note": "called the CRM team"}).status_code == 403  # no CSRF
    response = client.post(
        target,
        {"note": "called the CRM team", "kind": "lost_message", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302 and response["Location"] == PAGE + "?kind=lost_message"
    lost.refresh_from_db()
    assert lost.acknowledged_by == user and lost.acknowledged_at is not None
    assert lost.note == "called the CRM team"
    entry = AuditEntry.objects.get(object_type="alert", object_id=str(lost.pk))
    assert entry.user == user and "acknowledged lost_message A-400001" in entry.detail
    html = client.get(PAGE).content.decode()
    assert "called the CRM team" in html and "Update the note" in html


def test_assign_to_someone_who_handles_alerts(alerts):
    make_user("analyst", username="ana-on-call")
    make_user("onboarding", username="newcomer")
    client, token, _ = csrf_client("support")
    lost = alerts["lost"]
    html = client.get(PAGE).content.decode()
    assert '<option value="ana-on-call"' in html and "newcomer" not in html
    target = f"/alerts/{lost.pk}/assign/"
    assert (
        client.post(target, {"assignee": "ana-on-call", "csrfmiddlewaretoken": token}).status_code
        == 302
    )
    lost.refresh_from_db()
    assert lost.assignee.username == "ana-on-call"
    assert AuditEntry.objects.filter(object_type="alert", detail__contains="ana-on-call").exists()
    assert (
        client.post(target, {"assignee": "newcomer", "csrfmiddlewaretoken": token}).status_code
        == 404
    )
    assert client.post(target, {"assignee": "", "csrfmiddlewaretoken": token}).status_code == 302
    lost.refresh_from_db()
    assert lost.assignee is None


def test_support_cannot_act_on_endpoint_alerts_and_get_is_refused(alerts):
    client, token, _ = csrf_client("support")
    sla = alerts["sla"]
    assert (
        client.post(f"/alerts/{sla.pk}/acknowledge/", {"csrfmiddlewaretoken": token}).status_code
        == 404
    )
    assert (
        client.post("/alerts/999999/acknowledge/", {"csrfmiddlewaretoken": token}).status_code
        == 404
    )
    assert client.get(f"/alerts/{sla.pk}/acknowledge/").status_code == 405
    sla.refresh_from_db()
    assert sla.acknowledged_by is None


def test_home_page_shows_the_open_alert_count(client, alerts):
    login_as(client, "analyst")
    html = client.get("/").content.decode()
    assert re.search(r'href="/alerts/">2 open alerts</a>', html)
    client.logout()
    login_as(client, "support", username="sup-4")
    assert re.search(r'href="/alerts/">1 open alert</a>', client.get("/").content.decode())
    client.logout()
    login_as(client, "onboarding")
    assert "open alert" not in client.get("/").content.decode()


def test_trace_text_in_an_alert_is_escaped(client, db):
    now = timezone.now()
    Alert.objects.create(
        kind="anomaly",
        subject="mes_api <script>x</script>",
        container="mes_api",
        operation="<script>alert(1)</script>",
        opened_at=now,
        last_seen_at=now,
        facts={"slow": 3, "calls": 5, "median_ms": 2, "window_minutes": 60},
    )
    login_as(client, "analyst")
    html = client.get(PAGE).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_the_page_in_russian(client, alerts):
    login_as(client, "analyst")
    html = client.get(PAGE, headers={"accept-language": "ru"}).content.decode()
    assert "Оповещения" in html and "Проверьте потребителя в CRM API" in html


def test_architects_tune_the_rules_in_the_admin(client, db):
    from explorer.alerts.models import AlertRule

    login_as(client, "analyst")
    assert client.get("/admin/alerts/alertrule/").status_code == 403
    client.logout()
    login_as(client, "architect")
    listing = client.get("/admin/alerts/alertrule/").content.decode()
    assert all(
        kind in listing
        for kind in ("lost_message", "stuck", "state_violation", "sla_breach", "anomaly")
    )
    assert client.get("/admin/alerts/alertrule/add/").status_code == 403
    rule = AlertRule.objects.get(kind="sla_breach")
    target = f"/admin/alerts/alertrule/{rule.pk}/change/"
    form = {
        "enabled": "on",
        "threshold": "1.5",
        "window_minutes": "30",
        "min_count": "5",
        "recipient_roles": "analyst,wizard",
        "recipient_emails": "not an address",
    }
    page = client.post(target, form).content.decode()
    assert "a share: from 0 to 1" in page and "wizard" in page and "not an address" in page
    form.update(
        threshold="0.99", recipient_roles="analyst", recipient_emails="sla@alexandrite.example"
    )
    assert client.post(target, form).status_code == 302
    rule.refresh_from_db()
    assert (rule.threshold, rule.window_minutes, rule.emails) == (
        0.99,
        30,
        ["sla@alexandrite.example"],
    )
    # Alerts and deliveries: to look at, not to edit.
    assert client.get("/admin/alerts/alert/").status_code == 200
    assert client.get("/admin/alerts/alert/add/").status_code == 403
