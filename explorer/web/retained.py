"""Pages for what retention removed (explorer.orders.retention): a trace, or an order's
traces, "removed by retention on <date>" instead of "not found"; an order's page then shows
its stored status and summary (the order-status snapshot keeps them longer)."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from explorer.orders.models import OrderStatus
from explorer.store.retention import order_removal, trace_removed_on
from explorer.web.common import shown, shown_customer
from explorer.web.home import anomaly_summary

# 410 Gone: the resource existed and is gone for good.
GONE = 410


def _policy_note() -> str:
    policy = settings.EXPLORER_RETENTION
    return _(
        "Traces of orders that went well are kept %(days)s days; those of orders that were "
        "lost, stuck, anomalous, off the state graph, over an SLA or alerted, %(problem_days)s "
        "days."
    ) % {"days": f"{policy.trace_days:g}", "problem_days": f"{policy.problem_days:g}"}


def _day(on: date) -> str:
    return date_format(on, "DATE_FORMAT")


def removed_trace(request: HttpRequest, trace_id: str) -> HttpResponse | None:
    """The page of a trace retention removed, or None when it did not remove it."""
    on = trace_removed_on(trace_id)
    if on is None:
        return None
    message = _("The trace “%(id)s” was removed by retention on %(date)s.") % {
        "id": shown(request, trace_id),
        "date": _day(on),
    }
    context = {"heading": _("Removed by retention"), "message": message, "note": _policy_note()}
    return render(request, "web/removed.html", context, status=GONE)


def removed_order(request: HttpRequest, order_id: str) -> HttpResponse | None:
    """The page of an order whose traces retention removed (its stored status and summary
    when the snapshot still has them), or None when it removed none of them."""
    removal = order_removal(order_id)
    if removal is None:
        return None
    message = ngettext(
        "The order’s %(count)s trace was removed by retention on %(date)s.",
        "The order’s %(count)s traces were removed by retention on %(date)s.",
        removal.traces,
    ) % {"count": removal.traces, "date": _day(removal.last_on)}
    row = OrderStatus.objects.filter(order_id=order_id).first()
    context = {
        "heading": _("Order %(id)s") % {"id": shown(request, order_id)},
        "message": message,
        "note": _policy_note(),
        "status": _stored(request, row) if row is not None else None,
    }
    return render(request, "web/removed.html", context, status=GONE)


def _stored(request: HttpRequest, row: OrderStatus) -> dict:
    return {
        "status": row.status_at(row.as_of_ns),
        "state": shown(request, row.state),
        "customer": shown_customer(request, row.customer_id),
        "customer_type": row.customer_type,
        "channel": row.channel,
        "first_seen_ns": row.first_seen_ns,
        "last_seen_ns": row.last_seen_ns,
        "violations": [v.get("kind", "") for v in row.violations if isinstance(v, dict)],
        "anomaly": anomaly_summary(request, row) if row.anomalous else "",
    }
