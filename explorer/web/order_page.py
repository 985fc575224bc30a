"""The order page's model: what the order page, its downloads and the tours' example orders
show of a judged journey, redacted for the viewer, in the viewer's language and time zone —
the journey on the C4 diagram (with the typical path of its customer type), the playback of
its calls, its states, its differences from the typical order, its traces and its timeline
by day. Templates read the shapes below as they read dicts. The view is web/journeys.py."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.redaction import redact_mapping, redact_trace
from explorer.caching import SharedCache, cache_key
from explorer.configuration import explorer_config
from explorer.diagrams.dot_labels import dom_id
from explorer.diagrams.journey import journey_overlay, typical_path, typical_path_of_calls
from explorer.diagrams.overlay import Overlay
from explorer.diagrams.overview import OverviewWords, hops, overview_svg
from explorer.diagrams.render import render_svg
from explorer.diagrams.words import milliseconds
from explorer.journeys.report import JourneyReport
from explorer.journeys.state_graph import StateGraph
from explorer.orders.service import judge_states_of_orders
from explorer.traces.model import Trace
from explorer.web import common
from explorer.web.common import page_language, shown, shown_customer
from explorer.web.difference_text import difference_detail
from explorer.web.pseudonyms import url_id

JOURNEY_SECONDS = 60  # what the page shows of a journey is kept this long
TYPICAL_PATH_ORDERS = 20  # sample orders of the type read to draw the typical path

_typical_paths = SharedCache("default", JOURNEY_SECONDS)


class PlaybackStep(TypedDict):
    """A call of the journey in the step list and its playback."""

    n: int
    sentence: str
    state: str | None  # the state the order was in after it
    source: str  # dom ids of its ends on the diagram
    target: str
    operation: str
    duration: str
    outcome: str
    ok: bool
    url: str | None
    undocumented: bool
    source_name: str
    target_name: str


class PlaybackStop(TypedDict):
    """Where the order is now, after its calls in the step list."""

    n: int
    stop: bool
    sentence: str
    element: str  # dom id on the diagram
    kind: str
    state: str | None


class DifferenceRow(TypedDict):
    """What the order did unlike the typical one, and where on the diagram."""

    kind: str
    subject: str
    detail: str
    steps: list[int]  # numbers of the steps that ran an extra operation
    element: str  # dom id of the container concerned ("" if none)


class GraphState(TypedDict):
    """A state of the state graph: reached (when, by whom), current, or not reached."""

    name: str
    reached: bool
    current: bool
    final: bool
    at: str | None
    container: str | None
    container_name: str | None
    limit_ns: NotRequired[int | None]
    unknown: NotRequired[bool]  # a state the graph does not know


class TraceRow(TypedDict):
    """A trace of the order as people read it."""

    trace_id: str
    url: str
    start_ns: int | None
    duration_ns: int
    service: str
    operation: str
    spans: int
    errors: int


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
        lang=page_language(),
        when=local_time,
        title=_("Order %(id)s") % {"id": shown(request, order_id)},
        step_url=lambda trace_id, span_id: reverse("web:span", args=[trace_id, span_id]),
    )
    overlay.typical = _typical_path(journey_report)
    return overlay


def _typical_path(journey_report: JourneyReport) -> set[tuple[str, str]]:
    """The relationships of the typical path of the order's customer type (none without
    sample orders): from the calls its samples recorded, else from their journeys."""
    config = explorer_config()
    samples = journey_report.typical_orders[:TYPICAL_PATH_ORDERS]
    if not samples:
        return set()
    recorded = [journey_report.typical_calls.get(o) for o in samples]
    calls = [c for c in recorded if c is not None]
    if len(calls) == len(samples):
        # Their samples (the reference `orders --refresh` stored) recorded their calls.
        return typical_path_of_calls(calls, config.model)
    # Only relationship ids leave these journeys: nothing to redact.
    source = common.source()
    # Every order of a customer type shares its samples: read their journeys once.
    return _typical_paths.get_or_compute(
        cache_key("typical-path", source.name, *samples),
        lambda: typical_path(
            (j.journey for j in judge_states_of_orders(source, samples, config)),
            config.model,
            config.mapping,
        ),
    )


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


def journey_overview_svg(overlay: Overlay, journey_report: JourneyReport) -> str:
    """The overview the page opens on: the elements by name, the touched ones plain, the order's
    path (calls per hop) and where it is now; the detailed diagram is its "details" level."""
    words = OverviewWords(
        calls=lambda n: ngettext("%(n)s call", "%(n)s calls", n) % {"n": n},
        now_here=_("the order is here now"),
        finished_here=_("finished here"),
    )
    stops = [(stop.element, stop.kind) for stop in overlay.stops]
    journey = journey_report.journey
    ran_in = {journey.container(span) for span in journey.spans}
    model = explorer_config().model.in_language(overlay.lang)  # the model's names, as the page's
    return overview_svg(model, hops(overlay.steps), stops, words, ran_in)


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
    names: Mapping[str, str],
    limit: int,
) -> list[PlaybackStep | PlaybackStop]:
    """One entry per step of the diagram, in time order (the first `limit`): the sentence that
    tells it and the state the order was in after it; then where the order is now.

    Steps come in order of their start, and a call may end before an earlier, longer one
    that encloses it (a nested call). The state told after a step is the last change up to
    the latest end of the steps so far, not of this step alone: it never goes back to an
    earlier state because a short nested call ended first."""
    lang = page_language()
    changes = journey_report.conformance.changes  # in time order
    entries: list[PlaybackStep | PlaybackStop] = []
    state: str | None = None
    told, horizon = 0, None
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
            # A sentence of its own after the call's fragment, not run on into it.
            sentence += ". " + _("The order is now %(state)s.") % {"state": entered}
        entries.append(
            PlaybackStep(
                n=step.number,
                sentence=sentence,
                state=state,
                source=dom_id(step.source),
                target=dom_id(step.target),
                operation=step.label,
                duration=milliseconds(step.duration_ns, lang),
                outcome=step.outcome,
                ok=_ok(step.outcome),
                url=step.url,
                undocumented=step.undocumented,
                source_name=names.get(step.source, step.source),
                target_name=names.get(step.target, step.target),
            )
        )
    if overlay.stops:
        entries.append(_playback_stop(overlay, journey_report, names))
    return entries


def _playback_stop(
    overlay: Overlay, journey_report: JourneyReport, names: Mapping[str, str]
) -> PlaybackStop:
    """Where the order is now, numbered after all its calls (shown or not)."""
    stop = overlay.stops[0]
    where = names.get(stop.element, stop.element)
    if stop.target:
        where += " → " + names.get(stop.target, stop.target)
    return PlaybackStop(
        n=len(overlay.steps) + 1,
        stop=True,
        sentence=f"{where}: {stop.text}",
        element=dom_id(stop.element),
        kind=stop.kind,
        state=journey_report.conformance.state,
    )


def playback_context(
    overlay: Overlay, journey_report: JourneyReport, names: Mapping[str, str]
) -> dict[str, Any]:
    """What templates/web/_playback.html shows: the steps, and how many calls there are."""
    limit = PLAYBACK_STEPS_SHOWN
    return {
        "playback": playback_steps(overlay, journey_report, names, limit),
        "steps_total": len(overlay.steps),
        "steps_shown": min(len(overlay.steps), limit),
    }


def _differences(
    journey_report: JourneyReport, overlay: Overlay, graph: StateGraph
) -> list[DifferenceRow]:
    """What this order did unlike the typical one, placed on the diagram: an extra operation
    on the steps that ran it, a missing one on its container, a slow state on the container
    that had to act next."""
    found = []
    for d in journey_report.differences:
        container, _sep, operation = d.subject.partition(": ")
        entry = DifferenceRow(
            kind=d.kind,
            subject=d.subject,
            detail=difference_detail(d.as_dict()),
            steps=[],
            element="",
        )
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


def _state_graph(graph: StateGraph, changes: list[dict], current: str | None) -> list[GraphState]:
    """Every state of the graph, marked reached (when, by whom), current or not reached."""
    reached: dict[str, dict] = {}
    for change in changes:
        reached.setdefault(change["state"], change)
    states = []
    for name in graph.names:
        reaching = reached.get(name)
        states.append(
            GraphState(
                name=name,
                reached=reaching is not None,
                current=name == current,
                final=graph.is_final(name),
                at=reaching["at"] if reaching else None,
                container=reaching["container"] if reaching else None,
                container_name=_name(reaching["container"]) if reaching else None,
                limit_ns=graph.limit_ns(name),
            )
        )
    for name, change in reached.items():  # states the graph does not know
        if not graph.knows(name):
            states.append(
                GraphState(
                    name=name,
                    reached=True,
                    current=name == current,
                    final=False,
                    at=change["at"],
                    container=change["container"],
                    container_name=_name(change["container"]),
                    unknown=True,
                )
            )
    return states


def _timeline_steps(steps: list[dict], limit: int) -> list[dict]:
    """The first `limit` steps, and any later one where the order stopped."""
    return steps[:limit] + [s for s in steps[limit:] if s.get("stop")]


def timeline(steps: list[dict], container: str) -> dict[str, Any]:
    """The timeline of the page: the steps (of one container, if given) by day, the first
    TIMELINE_STEPS_SHOWN of them and the one where the order stopped."""
    if container:
        steps = [s for s in steps if s["container"] == container]
    shown = _timeline_steps(steps, TIMELINE_STEPS_SHOWN)
    return {
        "container": container,
        "days": _days(shown),
        "timeline_total": len(steps),
        "timeline_shown": min(len(steps), TIMELINE_STEPS_SHOWN),
        "container_name": explorer_config().names.get(container, container),
    }


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


def _trace_list(request: HttpRequest, traces: Sequence[Trace]) -> list[TraceRow]:
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
            TraceRow(
                trace_id=url_id(request, trace.trace_id),
                url=reverse("web:trace", args=[url_id(request, trace.trace_id)]),
                start_ns=trace.start_ns if spans else None,
                duration_ns=max(trace.end_ns - trace.start_ns, 0) if spans else 0,
                service=shown(request, root.resource.service_name) if root else "",
                operation=shown(request, root.name) if root else "",
                spans=len(spans),
                errors=sum(1 for s in spans if s.is_error),
            )
        )
    return rows


def page_context(request: HttpRequest, order_id: str, result: JourneyReport) -> dict[str, Any]:
    """Everything the page shows of the judged journey, redacted for the viewer."""
    pol = common.policy(request)
    config = explorer_config()
    data = redact_mapping(result.as_dict(), pol)
    data["customer_id"] = shown_customer(request, result.journey.customer_id)
    customer_url = None
    if result.journey.customer_id:  # the pseudonym for viewers who see no raw ids
        customer_url = reverse("web:customer", args=[data["customer_id"]])
    language = page_language()
    names = config.names
    lost = {m.span_id: m for m in result.conformance.unconsumed}
    for step in data["steps"]:
        step["url"] = reverse("web:span", args=[step["trace_id"], step["span_id"]])
        step["container_name"] = names.get(step["container"], step["container"])
        if step["span_id"] in lost:  # the step where the order stopped says so
            step["stop"] = _("message never consumed since %(at)s") % {
                "at": local_time(lost[step["span_id"]].at_ns)
            }
    for difference in data["comparison"]:
        difference["detail"] = difference_detail(difference)
    for violation in data["violations"]:  # said in the page's language, as the story says it
        violation["detail"] = violation.get("said", {}).get(language) or violation["detail"]
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
        "overview_svg": journey_overview_svg(overlay, result),
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
    return context
