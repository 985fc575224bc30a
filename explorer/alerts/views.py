"""The alerts page: open alerts, then the acknowledged ones still open, each a page at a
time, then the recently resolved, filtered by kind; acknowledge and assign (POST with CSRF,
each in the audit log, confirmed by a message, back on the same page at the next alert).
Analysts and architects (view_analytics) see every kind; support (view_journeys with
view_customer_ids: the people who answer the customers) sees the order alerts. Everything
taken from traces is redacted for the viewer."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.defaults import permission_denied

from accounts import audit
from accounts.access import requires
from accounts.redaction import policy_for_user, redact_text, redact_value
from explorer.alerts.config import KINDS, ORDER_KINDS
from explorer.alerts.models import Alert
from explorer.alerts.text import kind_title, summary
from explorer.configuration import explorer_config
from explorer.traces.visible import visible_line
from explorer.traces.vocabulary import CUSTOMER_KEY

RECENT_SHOWN = 50  # resolved alerts listed under the open ones
PAGE_SIZE = 10  # alert cards a page (about 2,500 px at 1366)
NOTE_LENGTH = 1000
# Where an action returns to: the page of each list, the kind, and the card to scroll to.
PAGE_FIELDS = ("open_page", "ack_page")
ANCHOR = re.compile(r"(alert-[0-9]+|open-alerts|acknowledged-alerts)")


def visible_kinds(user) -> tuple[str, ...]:
    """The alert kinds a user sees (and may acknowledge and assign): every kind with
    view_analytics; the order kinds for support (view_journeys and view_customer_ids)."""
    if user.has_perm("accounts.view_analytics"):
        return KINDS
    if user.has_perm("accounts.view_journeys") and user.has_perm("accounts.view_customer_ids"):
        return tuple(k for k in KINDS if k in ORDER_KINDS)
    return ()


def open_alert_count(user) -> int | None:
    """How many alerts the user would see open (None: the user sees no alerts)."""
    kinds = visible_kinds(user)
    return Alert.objects.open().of_kinds(kinds).count() if kinds else None


def _handlers():
    """Users who may be assigned an alert: those who can see alerts at all."""
    analytics = Q(groups__permissions__codename="view_analytics") | Q(
        user_permissions__codename="view_analytics"
    )
    support = Q(groups__permissions__codename="view_customer_ids") | Q(
        user_permissions__codename="view_customer_ids"
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(analytics | support)
        .distinct()
        .order_by("username")
    )


def _denied(request):
    return permission_denied(
        request, PermissionDenied(_("Alerts are for support, analysts and architects."))
    )


def _row(request, alert: Alert, names) -> dict:
    policy = policy_for_user(request.user)
    endpoint = (
        f"{names.get(alert.container, alert.container)}: {alert.operation}"
        if alert.container
        else ""
    )
    journey = reverse("web:order", args=[alert.order_id]) if alert.order_id else None
    return {
        "alert": alert,
        "title": kind_title(alert.kind),
        "order_id": redact_text(alert.order_id, policy),
        "journey": journey,
        "endpoint": redact_text(endpoint, policy),
        "summary": redact_text(summary(alert, names), policy),
        "customer": (
            str(redact_value(CUSTOMER_KEY, alert.customer_id, policy)) if alert.customer_id else ""
        ),
        "customer_type": redact_text(alert.customer_type, policy),
        "note": redact_text(alert.note, policy),
    }


def _page_rows(request, page: Page, names, section: str) -> list[dict]:
    """The page's rows, each with the anchor an action on it returns to: the card that takes
    its place once acknowledged (the next, else the one before, else the list's heading)."""
    rows = [_row(request, a, names) for a in page.object_list]
    for i, row in enumerate(rows):
        beside = rows[i + 1] if i + 1 < len(rows) else rows[i - 1] if i else None
        row["after"] = f"alert-{beside['alert'].pk}" if beside else section
    return rows


@requires("view_journeys")
def alert_list(request):
    kinds = visible_kinds(request.user)
    if not kinds:
        return _denied(request)
    kind = request.GET.get("kind")
    shown = (kind,) if kind in kinds else kinds
    names = explorer_config().names
    found = Alert.objects.of_kinds(shown).select_related("acknowledged_by", "assignee")
    open_page = Paginator(found.open().filter(acknowledged_at__isnull=True), PAGE_SIZE).get_page(
        request.GET.get("open_page")
    )
    ack_page = Paginator(found.open().filter(acknowledged_at__isnull=False), PAGE_SIZE).get_page(
        request.GET.get("ack_page")
    )
    recent = list(
        found.filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")[:RECENT_SHOWN]
    )
    return render(
        request,
        "alerts/alerts.html",
        {
            "kinds": [(k, kind_title(k)) for k in kinds],
            "kind": kind if kind in kinds else "",
            "open_page": open_page,
            "ack_page": ack_page,
            "open": _page_rows(request, open_page, names, "open-alerts"),
            "acknowledged": _page_rows(request, ack_page, names, "acknowledged-alerts"),
            "recent": [_row(request, a, names) for a in recent],
            "handlers": list(_handlers().values_list("username", flat=True)),
        },
    )


def _alert_for(request, alert_id: int) -> Alert:
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None or alert.kind not in visible_kinds(request.user):
        raise Http404(_("No such alert."))
    return alert


def _back(request) -> HttpResponseRedirect:
    """Back where the action was made: the same kind, the same pages, at the card given."""
    kind = request.POST.get("kind")
    query = {"kind": kind} if kind in KINDS else {}
    for field in PAGE_FIELDS:
        number = request.POST.get(field, "")
        if number.isdigit() and number != "1":
            query[field] = number
    anchor = request.POST.get("anchor", "")
    fragment = f"#{anchor}" if ANCHOR.fullmatch(anchor) else ""
    return HttpResponseRedirect(
        reverse("alerts:list") + (f"?{urlencode(query)}" if query else "") + fragment
    )


@requires("view_journeys")
@require_POST
def acknowledge(request, alert_id: int):
    if not visible_kinds(request.user):
        return _denied(request)
    alert = _alert_for(request, alert_id)
    note = "".join(ch for ch in request.POST.get("note", "") if ch.isprintable() or ch == "\n")
    first = alert.acknowledged_at is None
    alert.acknowledged_by = request.user
    alert.acknowledged_at = timezone.now()
    alert.note = note.strip()[:NOTE_LENGTH]
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "note"])
    audit.record(
        request,
        audit.AuditAction.ADMIN_CHANGE,
        "alert",
        alert.pk,
        f"acknowledged {alert.kind} {alert.subject}" + (f": {alert.note}" if alert.note else ""),
    )
    messages.success(request, _acknowledged_message(request, alert, first))
    return _back(request)


def _what(request, alert: Alert) -> dict[str, str]:
    """The alert as a confirmation names it: its kind and its subject, redacted."""
    row = _row(request, alert, explorer_config().names)
    return {"alert": row["title"], "subject": row["order_id"] or row["endpoint"]}


def _acknowledged_message(request, alert: Alert, first: bool) -> str:
    what = _what(request, alert)
    if first:
        return (
            _("Acknowledged: %(alert)s %(subject)s. It is listed under the acknowledged alerts.")
            % what
        )
    return _("Note saved: %(alert)s %(subject)s.") % what


@requires("view_journeys")
@require_POST
def assign(request, alert_id: int):
    if not visible_kinds(request.user):
        return _denied(request)
    alert = _alert_for(request, alert_id)
    name = request.POST.get("assignee", "").strip()
    assignee = _handlers().filter(username=name).first() if name else None
    if name and assignee is None:
        raise Http404(_("No such user among those who handle alerts."))
    alert.assignee = assignee
    alert.save(update_fields=["assignee"])
    audit.record(
        request,
        audit.AuditAction.ADMIN_CHANGE,
        "alert",
        alert.pk,
        f"assigned {alert.kind} {alert.subject} to {name or 'nobody'}",
    )
    messages.success(
        request,
        _("Assigned %(alert)s %(subject)s to %(name)s.")
        % {**_what(request, alert), "name": visible_line(name) if name else _("nobody")},
    )
    return _back(request)
