"""The order journey page and the customer page (the order page's model: web/order_page.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts import audit
from accounts.access import requires
from explorer.caching import SharedCache, cache_key
from explorer.configuration import explorer_config
from explorer.journeys.lookups import customer_orders
from explorer.journeys.report import JourneyReport
from explorer.orders.service import judge_order, judge_states_of_orders
from explorer.web import common, order_page, retained
from explorer.web.common import clean_text, shown, shown_customer, source_errors
from explorer.web.order_page import JOURNEY_SECONDS
from explorer.web.pseudonyms import customer_from_url, raw_id_from_url, url_id

CUSTOMER_ORDERS_MAX = 50
MAX_ID = 200

_contexts = SharedCache("default", JOURNEY_SECONDS)
_bodies = SharedCache("default", JOURNEY_SECONDS)


def report(order_id: str) -> JourneyReport:
    """The order's report, judged against the reference `orders --refresh` stored when it is
    recent enough (else computed, which reads thousands of traces)."""
    return judge_order(common.source(), order_id, explorer_config())


def _viewer_key(request, kind: str, order_id: str) -> str:
    """The key of what the page shows this kind of viewer: redaction, language, time zone."""
    return cache_key(
        kind,
        common.source().name,
        order_id,
        timezone.get_current_timezone_name(),
        policy=common.policy(request),
        language=get_language(),
    )


def journey_context(request: HttpRequest, order_id: str) -> dict[str, Any] | None:
    """Everything the page shows, redacted for the viewer; cached briefly per viewer kind."""
    key = _viewer_key(request, "journey", order_id)
    found = _contexts.get(key)
    if found is not None:
        return found
    result = report(order_id)
    if not result.journey.traces:
        return None
    return _contexts.put(key, order_page.page_context(request, order_id, result))


@requires("view_journeys")
@source_errors
def order(request, order_id):
    given = clean_text(order_id, MAX_ID)
    order_id, refused = raw_id_from_url(request, "order", given) if given else ("", None)
    if refused is not None:
        return refused
    audit.record(request, audit.AuditAction.VIEW, "order", given)
    context = journey_context(request, order_id) if order_id else None
    if context is None:
        removed = retained.removed_order(request, order_id) if order_id else None
        if removed is not None:  # its traces are gone: what the snapshot still says
            return removed
        order_id = given  # the id as the viewer gave it, in the answer
        return common.not_found(
            request, _("No trace mentions the order “%(id)s”.") % {"id": shown(request, order_id)}
        )
    container = clean_text(request.GET.get("container"), 80)
    start_step = _start_step(request, len(context["playback"]))

    def body() -> str:
        timeline = order_page.timeline(context["data"]["steps"], container)
        page = {**context, **timeline, "start_step": start_step}
        return render_to_string("web/_journey_body.html", page, request)

    if container or start_step is not None:
        content = body()
    else:  # the plain page, as most views ask it: its HTML rendered once per viewer kind
        content = _bodies.get_or_compute(_viewer_key(request, "journey-body", order_id), body)
    return render(request, "web/journey.html", {**context, "body": content})


def _start_step(request, total: int) -> int | None:
    """?step=N opens the playback at step N (#step-N does the same in the browser)."""
    try:
        number = int(request.GET.get("step", ""))
    except ValueError:
        return None
    return min(max(number, 0), total)


def unknown_customer(request):
    """For a raw id from a viewer who sees pseudonyms, or an unknown pseudonym: no id in the
    message (the pseudonym of a typed raw id would unmask it)."""
    return common.not_found(request, _("No trace mentions this customer."))


def customer_not_found(request, customer_id):
    return common.not_found(
        request,
        _("No trace mentions the customer “%(id)s”.")
        % {"id": shown_customer(request, customer_id)},
    )


@requires("view_journeys")
@source_errors
def customer(request, customer_id):
    given = clean_text(customer_id, MAX_ID)
    customer_id, refused = customer_from_url(request, given)
    if refused is not None:
        return refused
    if customer_id is None:  # the same answer for a raw id and an unknown pseudonym
        return unknown_customer(request)
    audit.record(request, audit.AuditAction.VIEW, "customer", customer_id)
    source = common.source()
    orders = customer_orders(source, customer_id) if customer_id else []
    if not orders:
        return customer_not_found(request, customer_id)
    rows = []
    for judged in judge_states_of_orders(source, orders[-CUSTOMER_ORDERS_MAX:], explorer_config()):
        order_id, journey, conformance = judged.order_id, judged.journey, judged.conformance
        first = journey.spans[0].start_ns if journey.spans else None
        rows.append(
            {
                "order_id": shown(request, order_id),
                "url": reverse("web:order", args=[url_id(request, order_id)]),
                "status": conformance.status,
                "state": conformance.state or "",
                "started_ns": first,
                "traces": len(journey.traces),
                "violations": len(conformance.violations),
                "customer_type": journey.customer_type or "",
            }
        )
    return render(
        request,
        "web/customer.html",
        {
            "customer_id": shown_customer(request, customer_id),
            "orders": rows[::-1],
            "total": len(orders),
            "shown": len(rows),
        },
    )
