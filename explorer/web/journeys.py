"""The order journey page and the customer page."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import UTC, datetime

from django.core.cache import cache
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts import audit
from accounts.access import requires
from accounts.redaction import redact_mapping, redact_trace
from explorer.configuration import explorer_config
from explorer.diagrams.overlay import overlay_from_traces
from explorer.diagrams.render import render_svg
from explorer.journeys.assembly import customer_orders, journey_for_order, latest_time_ns
from explorer.journeys.conformance import check_states
from explorer.journeys.models import stored_references
from explorer.journeys.report import JourneyReport, report_for_order
from explorer.web import common
from explorer.web.common import clean_text, shown, shown_customer, source_errors

JOURNEY_SECONDS = 60
CUSTOMER_ORDERS_MAX = 50
MAX_ID = 200


def _key(*parts: object) -> str:
    return "web:" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _url(name: str, *args: str) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def report(order_id: str) -> JourneyReport:
    """The order's report, judged against the reference `orders --refresh` stored when it is
    recent enough (else computed, which reads thousands of traces)."""
    config = explorer_config()
    source = common.source()
    return report_for_order(source, order_id, config.graph, config.sla, config.container_of,
                            names=config.names, load_reference=stored_references(source.name))


def journey_svg(request, journey_report: JourneyReport, order_id: str) -> str:
    """The journey drawn on the C4 diagram; elements link to their steps on this page."""
    config = explorer_config()
    pol = common.policy(request)
    traces = [redact_trace(t, pol) for t in journey_report.journey.traces]
    overlay = overlay_from_traces(
        traces, config.model, config.mapping, sla_limit_ms=config.sla_limit_ms,
        title=_("Order %(id)s") % {"id": shown(request, order_id)},
        step_url=lambda trace_id, span_id: _url("web:span", trace_id, span_id))
    page = _url("web:order", order_id) or ""
    return render_svg(config.model, overlay,
                      element_url=lambda eid: f"{page}?container={eid}#timeline")


def _state_graph(graph, changes: list[dict], current: str | None) -> list[dict]:
    """Every state of the graph, marked reached (when, by whom), current or not reached."""
    reached: dict[str, dict] = {}
    for change in changes:
        reached.setdefault(change["state"], change)
    states = []
    for name in graph.names:
        change = reached.get(name)
        states.append({"name": name, "reached": change is not None,
                       "current": name == current, "final": graph.is_final(name),
                       "at": change["at"] if change else None,
                       "container": change["container"] if change else None,
                       "limit_ns": graph.limit_ns(name)})
    for name, change in reached.items():  # states the graph does not know
        if not graph.knows(name):
            states.append({"name": name, "reached": True, "current": name == current,
                           "final": False, "at": change["at"],
                           "container": change["container"], "unknown": True})
    return states


def _days(steps: list[dict]) -> list[tuple[str, list[dict]]]:
    """Steps grouped by day in the viewer's time zone."""
    days: OrderedDict[str, list[dict]] = OrderedDict()
    zone = timezone.get_current_timezone()
    for step in steps:
        try:
            moment = datetime.fromisoformat(step["start"].replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            moment = datetime.fromtimestamp(0, tz=UTC)
        days.setdefault(moment.astimezone(zone).date().isoformat(), []).append(step)
    return list(days.items())


def _trace_list(request, traces) -> list[dict]:
    """Every trace of the order by start: time, root service and operation, duration and
    status, as a list people can read (not bare ids)."""
    rows = []
    for trace in sorted(traces, key=lambda t: (t.start_ns, t.trace_id)):
        spans = trace.spans
        root = min((s for s in spans if s.parent_id is None), key=lambda s: s.start_ns,
                   default=spans[0] if spans else None)
        rows.append({
            "trace_id": trace.trace_id, "url": _url("web:trace", trace.trace_id),
            "start_ns": trace.start_ns if spans else None,
            "duration_ns": max(trace.end_ns - trace.start_ns, 0) if spans else 0,
            "service": shown(request, root.resource.service_name) if root else "",
            "operation": shown(request, root.name) if root else "",
            "spans": len(spans), "errors": sum(1 for s in spans if s.is_error)})
    return rows


def journey_context(request, order_id: str) -> dict | None:
    """Everything the page shows, redacted for the viewer; cached briefly per viewer kind."""
    pol = common.policy(request)
    key = _key("journey", common.source().name, order_id, pol.show_identifiers, get_language())
    found = cache.get(key)
    if found is not None:
        return found
    result = report(order_id)
    if not result.journey.traces:
        return None
    config = explorer_config()
    data = redact_mapping(result.as_dict(), pol)
    data["customer_id"] = shown_customer(request, result.journey.customer_id)
    customer_url = None
    if pol.show_identifiers and result.journey.customer_id:
        customer_url = _url("web:customer", result.journey.customer_id)
    language = "ru" if (get_language() or "en").startswith("ru") else "en"
    for step in data["steps"]:
        step["url"] = _url("web:span", step["trace_id"], step["span_id"])
        step["container_name"] = config.names.get(step["container"], step["container"])
    context = {
        "order_id": order_id,
        "data": data,
        "story": data["summary"].get(language, ""),
        "customer_url": customer_url,
        "states": _state_graph(config.graph, data["states"], data["state"]),
        "svg": journey_svg(request, result, order_id),
        "trace_links": _trace_list(request, result.journey.traces),
        "downloads": {
            "json": _url("web:journey_json", order_id),
            "svg": _url("web:journey_svg", order_id),
            "png": _url("web:journey_png", order_id),
        },
    }
    cache.set(key, context, JOURNEY_SECONDS)
    return context


@requires("view_journeys")
@source_errors
def order(request, order_id):
    order_id = clean_text(order_id, MAX_ID)
    audit.record(request, audit.AuditAction.VIEW, "order", order_id)
    context = journey_context(request, order_id) if order_id else None
    if context is None:
        return common.not_found(request, _("No trace mentions the order “%(id)s”.")
                                % {"id": shown(request, order_id)})
    container = clean_text(request.GET.get("container"), 80)
    steps = context["data"]["steps"]
    if container:
        steps = [s for s in steps if s["container"] == container]
    return render(request, "web/journey.html", {
        **context, "container": container, "days": _days(steps)})


def customer_journeys(source, order_ids):
    """(order id, journey, state conformance) of each of a customer's orders, in order."""
    config = explorer_config()
    now = latest_time_ns(source) or 0
    for order_id in order_ids:
        journey = journey_for_order(source, order_id, container_of=config.container_of)
        yield order_id, journey, check_states(journey, config.graph, now)


def customer_not_found(request, customer_id):
    return common.not_found(request, _("No trace mentions the customer “%(id)s”.")
                            % {"id": shown_customer(request, customer_id)})


@requires("view_journeys")
@source_errors
def customer(request, customer_id):
    customer_id = clean_text(customer_id, MAX_ID)
    audit.record(request, audit.AuditAction.VIEW, "customer", customer_id)
    source = common.source()
    orders = customer_orders(source, customer_id) if customer_id else []
    if not orders:
        return customer_not_found(request, customer_id)
    rows = []
    for order_id, journey, conformance in customer_journeys(source, orders[-CUSTOMER_ORDERS_MAX:]):
        first = journey.spans[0].start_ns if journey.spans else None
        rows.append({"order_id": shown(request, order_id), "url": _url("web:order", order_id),
                     "status": conformance.status, "state": conformance.state or "",
                     "started_ns": first, "traces": len(journey.traces),
                     "violations": len(conformance.violations),
                     "customer_type": journey.customer_type or ""})
    return render(request, "web/customer.html", {
        "customer_id": shown_customer(request, customer_id), "orders": rows[::-1],
        "total": len(orders), "shown": len(rows)})
