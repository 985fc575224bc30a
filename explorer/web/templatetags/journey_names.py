"""Names of order statuses, customer types, channels, span kinds and violation kinds in the page
language (the data carries ids such as "in_progress", "b2b_partner" and "partner_api"; a value
these do not know, from a trace, is shown as it is, escaped by the template)."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

STATUS_NAMES = {
    "complete": _("complete"),
    "in_progress": _("in progress"),
    "stuck": _("stuck"),
    "lost": _("lost"),
    "anomalous": _("anomalous"),
}
CUSTOMER_TYPE_NAMES = {
    "retail": _("retail"),
    "vip": _("VIP"),
    "b2b_partner": _("B2B partner"),
}
CHANNEL_NAMES = {
    "shop": _("Internet Shop"),
    "partner_api": _("partner API"),
}
VIOLATION_NAMES = {
    "transition_not_allowed": _("transition not allowed"),
    "state_skipped": _("state skipped"),
    "state_repeated": _("state repeated"),
    "wrong_system": _("set by the wrong system"),
    "transition_backwards": _("transition backwards"),
    "systems_disagree": _("systems disagree"),
}
# OTLP span kinds, as the tour player lists them ("server", from SpanKind's names).
SPAN_KIND_NAMES = {
    "internal": _("internal"),
    "server": _("server"),
    "client": _("client"),
    "producer": _("producer"),
    "consumer": _("consumer"),
}
# OTLP span status codes (explorer.traces.model.StatusCode), as the span panel shows them.
SPAN_STATUS_NAMES = {"unset": _("not set"), "ok": _("OK"), "error": _("error")}
DIFFERENCE_NAMES = {"slow": _("much slower"), "missing": _("missing"), "extra": _("extra")}


def _readable(value: str) -> str:
    return str(value).replace("_", " ")


@register.filter
def status_name(value):
    return STATUS_NAMES.get(value, _readable(value)) if value else "—"


@register.simple_tag
def customer_type_choices() -> list[tuple[str, str]]:
    """(value, name in the page language) of the customer types the explorer knows."""
    return [(value, str(name)) for value, name in CUSTOMER_TYPE_NAMES.items()]


@register.filter
def customer_type_name(value):
    return CUSTOMER_TYPE_NAMES.get(value, _readable(value)) if value else "—"


@register.filter
def channel_name(value):
    return CHANNEL_NAMES.get(value, _readable(value)) if value else "—"


@register.filter
def span_kind_name(value):
    return SPAN_KIND_NAMES.get(str(value).lower(), _readable(value)) if value else "—"


@register.filter
def span_status_name(value):
    return SPAN_STATUS_NAMES.get(str(value).lower(), _readable(value)) if value else "—"


@register.filter
def difference_name(value):
    return DIFFERENCE_NAMES.get(value, _readable(value))


@register.filter
def violation_name(value):
    return VIOLATION_NAMES.get(value, _readable(value))
