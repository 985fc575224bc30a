"""The home page: the box for an order, customer or trace id (answered by search.lookup);
trace search with filters; the orders that are stuck, lost or anomalous now (from the
order-status snapshot, read again by the page while it is shown), with a warning when the live
worker stopped keeping it current, and the page listing all orders of one status."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import requires
from accounts.models import AuditEntry
from explorer.alerts.views import open_alert_count
from explorer.configuration import explorer_config
from explorer.journeys.conformance import COMPLETE, IN_PROGRESS, LOST, STUCK
from explorer.orders.live import last_cycle_done_ns
from explorer.orders.models import OrderStatus
from explorer.orders.service import now_in
from explorer.sources.base import TraceQuery
from explorer.traces.vocabulary import CUSTOMER_TYPE_KEY
from explorer.web import common
from explorer.web.common import clean_int, clean_text, shown, source_errors
from explorer.web.search import refuse_identifier_terms
from explorer.web.trace_list import trace_rows

ORDER_LIST_SHOWN = 20  # per list on the home page; the list page shows them all
ORDER_PAGE_SIZE = 100
ANOMALOUS = "anomalous"
LIST_KINDS = (STUCK, LOST, ANOMALOUS, IN_PROGRESS, COMPLETE)
SEARCH_LIMIT = 100
STATUSES = ("any", "error", "ok")


def _parse_local_time(text: str) -> int | None:
    """A datetime-local value in the viewer's time zone as ns since the epoch, or None."""
    text = clean_text(text, 40)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    try:
        return int(moment.timestamp()) * 10**9
    except (OverflowError, OSError, ValueError):
        return None


def _filters(request) -> tuple[TraceQuery | None, dict, list[str]]:
    """The trace search of the query string, the values to show back, and problems found."""
    get = request.GET
    values = {
        "service": clean_text(get.get("service")),
        "operation": clean_text(get.get("operation")),
        "status": get.get("status") if get.get("status") in STATUSES else "any",
        "min_ms": clean_text(get.get("min_ms"), 12),
        "max_ms": clean_text(get.get("max_ms"), 12),
        "customer_type": clean_text(get.get("customer_type"), 40),
        "since": clean_text(get.get("since"), 40),
        "until": clean_text(get.get("until"), 40),
    }
    if not any(values[k] for k in values if k != "status") and values["status"] == "any":
        return None, values, []
    problems = []
    query = TraceQuery(
        service=values["service"] or None,
        operation=values["operation"] or None,
        errors_only=values["status"] == "error",
        limit=SEARCH_LIMIT,
    )
    if values["customer_type"]:
        query.attributes[CUSTOMER_TYPE_KEY] = values["customer_type"]
    for key, field in (("min_ms", "min_duration_ns"), ("max_ms", "max_duration_ns")):
        if values[key]:
            number = clean_int(values[key], -1, -1, 10**9)
            if number < 0:
                problems.append(
                    _(
                        "The duration “%(value)s” is not a whole number of "
                        "milliseconds; it was ignored."
                    )
                    % {"value": values[key]}
                )
            else:
                setattr(query, field, number * 1_000_000)
    for key, field in (("since", "start_ns"), ("until", "end_ns")):
        if values[key]:
            moment = _parse_local_time(values[key])
            if moment is None:
                problems.append(
                    _("The time “%(value)s” is not a date and time; it was ignored.")
                    % {"value": values[key]}
                )
            else:
                setattr(query, field, moment)
    return query, values, problems


def _order_row(request, row: OrderStatus, now_ns: int) -> dict:
    return {
        "order_id": shown(request, row.order_id),
        "state": row.state,
        "customer_type": row.customer_type,
        "channel": row.channel,
        "violations": len(row.violations),
        "status": row.status_at(now_ns),
        "waiting_ns": (now_ns - row.state_since_ns if row.state_since_ns is not None else None),
        "limit_ns": row.state_limit_ns,
        "last_seen_ns": row.last_seen_ns,
        "anomaly_summary": anomaly_summary(request, row),
    }


def anomaly_summary(request, row: OrderStatus) -> str:
    """The order's atypically slow operations, "Container: operation, ... and N more", the
    containers by their names in the page's language; a row stored before the snapshot kept
    them apart shows its stored (English) summary."""
    if not row.anomalous_operations:
        return shown(request, row.anomaly_summary)
    names = explorer_config().names
    parts = [
        shown(request, f"{names.get(container, container)}: {operation}")
        for container, operation in row.anomalous_operations
    ]
    text = ", ".join(parts)
    more = row.anomalous_operation_count - len(parts)
    if more > 0:
        text += " " + ngettext("and %(count)s more", "and %(count)s more", more) % {"count": more}
    return text


def _snapshot_now(source) -> tuple[int, OrderStatus | None]:
    """The time the snapshot's stuck and lost are decided at (the newest span in the source,
    the orders service's now_in()), and the newest snapshot row (None: no snapshot yet)."""
    newest = OrderStatus.objects.order_by("-computed_at").first()
    if newest is None:
        return 0, None
    now = now_in(source)
    return (now if now is not None else newest.as_of_ns), newest


def order_lists(request, source) -> dict | None:
    """The orders stuck, lost or anomalous now, of any age, newest first, from the
    order-status snapshot (`manage.py orders --refresh`); None when there is none yet."""
    now, newest = _snapshot_now(source)
    if newest is None:
        return None
    lists = []
    for title, kind in ((_("Stuck"), STUCK), (_("Lost"), LOST), (_("Anomalous"), ANOMALOUS)):
        found = _listed(kind, now).newest_first()
        lists.append(
            {
                "title": title,
                "kind": kind,
                "total": found.count(),
                "rows": [_order_row(request, r, now) for r in found[:ORDER_LIST_SHOWN]],
            }
        )
    return {"lists": lists, "computed_at": newest.computed_at, "as_of_ns": newest.as_of_ns}


def stale_worker() -> datetime | None:
    """When the live worker last finished a cycle, if that is longer ago than
    EXPLORER_LIVE_STALE_SECONDS (it died or is stuck: the lists are not kept current); None
    while it cycles, or where no live worker ever ran (`orders --refresh` alone)."""
    done_ns = last_cycle_done_ns()
    if done_ns is None or time.time_ns() - done_ns <= settings.EXPLORER_LIVE_STALE_SECONDS * 1e9:
        return None
    return datetime.fromtimestamp(done_ns / 1e9, tz=UTC)


def _listed(kind: str, now_ns: int):
    if kind == ANOMALOUS:
        return OrderStatus.objects.anomalous()
    return OrderStatus.objects.with_status_at(kind, now_ns)


@requires("view_analytics")
@source_errors
def order_list(request):
    """Every order of one status (or anomalous) from the snapshot, newest first, paged."""
    kind = request.GET.get("status")
    if kind not in LIST_KINDS:
        kind = STUCK
    now, newest = _snapshot_now(common.source())
    context: dict = {"kind": kind, "kinds": LIST_KINDS, "snapshot": newest is not None}
    if newest is not None:
        page = Paginator(_listed(kind, now).newest_first(), ORDER_PAGE_SIZE).get_page(
            clean_int(request.GET.get("page"), 1, 1)
        )
        context.update(
            page=page,
            rows=[_order_row(request, r, now) for r in page],
            computed_at=newest.computed_at,
            as_of_ns=newest.as_of_ns,
        )
    return render(request, "web/order_list.html", context)


def administration(user) -> dict | None:
    """The administrator's home: users, lockouts, the audit log, tour progress, alerts, with
    counts; None for roles that administer nothing."""
    if not (user.has_perm("accounts.manage_users") or user.has_perm("accounts.view_audit")):
        return None
    since = timezone.now() - timedelta(days=1)
    limit = getattr(settings, "AXES_FAILURE_LIMIT", 5)
    links = []
    if user.has_perm("accounts.manage_users"):
        links += [
            {
                "url": reverse("admin:auth_user_changelist"),
                "title": _("Users"),
                "count": User.objects.filter(is_active=True).count(),
                "note": _("active accounts; roles, second-factor devices"),
            },
            {
                "url": reverse("admin:axes_accessattempt_changelist"),
                "title": _("Lockouts"),
                "count": AccessAttempt.objects.filter(failures_since_start__gte=limit).count(),
                "note": _("accounts or addresses locked after failed logins"),
            },
            {
                "url": reverse("tours:progress_all"),
                "title": _("Tour progress"),
                "count": None,
                "note": _("who finished which onboarding tour"),
            },
        ]
    if user.has_perm("accounts.view_audit"):
        links.append(
            {
                "url": reverse("accounts:audit_log"),
                "title": _("Audit log"),
                "count": AuditEntry.objects.filter(time__gte=since).count(),
                "note": _("entries in the last 24 hours"),
            }
        )
    if user.has_perm("accounts.view_analytics"):
        links.append(
            {
                "url": reverse("alerts:list"),
                "title": _("Alerts"),
                "count": open_alert_count(user),
                "note": _("open alerts and their rules"),
            }
        )
    return {"links": links}


@requires("view_tours")
@source_errors
def home(request):
    user = request.user
    context: dict = {
        "can_lookup": user.has_perm("accounts.view_journeys"),
        "administration": administration(user),
        "open_alerts": open_alert_count(user),
        "can_search": user.has_perm("accounts.view_analytics"),
        "q": clean_text(request.GET.get("q")),
        "nothing_found": False,
    }
    if context["can_search"]:
        source = common.source()
        query, values, problems = _filters(request)
        context.update(
            values=values,
            problems=problems,
            statuses=STATUSES,
            services=[shown(request, s) for s in source.services()[:500]],
        )
        # An operation or service named with a customer id is an existence test: refused.
        refused, too_many = refuse_identifier_terms(
            request, {key: values[key] for key in ("service", "operation", "customer_type")}
        )
        if too_many is not None:
            return too_many
        if query is not None:
            found = [] if refused else source.search(query)
            if values["status"] == "ok":
                found = [s for s in found if not s.error_count]
            context["traces"] = trace_rows(request, found)
            context["searched"] = True
        context["orders_now"] = order_lists(request, source)
        context["worker_stopped_at"] = stale_worker()
        context["refresh_s"] = max(settings.EXPLORER_LIVE_PAGE_SECONDS, 0)
    return render(request, "web/home.html", context)


@requires("view_analytics")
@source_errors
def orders_now(request):
    """The home page's stuck, lost and anomalous lists alone, which its script reads again
    every EXPLORER_LIVE_PAGE_SECONDS: the live worker keeps the snapshot current."""
    context = {
        "orders_now": order_lists(request, common.source()),
        "worker_stopped_at": stale_worker(),
    }
    return render(request, "web/_orders_now.html", context)
