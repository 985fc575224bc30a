"""Alert delivery: e-mail to a real SMTP server (aiosmtpd) on loopback, redacted per recipient;
signed webhooks to real HTTP servers on 127.0.0.1 (one failing, one slow, one good), retried
with backoff, none holding up the others; the resolution delivered too; webhook settings."""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import json
import threading
import time
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.smtp import SMTP
from django.utils import timezone

from accounts.testing import make_user, pseudonym_of
from explorer.alerts.config import WebhookConfigError, parse_webhooks
from explorer.alerts.delivery import SIGNATURE_HEADER, deliver, send_webhooks
from explorer.alerts.models import Alert, AlertRule, Delivery

SECRET = "s3cret-for-tests"  # noqa: S105


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        return [m.get_content() for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(inbox), "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.sockets[0].getsockname()[1]
    settings.EMAIL_TIMEOUT = 5
    yield inbox
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    server.close()
    loop.close()


class Hook(BaseHTTPRequestHandler):
    """Answers as the server's `mode` says and records what it was sent."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        server.requests.append((time.monotonic(), dict(self.headers), body))
        if server.mode == "slow":
            time.sleep(1.0)
        if server.mode == "failing":
            self.send_response(503)
        elif server.mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://elsewhere.invalid/steal")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    started = []

    def start(mode: str, tls=None):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        server.handle_error = lambda request, address: None  # refused handshakes are expected
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.mode, server.requests, server.scheme = mode, [], "https" if tls else "http"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def url(server) -> str:
    return f"{server.scheme}://127.0.0.1:{server.server_address[1]}/hooks/alerts"


def make_alert(**values) -> Alert:
    now = timezone.now()
    defaults = {
        "kind": "lost_message",
        "subject": "A-300001",
        "order_id": "A-300001",
        "customer_id": "C-00123",
        "customer_type": "vip",
        "opened_at": now,
        "last_seen_at": now,
        "facts": {
            "messages": [
                {
                    "destination": "orders.priced",
                    "producer": "mes_api",
                    "at_ns": 1741170000 * 10**9,
                    "trace_id": "t1",
                    "consumers": ["crm_api"],
                }
            ]
        },
    }
    return Alert.objects.create(**{**defaults, **values})


def verify(headers: dict, body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[SIGNATURE_HEADER], expected)


# --- E-mail -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_email_to_each_recipient_redacted_for_their_role(smtp):
    support = make_user("support", username="sup")
    support.email = "support@alexandrite.example"
    support.save()
    analyst = make_user("analyst", username="ana")
    analyst.email = "analyst@alexandrite.example"
    analyst.save()
    make_user("support", username="no-mail")  # no address: not e-mailed
    AlertRule.objects.filter(kind="lost_message").update(
        recipient_roles="support,analyst", recipient_emails="oncall@alexandrite.example"
    )
    alert = make_alert()
    rules = {rule.kind: rule for rule in AlertRule.objects.all()}
    deliveries = deliver([alert], rules, {"mes_api": "MES API", "crm_api": "CRM API"})
    assert sorted((d.channel, d.target, d.ok) for d in deliveries) == [
        ("email", "analyst@alexandrite.example", True),
        ("email", "oncall@alexandrite.example", True),
        ("email", "support@alexandrite.example", True),
    ]
    assert len(smtp.messages) == 3
    to_support = smtp.to("support@alexandrite.example")[0]
    assert "C-00123" in to_support
    assert "the message to orders.priced was published by MES API on 2025-03-05" in to_support
    assert "Check the consumer in CRM API" in to_support
    assert "/orders/A-300001/" in to_support
    for address in ("analyst@alexandrite.example", "oncall@alexandrite.example"):
        text = smtp.to(address)[0]
        assert "C-00123" not in text and pseudonym_of("C-00123") in text, address
    subject = [m["Subject"] for m in smtp.messages][0]
    assert subject == "[Alexandrite] Lost order: A-300001"


@pytest.mark.django_db
def test_a_customer_id_no_pattern_knows_is_masked_too(smtp):
    AlertRule.objects.filter(kind="lost_message").update(
        recipient_roles="", recipient_emails="oncall@alexandrite.example"
    )
    rules = {rule.kind: rule for rule in AlertRule.objects.all()}
    deliver([make_alert(customer_id="alice-smith-77")], rules, {})
    text = smtp.to("oncall@alexandrite.example")[0]
    assert "alice-smith-77" not in text and pseudonym_of("alice-smith-77") in text


@pytest.mark.django_db
def test_the_resolution_is_delivered_too(smtp):
    AlertRule.objects.filter(kind="stuck").update(
        recipient_roles="", recipient_emails="oncall@alexandrite.example"
    )
    alert = make_alert(kind="stuck", facts={"state": "PACKAGING"}, resolved_at=timezone.now())
    rules = {rule.kind: rule for rule in AlertRule.objects.all()}
    [delivery] = deliver([alert], rules, {})
    assert (delivery.event, delivery.ok) == ("resolved", True)
    message = smtp.messages[0]
    assert message["Subject"].startswith("[Alexandrite] Resolved: Stuck order")
    assert "has moved on from PACKAGING" in message.get_content()


@pytest.mark.django_db
def test_an_unreachable_mail_server_is_recorded_not_raised(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    AlertRule.objects.filter(kind="lost_message").update(
        recipient_roles="", recipient_emails="a@alexandrite.example, b@alexandrite.example"
    )
    rules = {rule.kind: rule for rule in AlertRule.objects.all()}
    deliveries = deliver([make_alert()], rules, {})
    assert [d.ok for d in deliveries] == [False, False]
    assert all(d.error for d in deliveries)


# --- Webhooks ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_signed_webhooks_a_failing_and_a_slow_endpoint_hold_up_no_other(hook_server, monkeypatch):
    good, failing, slow = hook_server("ok"), hook_server("failing"), hook_server("slow")
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hooks = parse_webhooks(
        [
            {
                "name": "failing",
                "url": url(failing),
                "secret_env": "HOOK_SECRET",
                "retries": 2,
                "backoff": 0.2,
            },
            {
                "name": "slow",
                "url": url(slow),
                "secret_env": "HOOK_SECRET",
                "timeout": 0.3,
                "retries": 1,
                "backoff": 0.1,
            },
            {"name": "good", "url": url(good), "secret_env": "HOOK_SECRET"},
            {
                "name": "endpoints-only",
                "url": url(good),
                "secret_env": "HOOK_SECRET",
                "kinds": ["sla_breach"],
            },
        ]
    )
    alert = make_alert()
    started = time.monotonic()
    deliveries = send_webhooks([alert], {"mes_api": "MES API", "crm_api": "CRM API"}, hooks)
    assert sorted((d.target, d.ok) for d in deliveries) == [
        ("failing", False),
        ("good", True),
        ("slow", False),
    ]
    # Retried with backoff: three attempts 0.2 s then 0.4 s apart.
    attempts = [at for at, _, _ in failing.requests]
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.18 and attempts[2] - attempts[1] >= 0.38
    assert "HTTP 503" in next(d.error for d in deliveries if d.target == "failing")
    assert "timed out" in next(d.error for d in deliveries if d.target == "slow")
    # The good one was served at once, not after the others gave up.
    [(at, headers, body)] = good.requests
    assert at - started < 0.5
    assert verify(headers, body)
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["event"] == "opened"
    assert payload["alert"]["kind"] == "lost_message"
    assert payload["alert"]["order_id"] == "A-300001"
    assert payload["alert"]["url"].endswith("/orders/A-300001/")
    assert "never consumed" in payload["summary"]["en"]
    assert "не было получено" in payload["summary"]["ru"]
    assert payload["text"].startswith("[Alexandrite] Lost order: A-300001\n")
    # No raw customer id unless the webhook is configured to carry them.
    assert "C-00123" not in body.decode()
    assert payload["alert"]["customer_id"] == pseudonym_of("C-00123")
    assert Delivery.objects.filter(alert=alert).count() == 3


@pytest.mark.django_db
def test_a_tampered_body_fails_verification_and_customer_ids_when_configured(
    hook_server, monkeypatch
):
    good = hook_server("ok")
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hooks = parse_webhooks(
        [{"name": "crm-desk", "url": url(good), "secret_env": "HOOK_SECRET", "customer_ids": True}]
    )
    send_webhooks([make_alert()], {}, hooks)
    [(_, headers, body)] = good.requests
    assert verify(headers, body)
    assert not verify(headers, body.replace(b"A-300001", b"A-300002"))
    assert json.loads(body)["alert"]["customer_id"] == "C-00123"


@pytest.mark.django_db
def test_a_redirect_off_the_webhook_host_is_refused(hook_server, monkeypatch):
    moved = hook_server("redirect")
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hooks = parse_webhooks([{"name": "moved", "url": url(moved), "secret_env": "HOOK_SECRET"}])
    [delivery] = send_webhooks([make_alert()], {}, hooks)
    assert not delivery.ok and "outside" in delivery.error
    assert len(moved.requests) == 1


@pytest.mark.django_db
def test_tls_is_verified_with_the_configured_ca(hook_server, monkeypatch, tmp_path):
    from tests.backends_support import make_pki

    pki = make_pki(tmp_path)
    trusted = hook_server("ok", tls=pki.server_context())
    rogue = hook_server("ok", tls=pki.server_context(rogue=True))
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    hooks = parse_webhooks(
        [
            {
                "name": "trusted",
                "url": url(trusted),
                "secret_env": "HOOK_SECRET",
                "ca_bundle": str(pki.ca),
            },
            {
                "name": "rogue",
                "url": url(rogue),
                "secret_env": "HOOK_SECRET",
                "ca_bundle": str(pki.ca),
                "retries": 0,
            },
        ]
    )
    deliveries = {d.target: d for d in send_webhooks([make_alert()], {}, hooks)}
    assert deliveries["trusted"].ok and len(trusted.requests) == 1
    assert not deliveries["rogue"].ok and "certificate verify failed" in deliveries["rogue"].error
    assert rogue.requests == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"url": "https://x.example/h", "secret_env": "HOOK_SECRET"}, "'name' is missing"),
        ({"name": "a", "url": "ftp://x.example/h", "secret_env": "HOOK_SECRET"}, "http(s) URL"),
        (
            {"name": "a", "url": "https://u:p@x.example/h", "secret_env": "HOOK_SECRET"},
            "no query, fragment or credentials",
        ),
        ({"name": "a", "url": "https://x.example/h"}, "'secret_env'"),
        (
            {"name": "a", "url": "https://x.example/h", "secret_env": "NOT_SET_ANYWHERE"},
            "NOT_SET_ANYWHERE",
        ),
        (
            {
                "name": "a",
                "url": "https://x.example/h",
                "secret_env": "HOOK_SECRET",
                "kinds": ["everything"],
            },
            "unknown kind",
        ),
        (
            {"name": "a", "url": "https://x.example/h", "secret_env": "HOOK_SECRET", "retries": -1},
            "'retries'",
        ),
        (
            {
                "name": "a",
                "url": "https://x.example/h",
                "secret_env": "HOOK_SECRET",
                "verify": False,
            },
            "unknown key",
        ),
    ],
)
def test_webhook_settings_are_checked(entry, message):
    with pytest.raises(WebhookConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_webhooks([entry], environ={"HOOK_SECRET": SECRET})


def test_webhook_settings_parse_json_and_default_to_every_kind():
    [hook] = parse_webhooks(
        '[{"name": "chat", "url": "https://chat.example/hooks/x", "secret_env": "HOOK_SECRET"}]',
        environ={"HOOK_SECRET": SECRET},
    )
    assert hook.wants("anomaly") and hook.wants("lost_message") and not hook.customer_ids
    assert SECRET not in repr(hook)
    assert parse_webhooks("") == []
    with pytest.raises(WebhookConfigError, match="not valid JSON"):
        parse_webhooks("[{")
    with pytest.raises(WebhookConfigError, match="used twice"):
        parse_webhooks(
            [{"name": "a", "url": "https://x.example/", "secret_env": "S"}] * 2, environ={"S": "x"}
        )


def test_a_wrong_webhook_setting_stops_the_start(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "EXPLORER_DATA_DIR": str(tmp_path),
        "EXPLORER_ALERT_WEBHOOKS": (
            '[{"name": "chat", "url": "https://chat.example/h", "secret_env": "NO_SUCH_VAR"}]'
        ),
    }
    env.pop("NO_SUCH_VAR", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "EXPLORER_ALERT_WEBHOOKS[0] ('chat'): environment variable NO_SUCH_VAR" in done.stderr
