"""The alert rules, for architects to tune (threshold, window, recipients; the five kinds are
fixed), and the alerts and deliveries to look at (kept by the cycle, never edited here)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.admin_site import ArchitectsEdit, ReadOnly
from accounts.roles import ROLES
from explorer.alerts.models import Alert, AlertRule, Delivery

SHARE_KINDS = ("sla_breach", "anomaly")  # thresholds that are shares, 0-1


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = [
            "enabled",
            "threshold",
            "window_minutes",
            "min_count",
            "recipient_roles",
            "recipient_emails",
        ]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        threshold = data.get("threshold")
        if threshold is not None:
            if self.instance.kind in SHARE_KINDS and not 0 <= threshold <= 1:
                self.add_error("threshold", ValidationError("a share: from 0 to 1"))
            elif threshold < 0:
                self.add_error("threshold", ValidationError("must not be negative"))
        unknown = [
            r
            for r in AlertRule(recipient_roles=data.get("recipient_roles", "")).roles
            if r not in ROLES
        ]
        if unknown:
            self.add_error(
                "recipient_roles",
                ValidationError(
                    f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}"
                ),
            )
        for address in AlertRule(recipient_emails=data.get("recipient_emails", "")).emails:
            try:
                validate_email(address)
            except ValidationError:
                self.add_error(
                    "recipient_emails", ValidationError(f"{address!r} is not an e-mail address")
                )
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(ArchitectsEdit, admin.ModelAdmin):
    form = AlertRuleForm
    list_display = (
        "kind",
        "enabled",
        "threshold",
        "window_minutes",
        "min_count",
        "recipient_roles",
    )
    readonly_fields = ("kind",)

    def has_add_permission(self, request, obj=None):
        return False  # one rule per kind, created with the defaults

    def has_delete_permission(self, request, obj=None):
        return False


class ArchitectsRead(ReadOnly, ArchitectsEdit):
    """Architects may look, nobody edits."""

    pass


@admin.register(Alert)
class AlertAdmin(ArchitectsRead, admin.ModelAdmin):
    list_display = (
        "kind",
        "subject",
        "opened_at",
        "last_seen_at",
        "resolved_at",
        "acknowledged_by",
        "assignee",
    )
    list_filter = ("kind",)
    search_fields = ("subject",)
    exclude = ("customer_id",)  # shown redacted on the alerts page only


@admin.register(Delivery)
class DeliveryAdmin(ArchitectsRead, admin.ModelAdmin):
    list_display = ("alert", "event", "channel", "target", "ok", "at")
    list_filter = ("channel", "ok")
