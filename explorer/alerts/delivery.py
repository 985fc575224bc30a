"""Telling people: e-mail through Django's e-mail settings, and signed webhooks.

Each e-mail recipient gets the text redacted for them (accounts.redaction: a user by their own
permissions, a plain address as a reader without view_customer_ids). Webhooks get customer ids
masked unless configured with "customer_ids": true. A webhook is a JSON POST signed with
`X-Explorer-Signature: sha256=<hex HMAC-SHA256 of the body>`, sent by the same hardened client
as the tracing backends (TLS verified, redirects only inside its URL, retries with backoff);
webhooks are posted side by side, so a failing or slow one never holds up the others.
Whatever fails for one alert (its text, a recipient, a webhook) is logged with the alert and
its order and recorded as a failed Delivery; the other alerts and deliveries go on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import unicodedata
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from accounts.redaction import (
    RedactionPolicy,
    build_policy,
    policy_for_user,
    pseudonym_key_from_settings,
    redact_text,
    redact_value,
)
from explorer.alerts.config import Webhook, parse_webhooks
from explorer.alerts.models import Alert, AlertRule, Delivery
from explorer.alerts.text import customer_line, kind_title, summary_in
from explorer.sources.base import SourceError
from explorer.sources.http import BackendClient
from explorer.traces.vocabulary import CUSTOMER_KEY

log = logging.getLogger("explorer.alerts")
SIGNATURE_HEADER = "X-Explorer-Signature"
LANGUAGES = ("en", "ru")


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    policy: RedactionPolicy


def _redaction_policy(show_identifiers: bool) -> RedactionPolicy:
    """The policy for a recipient who is no user of ours: the server's pseudonyms, so that a
    pseudonym in an alert is the one the pages show and accept."""
    return build_policy(
        getattr(settings, "EXPLORER_REDACTION", {}), show_identifiers, pseudonym_key_from_settings()
    )


def recipients(rule: AlertRule) -> list[Recipient]:
    """The active users of the rule's roles that have an e-mail address, each with their own
    redaction policy, then the rule's plain addresses (customer ids masked)."""
    found: dict[str, Recipient] = {}
    users = (
        (
            get_user_model()
            .objects.filter(groups__name__in=rule.roles, is_active=True)
            .exclude(email="")
            .distinct()
            .order_by("pk")
        )
        if rule.roles
        else []
    )
    for user in users:
        found.setdefault(user.email.lower(), Recipient(user.email, policy_for_user(user)))
    for address in rule.emails:
        found.setdefault(address.lower(), Recipient(address, _redaction_policy(False)))
    return list(found.values())


def alert_link(alert: Alert) -> str:
    """Where the reader acts: the order's journey, or the alerts page for an endpoint."""
    # The `id` converter takes any stored order id ("/", "\n", ...) and percent-encodes it.
    path = (
        reverse("web:order", args=[alert.order_id])
        if alert.order_id
        else f"{reverse('alerts:list')}?kind={alert.kind}"
    )
    return f"{getattr(settings, 'EXPLORER_ALERT_BASE_URL', '')}{path}"


def _event(alert: Alert) -> str:
    return Delivery.RESOLVED if alert.resolved_at is not None else Delivery.OPENED


def _subject_line(alert: Alert, names: Mapping[str, str]) -> str:
    prefix = "[Alexandrite] " + ("Resolved: " if alert.resolved_at is not None else "")
    with override("en"):
        return f"{prefix}{kind_title(alert.kind)}: {alert.order_id or _endpoint(alert, names)}"


def _endpoint(alert: Alert, names: Mapping[str, str]) -> str:
    return f"{names.get(alert.container, alert.container)}: {alert.operation}"


def email_text(alert: Alert, names: Mapping[str, str]) -> str:
    """The e-mail body, English then Russian, raw (redact it for the recipient)."""
    parts = []
    for language in LANGUAGES:
        with override(language):
            lines = [summary_in(language, alert, names), customer_line(alert)]
        parts.append("\n".join(line for line in lines if line))
    return "\n\n".join([parts[0], alert_link(alert), "—", parts[1]]) + "\n"


def send_emails(
    alert: Alert, rule: AlertRule, names: Mapping[str, str], connection=None
) -> list[Delivery]:
    """One message per recipient (each redacted for its reader)."""
    deliveries = []
    body = email_text(alert, names)
    subject = header_text(_subject_line(alert, names))
    for recipient in recipients(rule):
        message = EmailMessage(
            redacted(subject, alert, recipient.policy),
            redacted(body, alert, recipient.policy),
            to=[recipient.address],
            connection=connection,
        )
        try:
            message.send()
            deliveries.append(_record(alert, "email", recipient.address, ""))
        except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
            log.warning("%s: e-mail to %s failed: %s", about(alert), recipient.address, exc)
            deliveries.append(
                _record(alert, "email", recipient.address, str(exc) or type(exc).__name__)
            )
    return deliveries


def header_text(text: str) -> str:
    """Text for an e-mail header, which may not hold a line break (Django refuses one): every
    control character written as an escape ("A-1\\x0aX" for "A-1", newline, "X")."""
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if unicodedata.category(char) not in ("Cc", "Zl", "Zp"):
        return char
    return f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}"


def payload(alert: Alert, names: Mapping[str, str], customer_ids: bool) -> dict:
    """The webhook's JSON: the alert, its text in both languages, and "text" for chat tools."""
    policy = _redaction_policy(customer_ids)

    def clean(text: str) -> str:
        return redacted(text, alert, policy)

    summaries = {language: clean(summary_in(language, alert, names)) for language in LANGUAGES}
    with override("en"):
        customer = clean(customer_line(alert))
    with override("en"):
        endpoint = _endpoint(alert, names) if alert.container else None
    return {
        "event": _event(alert),
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "order_id": alert.order_id or None,
            "endpoint": endpoint,
            "container": alert.container or None,
            "operation": alert.operation or None,
            "customer_id": (clean_id(alert.customer_id, policy) if alert.customer_id else None),
            "customer_type": alert.customer_type or None,
            "opened_at": iso(alert.opened_at),
            "last_seen_at": iso(alert.last_seen_at),
            "resolved_at": iso(alert.resolved_at),
            "url": alert_link(alert),
        },
        "summary": summaries,
        "text": clean(_subject_line(alert, names))
        + "\n"
        + summaries["en"]
        + (f"\n{customer}" if customer else "")
        + f"\n{alert_link(alert)}",
    }


def clean_id(customer_id: str, policy: RedactionPolicy) -> str:
    return str(redact_value(CUSTOMER_KEY, customer_id, policy))


def redacted(text: str, alert: Alert, policy: RedactionPolicy) -> str:
    """Text about an alert for a reader with this policy: the alert's customer id is masked
    wherever it appears even when it matches no identifier pattern, then the usual rules."""
    if alert.customer_id and not policy.show_identifiers:
        text = text.replace(alert.customer_id, clean_id(alert.customer_id, policy))
    return redact_text(text, policy)


def iso(moment) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def about(alert: Alert) -> str:
    """An alert for a log line: its id and its order or subject."""
    return f"alert {alert.pk} ({alert.kind} {(alert.order_id or alert.subject)[:80]!r})"


def _post(hook: Webhook, body: bytes, event: str) -> str:
    """Posts one body; '' when delivered, else why not."""
    base, _, last = hook.url.rpartition("/")
    try:
        client = BackendClient(hook.backend(base + "/"))
    except Exception as exc:  # a webhook the client cannot take
        return f"{type(exc).__name__}: {exc}"
    try:
        client.post(
            last,
            body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, hook.secret),
                "X-Explorer-Event": event,
            },
        )
        return ""
    except SourceError as exc:
        return str(exc)
    except Exception as exc:  # reported as this delivery's failure
        log.exception("webhook %s: posting failed", hook.name)
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


def send_webhooks(
    alerts: list[Alert],
    names: Mapping[str, str],
    hooks: list[Webhook] | None = None,
    errors: list[str] | None = None,
) -> list[Delivery]:
    """Every alert to every webhook that wants its kind; webhooks side by side. An alert
    whose body cannot be built is a failed delivery to each of its webhooks (in `errors`)."""
    hooks = hooks if hooks is not None else parse_webhooks(settings.EXPLORER_ALERT_WEBHOOKS)
    jobs = []
    deliveries = []
    for alert in alerts:
        wanted = [hook for hook in hooks if hook.wants(alert.kind)]
        for hook in wanted:
            try:
                jobs.append((alert, hook, orjson.dumps(payload(alert, names, hook.customer_ids))))
            except Exception as exc:
                error = _failed(alert, f"webhook {hook.name}", exc, errors)
                deliveries.append(_record(alert, "webhook", hook.name, error))
    if not jobs:
        return deliveries

    def run(hook: Webhook, items: list[tuple[Alert, bytes]]) -> list[tuple[Alert, str]]:
        return [(alert, _post(hook, body, _event(alert))) for alert, body in items]

    by_hook: dict[str, list[tuple[Alert, bytes]]] = {}
    for alert, hook, body in jobs:
        by_hook.setdefault(hook.name, []).append((alert, body))
    named = {hook.name: hook for hook in hooks}
    with ThreadPoolExecutor(max_workers=len(by_hook)) as pool:
        futures = {name: pool.submit(run, named[name], items) for name, items in by_hook.items()}
        for name, future in futures.items():
            for alert, error in future.result():
                if error:
                    log.warning("%s: webhook %s failed: %s", about(alert), name, error)
                deliveries.append(_record(alert, "webhook", name, error))
    return deliveries


def _record(alert: Alert, channel: str, target: str, error: str) -> Delivery:
    return Delivery.objects.create(
        alert=alert,
        event=_event(alert),
        channel=channel,
        target=target[:300],
        ok=not error,
        error=error,
        at=timezone.now(),
    )


def _failed(alert: Alert, what: str, exc: Exception, errors: list[str] | None) -> str:
    """Log a delivery that failed unexpectedly, with the traceback and the alert's order (also
    added to `errors`); returns the error the Delivery records (its alert says the rest)."""
    error = f"{what} failed: {type(exc).__name__}: {exc}"
    line = f"{about(alert)}: {error}"
    log.error("%s", line, exc_info=exc)
    if errors is not None:
        errors.append(line)
    return error


def deliver(
    alerts: list[Alert],
    rules: Mapping[str, AlertRule],
    names: Mapping[str, str],
    errors: list[str] | None = None,
) -> list[Delivery]:
    """E-mails (one SMTP connection for the cycle) and webhooks for these alerts. What fails
    unexpectedly for one alert is a failed Delivery, logged and added to `errors`. `names`
    is read in the language of each text (Configuration.names follows it: the Russian text
    names the containers in Russian)."""
    deliveries: list[Delivery] = []
    if not alerts:
        return deliveries
    connection = get_connection(fail_silently=False)
    try:
        for alert in alerts:
            try:
                deliveries += send_emails(alert, rules[alert.kind], names, connection)
            except Exception as exc:
                error = _failed(alert, "e-mail", exc, errors)
                deliveries.append(_record(alert, "email", "", error))
    finally:
        with contextlib.suppress(OSError):
            connection.close()
    deliveries += send_webhooks(alerts, names, errors=errors)
    return deliveries
