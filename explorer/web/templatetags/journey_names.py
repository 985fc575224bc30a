"""Names of order statuses, customer types and violation kinds in the page language (the
data carries ids such as "in_progress" and "b2b_partner")."""

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
VIOLATION_NAMES = {
    "transition_not_allowed": _("transition not allowed"),
    "state_skipped": _("state skipped"),
    "state_repeated": _("state repeated"),
    "wrong_system": _("set by the wrong system"),
    "transition_backwards": _("transition backwards"),
    "systems_disagree": _("systems disagree"),
}
DIFFERENCE_NAMES = {"slow": _("much slower"), "missing": _("missing"), "extra": _("extra")}


def _readable(value: str) -> str:
    return str(value).replace("_", " ")


@register.filter
def status_name(value):
    return STATUS_NAMES.get(value, _readable(value)) if value else "—"


@register.filter
def customer_type_name(value):
    return CUSTOMER_TYPE_NAMES.get(value, _readable(value)) if value else "—"


@register.filter
def difference_name(value):
    return DIFFERENCE_NAMES.get(value, _readable(value))


@register.filter
def violation_name(value):
    return VIOLATION_NAMES.get(value, _readable(value))
