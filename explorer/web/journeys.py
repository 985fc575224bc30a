"""The order journey page and the customer page."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts import audit
from accounts.access import requires
from accounts.redaction import redact_mapping, redact_trace
from explorer.caching import SharedCache, cache_key
from explorer.configuration import explorer_config
from explorer.diagrams.dot_labels import dom_id
from explorer.diagrams.journey import journey_overlay, typical_path, typical_path_of_calls
from explorer.diagrams.overlay import Overlay
from explorer.diagrams.render import render_svg
from explorer.diagrams.words import milliseconds
from explorer.journeys.assembly import customer_orders
from explorer.journeys.report import JourneyReport
from explorer.journeys.service import judge_order, states_of_orders
from explorer.web import common
from explorer.web.common import clean_text, shown, shown_customer, source_errors
from explorer.web.pseudonyms import customer_from_url, raw_id_from_url, url_id

JOURNEY_SECONDS = 60
CUSTOMER_ORDERS_MAX = 50
MAX_ID = 200
TYPICAL_PATH_ORDERS = 20  # sample orders of the type read to draw the typical path

_contexts = SharedCache("default", JOURNEY_SECONDS)
_typical_paths = SharedCache("default", JOURNEY_SECONDS)
_bodies = SharedCache("default", JOURNEY_SECONDS)


def report(order_id: str) -> JourneyReport:
    """The order's report, judged against the reference `orders --refresh` stored when it is
    recent enough (else computed, which reads thousands of traces)."""
    return judge_order(common.source(), order_id, explorer_config())


def _language() -> str:
    return "ru" if (get_language() or "en").startswith("ru") else "en"


def local_time(ns: int, fmt: str = "%d.%m %H:%M") -> str:
    """A moment in the viewer's time zone."""
    moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return moment.astimezone(timezone.get_current_timezone()).strftime(fmt)


def journey_diagram_overlay(request, journey_report: JourneyReport, order_id: str) -> Overlay:
    """The journey as drawn for this viewer: redacted, in the page's language and time zone."""
    config = explorer_config()
    pol = common.policy(request)
    traces = [redact_trace(t, pol) for t in journey_report.journey.traces]
    overlay = journey_overlay(
        journey_report,
        traces,
        config.model,
        config.mapping,
        config.graph,
        sla_limit_ms=config.sla_limit_ms,
        lang=_language(),
        when=local_time,
        title=_("Order %(id)s") % {"id": shown(request, order_id)},
        step_url=lambda trace_id, span_id: reverse("web:span", args=[trace_id, span_id]),
    )
    samples = journey_report.typical_orders[:TYPICAL_PATH_ORDERS]
    recorded = [journey_report.typical_calls.get(o) for o in samples]
    if samples and all(calls is not None for calls in recorded):
        # Their samples (the reference `orders --refresh` stored) recorded their calls.
        overlay.typical = typical_path_of_calls(recorded, config.model)
    elif samples:  # only relationship ids leave these journeys: nothing to redact
        source = common.source()
        # Every order of a customer type shares its samples: read their journeys once.
        overlay.typical = _typical_paths.get_or_compute(
            cache_key("typical-path", source.name, *samples),
            lambda: typical_path(
                (j.journey for j in states_of_orders(source, samples, config)),
                config.model,
                config.mapping,
            ),
        )
    return overlay


def journey_svg(
    request, journey_report: JourneyReport, order_id: str, overlay: Overlay | None = None
) -> str:
    """The journey drawn on the C4 diagram (the page's and the download's: the same picture);
    elements link to their steps on this page."""
    config = explorer_config()
    if overlay is None:
        overlay = journey_diagram_overlay(request, journey_report, order_id)
    page = reverse("web:order", args=[url_id(request, order_id)])
    return render_svg(
        config.model, overlay, element_url=lambda eid: f"{page}?container={eid}#timeline"
    )


def _ok(outcome: str) -> bool:
    return outcome == "ok" or (outcome.startswith("HTTP ") and outcome[5:6] in "123")


# The timeline shows at most this many steps (and the one where the order stopped): an order
# with a trace of 20,000 spans has 6,000 of them, 1.2 MB of the page. The journey's CSV
# download and the order's traces have every step.
TIMELINE_STEPS_SHOWN = 1_000
# The step list and its playback show at most this many calls (then where the order is now):
# an order with a trace of 20,000 spans has 12,000 calls, whose list alone took 5.5 MB of the
# page, and a playback of them would last hours. The traces of the order have every call.
PLAYBACK_STEPS_SHOWN = 1_000


def playback_steps(
    overlay: Overlay,
    journey_report: JourneyReport,
    names: dict,
    limit: int,
) -> list[dict]:
    """One entry per step of the diagram, in time order (the first `limit`): the sentence that
    tells it and the state the order was in after it; then where the order is now.

    Steps come in order of their start, and a call may end before an earlier, longer one
    that encloses it (a nested call). The state told after a step is the last change up to
    the latest end of the steps so far, not of this step alone: it never goes back to an
    earlier state because a short nested call ended first."""
    lang = _language()
    changes = journey_report.conformance.changes  # in time order
    entries, state, told, horizon = [], None, 0, None
    for step in overlay.steps[:limit]:
        end = step.start_ns + step.duration_ns
        horizon = end if horizon is None else max(horizon, end)
        while told < len(changes) and changes[told].at_ns <= horizon:
            told += 1
        now_in = changes[told - 1].state if told else None
        entered = now_in if now_in is not None and now_in != state else None
        state = now_in if now_in is not None else state
        sentence = _("%(time)s · %(source)s → %(target)s: %(operation)s, %(duration)s") % {
            "time": local_time(step.start_ns, "%d.%m %H:%M:%S"),
            "source": names.get(step.source, step.source),
            "target": names.get(step.target, step.target),
            "operation": step.label,
            "duration": milliseconds(step.duration_ns, lang),
        }
        if not _ok(step.outcome):
            sentence += f", {step.outcome}"
        if step.undocumented:
            sentence += " " + _("(a call the model does not document)")
        if entered:
            sentence += " " + _("The order is now %(state)s.") % {"state": entered}
        entries.append(
            {
                "n": step.number,
                "sentence": sentence,
                "state": state,
                "source": dom_id(step.source),
                "target": dom_id(step.target),
                "operation": step.label,
                "duration": milliseconds(step.duration_ns, lang),
                "outcome": step.outcome,
                "ok": _ok(step.outcome),
                "url": step.url,
                "undocumented": step.undocumented,
                "source_name": names.get(step.source, step.source),
                "target_name": names.get(step.target, step.target),
            }
        )
    if overlay.stops:
        stop = overlay.stops[0]
        where = names.get(stop.element, stop.element)
        if stop.target:
            where += " → " + names.get(stop.target, stop.target)
        entries.append(
            {
                "n": len(overlay.steps) + 1,
                "stop": True,
                "sentence": f"{where}: {stop.text}",
                "element": dom_id(stop.element),
                "kind": stop.kind,
                "state": journey_report.conformance.state,
            }
        )
    return entries


def playback_context(overlay: Overlay, journey_report: JourneyReport, names: dict) -> dict:
    """What templates/web/_playback.html shows: the steps, and how many calls there are."""
    limit = PLAYBACK_STEPS_SHOWN
    return {
        "playback": playback_steps(overlay, journey_report, names, limit),
        "steps_total": len(overlay.steps),
        "steps_shown": min(len(overlay.steps), limit),
    }


def _differences(journey_report: JourneyReport, overlay: Overlay, graph) -> list[dict]:
    """What this order did unlike the typical one, placed on the diagram: an extra operation
    on the steps that ran it, a missing one on its container, a slow state on the container
    that had to act next."""
    found = []
    for d in journey_report.differences:
        container, _sep, operation = d.subject.partition(": ")
        entry = {
            "kind": d.kind,
            "subject": d.subject,
            "detail": d.detail,
            "steps": [],
            "element": "",
        }
        if operation:
            entry["steps"] = [
                s.number
                for s in overlay.steps
                if s.label == operation and container in (s.source, s.target)
            ]
            entry["element"] = dom_id(container)
        else:  # a state
            following = [b for a, b in graph.transitions if a == d.subject]
            owners = [o for b in following[:1] for o in graph.owners(b)]
            entry["element"] = dom_id(owners[0]) if owners else ""
        found.append(entry)
    return found


def _name(element: str) -> str:
    return explorer_config().names.get(element, element)


def _state_graph(graph, changes: list[dict], current: str | None) -> list[dict]:
    """Every state of the graph, marked reached (when, by whom), current or not reached."""
    reached: dict[str, dict] = {}
    for change in changes:
        reached.setdefault(change["state"], change)
    states = []
    for name in graph.names:
        change = reached.get(name)
        states.append(
            {
                "name": name,
                "reached": change is not None,
                "current": name == current,
                "final": graph.is_final(name),
                "at": change["at"] if change else None,
                "container": change["container"] if change else None,
                "container_name": _name(change["container"]) if change else None,
                "limit_ns": graph.limit_ns(name),
            }
        )
    for name, change in reached.items():  # states the graph does not know
        if not graph.knows(name):
            states.append(
                {
                    "name": name,
                    "reached": True,
                    "current": name == current,
                    "final": False,
                    "at": change["at"],
                    "container": change["container"],
                    "container_name": _name(change["container"]),
                    "unknown": True,
                }
            )
    return states


def _timeline_steps(steps: list[dict], limit: int) -> list[dict]:
    """The first `limit` steps, and any later one where the order stopped."""
    return steps[:limit] + [s for s in steps[limit:] if s.get("stop")]


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
        root = min(
            (s for s in spans if s.parent_id is None),
            key=lambda s: s.start_ns,
            default=spans[0] if spans else None,
        )
        rows.append(
            {
                "trace_id": url_id(request, trace.trace_id),
                "url": reverse("web:trace", args=[url_id(request, trace.trace_id)]),
                "start_ns": trace.start_ns if spans else None,
                "duration_ns": max(trace.end_ns - trace.start_ns, 0) if spans else 0,
                "service": shown(request, root.resource.service_name) if root else "",
                "operation": shown(request, root.name) if root else "",
                "spans": len(spans),
                "errors": sum(1 for s in spans if s.is_error),
            }
        )
    return rows


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


def journey_context(request, order_id: str) -> dict | None:
    """Everything the page shows, redacted for the viewer; cached briefly per viewer kind."""
    pol = common.policy(request)
    key = _viewer_key(request, "journey", order_id)
    found = _contexts.get(key)
    if found is not None:
        return found
    result = report(order_id)
    if not result.journey.traces:
        return None
    config = explorer_config()
    data = redact_mapping(result.as_dict(), pol)
    data["customer_id"] = shown_customer(request, result.journey.customer_id)
    customer_url = None
    if result.journey.customer_id:  # the pseudonym for viewers who see no raw ids
        customer_url = reverse("web:customer", args=[data["customer_id"]])
    language = _language()
    names = config.names
    lost = {m.span_id: m for m in result.conformance.unconsumed}
    for step in data["steps"]:
        step["url"] = reverse("web:span", args=[step["trace_id"], step["span_id"]])
        step["container_name"] = names.get(step["container"], step["container"])
        if step["span_id"] in lost:  # the step where the order stopped says so
            step["stop"] = _("message never consumed since %(at)s") % {
                "at": local_time(lost[step["span_id"]].at_ns)
            }
    for kind in ("lost_messages", "sla_breaches", "anomalies"):
        for item in data[kind]:
            item["container_name"] = names.get(item["container"], item["container"])
    overlay = journey_diagram_overlay(request, result, order_id)
    shown = playback_context(overlay, result, names)
    playback = shown["playback"]
    link_id = url_id(request, order_id)
    context = {
        "order_id": link_id,
        "data": data,
        "story": data["summary"].get(language, ""),
        "customer_url": customer_url,
        "states": _state_graph(config.graph, data["states"], data["state"]),
        "svg": journey_svg(request, result, order_id, overlay),
        **shown,
        "stop": next((p for p in playback if p.get("stop")), None),
        "differences": _differences(result, overlay, config.graph),
        "typical_path": bool(overlay.typical),
        "trace_links": _trace_list(request, result.journey.traces),
        "downloads": {
            "json": reverse("web:journey_json", args=[link_id]),
            "svg": reverse("web:journey_svg", args=[link_id]),
            "png": reverse("web:journey_png", args=[link_id]),
        },
    }
    _contexts.put(key, context)
    return context


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
        order_id = given  # the id as the viewer gave it, in the answer
        return common.not_found(
            request, _("No trace mentions the order “%(id)s”.") % {"id": shown(request, order_id)}
        )
    container = clean_text(request.GET.get("container"), 80)
    start_step = _start_step(request, len(context["playback"]))

    def body() -> str:
        steps = context["data"]["steps"]
        if container:
            steps = [s for s in steps if s["container"] == container]
        shown = _timeline_steps(steps, TIMELINE_STEPS_SHOWN)
        page = {
            **context,
            "container": container,
            "days": _days(shown),
            "timeline_total": len(steps),
            "timeline_shown": min(len(steps), TIMELINE_STEPS_SHOWN),
            "container_name": explorer_config().names.get(container, container),
            "start_step": start_step,
        }
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
    for judged in states_of_orders(source, orders[-CUSTOMER_ORDERS_MAX:], explorer_config()):
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
