"""Stored alerts, the architects' rule settings, and what was delivered to whom.

One open alert per (kind, subject): the subject is the order id, or "container operation" of
an endpoint. A cycle that finds the condition again only refreshes last_seen_at; when the
condition ends the alert is resolved, and a new one opens if it comes back later."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from explorer.alerts.config import ENDPOINT_KINDS, KINDS, ORDER_KINDS

KIND_CHOICES = [(kind, kind) for kind in KINDS]

# Defaults of each rule (the data migration writes them; the admin edits them).
# threshold: stuck - how many times its state's limit an order may wait (1: the limit itself);
# sla_breach - the compliance target (share of requests within the SLA); anomaly - the share
# of calls atypically slow; unused for lost_message and state_violation.
# window_minutes: sla_breach and anomaly - the trailing window judged; state_violation - only
# orders seen within it open an alert (0: any age). min_count: sla_breach - requests, anomaly -
# calls the window must hold to be judged.
RULE_DEFAULTS: dict[str, dict] = {
    "lost_message": {
        "threshold": 0.0,
        "window_minutes": 0,
        "min_count": 0,
        "recipient_roles": "support",
    },
    "stuck": {"threshold": 1.0, "window_minutes": 0, "min_count": 0, "recipient_roles": "support"},
    "state_violation": {
        "threshold": 0.0,
        "window_minutes": 7 * 24 * 60,
        "min_count": 0,
        "recipient_roles": "support,architect",
    },
    "sla_breach": {
        "threshold": 0.95,
        "window_minutes": 60,
        "min_count": 10,
        "recipient_roles": "analyst,architect",
    },
    "anomaly": {
        "threshold": 0.2,
        "window_minutes": 60,
        "min_count": 5,
        "recipient_roles": "analyst",
    },
}


class AlertRule(models.Model):
    """How one kind of alert is raised and who is told (edited by architects in the admin)."""

    kind = models.CharField(max_length=32, choices=KIND_CHOICES, unique=True)
    enabled = models.BooleanField(default=True)
    threshold = models.FloatField(
        help_text="stuck: times the state's limit (1 = the limit); sla_breach: compliance "
        "target, 0-1; anomaly: share of calls atypically slow, 0-1; else unused"
    )
    window_minutes = models.PositiveIntegerField(
        help_text="sla_breach, anomaly: the trailing window judged; state_violation: only "
        "orders seen within it (0: any age); else unused"
    )
    min_count = models.PositiveIntegerField(
        help_text="sla_breach: requests, anomaly: calls the window must hold to be judged"
    )
    recipient_roles = models.CharField(
        max_length=200,
        blank=True,
        help_text="comma-separated roles whose users (with an e-mail address) are e-mailed; "
        "each gets the text redacted for their own permissions",
    )
    recipient_emails = models.TextField(
        blank=True,
        help_text="further addresses, one per line or comma-separated; they get "
        "customer ids masked",
    )

    class Meta:
        ordering = ["kind"]
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")

    def __str__(self) -> str:
        return self.kind

    @property
    def roles(self) -> list[str]:
        return [r.strip() for r in self.recipient_roles.split(",") if r.strip()]

    @property
    def emails(self) -> list[str]:
        return [e.strip() for e in self.recipient_emails.replace("\n", ",").split(",") if e.strip()]

    @classmethod
    def settings_for(cls, kind: str) -> AlertRule:
        """The stored rule, or an unsaved one with the defaults."""
        found = cls.objects.filter(kind=kind).first()
        return found if found is not None else cls(kind=kind, **RULE_DEFAULTS[kind])


class AlertQuerySet(models.QuerySet):
    def open(self) -> AlertQuerySet:
        return self.filter(resolved_at__isnull=True)

    def of_kinds(self, kinds) -> AlertQuerySet:
        return self.filter(kind__in=list(kinds))


class Alert(models.Model):
    kind = models.CharField(max_length=32, choices=KIND_CHOICES, db_index=True)
    subject = models.CharField(max_length=400, help_text="order id, or 'container operation'")
    order_id = models.CharField(max_length=200, blank=True)
    container = models.CharField(max_length=200, blank=True, help_text="element id")
    operation = models.CharField(max_length=300, blank=True, help_text="endpoint or operation")
    customer_id = models.CharField(
        max_length=200, blank=True, help_text="raw; redacted for each viewer and recipient"
    )
    customer_type = models.CharField(max_length=64, blank=True)
    facts = models.JSONField(
        default=dict, blank=True, help_text="what the alert text is written from"
    )
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_alert_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}"

    @property
    def is_order_alert(self) -> bool:
        return self.kind in ORDER_KINDS

    @property
    def is_endpoint_alert(self) -> bool:
        return self.kind in ENDPOINT_KINDS


class Delivery(models.Model):
    """One notification sent (or tried) about an alert opening or resolving."""

    OPENED, RESOLVED = "opened", "resolved"
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=16, choices=[(OPENED, OPENED), (RESOLVED, RESOLVED)])
    channel = models.CharField(max_length=16, choices=[("email", "e-mail"), ("webhook", "webhook")])
    target = models.CharField(max_length=300, help_text="the address or the webhook's name")
    ok = models.BooleanField()
    error = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")

    def __str__(self) -> str:
        return (
            f"{self.alert} {self.event} -> {self.channel} {self.target}: "
            f"{'ok' if self.ok else 'failed'}"
        )
