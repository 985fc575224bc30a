"""Tour pages: the list, the player (a shipped or authored tour, or a generated one that
follows any order), answers, progress, and the JSON editor for architects."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.access import requires
from accounts.redaction import redact_mapping, redact_text
from explorer.configuration import explorer_config
from explorer.diagrams.journey import journey_stops
from explorer.diagrams.overlay import Overlay
from explorer.diagrams.render import render_svg
from explorer.journeys.conformance import COMPLETE
from explorer.journeys.report import JourneyReport
from explorer.journeys.story import tell
from explorer.orders.service import judge_states
from explorer.sources.base import SourceError
from explorer.tours.generate import follow_slug, tour_from_journey
from explorer.tours.illustrate import (
    current_state,
    spans_at_step,
    state_marks,
    step_overlay,
)
from explorer.tours.loading import resolve_example, validate
from explorer.tours.models import Answer, CheckQuestion, Tour, TourProgress
from explorer.tours.persist import save_spec, spec_of
from explorer.tours.progress import next_tours, record_answer, record_visit
from explorer.tours.text import render_markdown
from explorer.tours.tourfile import SLUG, TourFileError, TourSpec, parse_document, tour_dict
from explorer.traces.vocabulary import NEW_STATE_KEY, STATE_EVENT
from explorer.web import common
from explorer.web.common import clean_text, source_errors
from explorer.web.order_page import (
    journey_diagram_overlay,
    journey_svg,
    local_time,
    playback_context,
)
from explorer.web.pseudonyms import raw_id_from_url, url_id

MAX_SPANS = 25
MAX_ATTRIBUTES = 12


def _russian() -> bool:
    return (get_language() or "en").startswith("ru")


def _pick(en: str, ru: str) -> str:
    return ru if _russian() and ru else en


def _example(tour_spec: TourSpec, tour: Tour | None, config):
    """(journey, conformance, problem) of the tour's example order; the order is chosen from
    the selector when there is none yet, or when the named one has no traces any more."""
    source = common.source()
    order_id = tour_spec.example_order
    if tour is not None and tour.example_selector and not order_id:
        problem = resolve_example(tour, config, source)
        if problem:
            return None, None, problem
        order_id = tour_spec.example_order = tour.example_order
    if not order_id:
        return None, None, None
    judged = judge_states(source, order_id, config)
    if not judged.journey.spans and tour is not None and tour.example_selector:
        tour.example_order = ""
        problem = resolve_example(tour, config, source)
        if problem:
            return None, None, problem
        tour_spec.example_order = tour.example_order
        judged = judge_states(source, tour.example_order, config)
    if not judged.journey.spans:
        return None, None, _("no trace mentions the example order %(id)s") % {"id": order_id}
    return judged.journey, judged.conformance, None


def _span_rows(request, spans, origin_ns: int) -> list[dict]:
    policy = common.policy(request)
    rows = []
    for span in spans[:MAX_SPANS]:
        attributes = redact_mapping(dict(list(span.attributes.items())[:MAX_ATTRIBUTES]), policy)
        states = [
            str(e.attributes.get(NEW_STATE_KEY)) for e in span.events if e.name == STATE_EVENT
        ]
        rows.append(
            {
                "service": redact_text(span.service, policy),
                "name": redact_text(span.name, policy),
                "kind": span.kind.name.lower(),
                "offset_ns": span.start_ns - origin_ns,
                "start_ns": span.start_ns,
                "duration_ns": span.duration_ns,
                "error": span.is_error,
                "attributes": sorted((str(k), str(v)) for k, v in attributes.items()),
                "states": [redact_text(s, policy) for s in states],
                "trace_id": span.trace_id,
                "span_id": span.span_id,
            }
        )
    return rows


def _player(
    request,
    spec: TourSpec,
    number: int,
    step_url,
    *,
    tour: Tour | None = None,
    progress: TourProgress | None = None,
    extra: dict | None = None,
):
    config = explorer_config()
    policy = common.policy(request)
    step = spec.steps[number - 1]
    title = _pick(step.title, step.title_ru)
    journey, conformance, problem = None, None, None
    try:
        journey, conformance, problem = _example(spec, tour, config)
    except SourceError as exc:
        problem = str(exc)
    check = _check_question(tour, progress, number)
    # An unanswered question's answer is the step's element: the diagram shows it after.
    conceal = check["question"] is not None and check["answer"] is None
    context = {
        "spec": spec,
        "tour": tour,
        "number": number,
        "total": len(spec.steps),
        "tour_title": redact_text(_pick(spec.title, spec.title_ru), policy),
        "title": redact_text(title, policy),
        "text": render_markdown(redact_text(_pick(step.text, step.text_ru), policy)),
        "step": step,
        "conceal": conceal,
        "focus": "" if conceal else step.focus,
        "focus_name": config.names.get(step.focus, step.focus),
        "relationship": (
            "→".join(config.names.get(e, e) for e in step.relationship) if step.relationship else ""
        ),
        "svg": _step_svg(spec, number, redact_text(title, policy), journey, conformance, conceal),
        **_example_order(request, spec, step, journey, conformance, problem),
        "states": state_marks(
            config.graph,
            conformance,
            current_state(spec.steps, number - 1),
            "ru" if _russian() else "en",
        ),
        "order_status": conformance.status if conformance else None,
        "previous_url": step_url(number - 1) if number > 1 else None,
        "next_url": step_url(number + 1) if number < len(spec.steps) else None,
        "progress": progress,
        **check,
        "ending": (
            _ending(request, spec, tour, progress, config) if number == len(spec.steps) else None
        ),
        **(
            _journey_playback(request, journey, conformance, journey.order_id)
            if journey is not None
            else {}
        ),
        **(extra or {}),
    }
    return render(request, "tours/play.html", context)


def _step_svg(
    spec: TourSpec, number: int, title: str, journey, conformance, conceal: bool = False
) -> str:
    """The step drawn on the C4 diagram; the last step of a tour also shows where its example
    order is now (unless it is complete). `conceal`: the plain model, nothing highlighted (the
    step's question is not answered yet)."""
    config = explorer_config()
    step = spec.steps[number - 1]
    lang = "ru" if (get_language() or "en").startswith("ru") else "en"
    stops = []
    last = number == len(spec.steps)
    if journey is not None and conformance is not None and last and conformance.status != COMPLETE:
        stops = journey_stops(
            journey, conformance, config.model, config.mapping, config.graph, lang, local_time
        )
    overlay = step_overlay(step, title, lang, stops)
    if conceal:
        overlay = Overlay(lang=lang, stops=overlay.stops)
    return render_svg(config.model, overlay)


def _example_order(request, spec: TourSpec, step, journey, conformance, problem) -> dict:
    """The tour's example order at this step: its link, the spans that show the step, or why
    there is none."""
    config = explorer_config()
    spans = []
    if journey is not None and conformance is not None:
        spans = spans_at_step(journey, conformance, step, config.mapping)
    return {
        "example_order": url_id(request, spec.example_order or ""),
        "example_problem": problem,
        "order_url": (
            reverse("web:order", args=[url_id(request, spec.example_order)])
            if spec.example_order and request.user.has_perm("accounts.view_journeys")
            else None
        ),
        "spans": _span_rows(request, spans, journey.spans[0].start_ns) if journey else [],
        "more_spans": max(len(spans) - MAX_SPANS, 0),
    }


def _check_question(tour: Tour | None, progress: TourProgress | None, number: int) -> dict:
    """The step's check question (a stored tour's), its choices and the viewer's answer."""
    question = answer = None
    if tour is not None:
        question = CheckQuestion.objects.filter(step__tour=tour, step__number=number).first()
        if question is not None and progress is not None:
            answer = Answer.objects.filter(progress=progress, question=question).first()
    return {
        "question": question,
        "choices": [
            {
                "index": i,
                "text": _pick(c.get("text", ""), c.get("text_ru", "")),
                "element": c.get("element") or "",
            }
            for i, c in enumerate(question.choices)
        ]
        if question
        else [],
        "question_text": _pick(question.text, question.text_ru) if question else "",
        "answer": answer,
    }


def _journey_playback(request, journey, conformance, order_id: str) -> dict:
    """The example order's journey diagram with the order page's step control (its states
    only: no anomalies, SLA or comparison, which would read the week's traces)."""
    report = JourneyReport(journey, conformance, [], [], [], {})
    overlay = journey_diagram_overlay(request, report, order_id)
    return {
        "journey_svg": journey_svg(request, report, order_id, overlay),
        **playback_context(overlay, report, explorer_config().names),
    }


def _ending(
    request, spec: TourSpec, tour: Tour | None, progress: TourProgress | None, config
) -> dict:
    """The end of a tour: what it went through, the answers right at the first try, and the
    tour to take next."""
    answers = list(Answer.objects.filter(progress=progress)) if progress is not None else []
    policy = common.policy(request)
    later = [t.tour for t in next_tours(request.user) if tour is None or t.tour.pk != tour.pk]
    return {
        "steps": [
            {
                "title": redact_text(_pick(s.title, s.title_ru), policy),
                "where": config.names.get(s.focus, s.focus),
            }
            for s in spec.steps
        ],
        "answered": len(answers),
        "right": sum(1 for a in answers if a.first_correct),
        "next_tour": later[0] if later else None,
        "next_title": redact_text(_pick(later[0].title, later[0].title_ru), policy)
        if later
        else "",
    }


@requires("view_tours")
def tour_list(request):
    progress = {p.tour_id: p for p in TourProgress.objects.filter(user=request.user)}
    policy = common.policy(request)  # a tour made from an order may name its customer
    tours = [
        {
            "tour": tour,
            "title": redact_text(_pick(tour.title, tour.title_ru), policy),
            "description_html": render_markdown(
                redact_text(_pick(tour.description, tour.description_ru), policy)
            ),
            "progress": progress.get(tour.pk),
        }
        for tour in Tour.objects.all()
    ]
    return render(request, "tours/list.html", {"tours": tours})


@requires("view_tours")
def tour_start(request, slug):
    """Back where the user left off, or the first step."""
    tour = get_object_or_404(Tour, slug=slug)
    mine = TourProgress.objects.filter(user=request.user, tour=tour).first()
    number = mine.last_step if mine and mine.finished_at is None else 1
    return redirect("tours:step", slug=slug, number=number)


@requires("view_tours")
@source_errors
def tour_step(request, slug, number):
    tour = get_object_or_404(Tour, slug=slug)
    spec = spec_of(tour)
    if not 1 <= number <= len(spec.steps):
        raise Http404(_("This tour has no such step."))
    progress = record_visit(request.user, tour, number, len(spec.steps))
    return _player(
        request,
        spec,
        number,
        lambda n: reverse("tours:step", args=[slug, n]),
        tour=tour,
        progress=progress,
    )


@requires("view_tours")
@require_POST
def answer(request, slug, number):
    question = get_object_or_404(CheckQuestion, step__tour__slug=slug, step__number=number)
    choice = common.clean_int(request.POST.get("choice"), -1, -1)
    if not 0 <= choice < len(question.choices):
        messages.error(request, _("Pick one of the answers."))
    else:
        record_answer(request.user, question, choice)
    return HttpResponseRedirect(reverse("tours:step", args=[slug, number]) + "#check")


def _generated(request, order_id: str) -> tuple[TourSpec, str]:
    """The tour generated from the order the URL names (its id as the viewer sees it: a raw
    id holding a customer id is refused for viewers who may not see it, and audited), and
    the order's id as this viewer's links carry it."""
    config = explorer_config()
    given = clean_text(order_id)
    if not given:
        raise Http404(_("No order id."))
    raw_id, _refused = raw_id_from_url(request, "order", given)
    journey = conformance = None
    if raw_id:
        judged = judge_states(common.source(), raw_id, config)
        journey, conformance = judged.journey, judged.conformance
    if journey is None or conformance is None or not journey.spans:
        raise Http404(_("No trace mentions order %(id)s.") % {"id": given})
    policy = common.policy(request)
    names = config.names_by_language  # the tour is written in both languages at once
    story = {
        k: redact_text(v, policy) for k, v in tell(journey, conformance, [], names=names).items()
    }
    spec = tour_from_journey(journey, conformance, story, names, config.model.elements)
    return spec, url_id(request, journey.order_id)


@requires("view_journeys")
@source_errors
def follow(request, order_id, number=1):
    spec, shown_id = _generated(request, order_id)
    if not 1 <= number <= len(spec.steps):
        raise Http404(_("This tour has no such step."))
    return _player(
        request,
        spec,
        number,
        lambda n: reverse("tours:follow_step", args=[shown_id, n]),
        extra={
            "generated": True,
            "save_url": reverse("tours:follow_save", args=[shown_id]),
            # The form's proposals, as the viewer may see them (a saved tour is for everyone).
            "save_slug": follow_slug(shown_id),
            "save_title": redact_text(spec.title, common.export_policy(request)),
        },
    )


@requires("edit_model")
@require_POST
@source_errors
def follow_save(request, order_id):
    """Save the generated tour as a Tour an architect can then edit."""
    spec, shown_id = _generated(request, order_id)
    slug = clean_text(request.POST.get("slug"), 100) or spec.slug
    if not SLUG.match(slug) or slug in ("progress", "follow"):
        messages.error(request, _("The slug must be lower-case letters, digits and '-'."))
        return redirect("tours:follow", order_id=shown_id)
    if Tour.objects.filter(slug=slug).exists():
        messages.error(
            request,
            _("A tour named %(slug)s exists already: choose another slug.") % {"slug": slug},
        )
        return redirect("tours:follow", order_id=shown_id)
    spec.slug = slug
    spec.title = clean_text(request.POST.get("title"), 200) or spec.title
    save_spec(spec)
    messages.success(request, _("Saved as the tour %(slug)s; edit it below.") % {"slug": slug})
    return redirect("tours:edit", slug=slug)


@requires("edit_model")
def edit(request, slug):
    """The tour as JSON (the file format): checked against the model before it is saved."""
    tour = get_object_or_404(Tour, slug=slug)
    problems: list[str] = []
    if request.method == "POST":
        document = request.POST.get("document", "")
        try:
            specs = parse_document(json.loads(document), "the edited tour")
            if len(specs) != 1:
                raise TourFileError([_("the edited tour: expected exactly one tour")])
            problems = validate(specs, explorer_config(), "the edited tour")
        except ValueError as exc:  # JSON errors and TourFileError
            problems = getattr(exc, "problems", None) or [
                _("not valid JSON: %(error)s") % {"error": exc}
            ]
        if not problems:
            spec = specs[0]
            if spec.slug != slug and Tour.objects.filter(slug=spec.slug).exists():
                problems = [_("a tour named %(slug)s exists already") % {"slug": spec.slug}]
            else:
                if spec.slug != slug:
                    tour.delete()
                save_spec(spec)
                messages.success(request, _("Saved."))
                return redirect("tours:edit", slug=spec.slug)
    else:
        document = json.dumps(tour_dict(spec_of(tour)), ensure_ascii=False, indent=2)
    return render(
        request,
        "tours/edit.html",
        {"tour": tour, "document": document, "problems": problems},
        status=400 if problems else 200,
    )


@requires("view_tours")
def my_progress(request):
    rows = (
        TourProgress.objects.filter(user=request.user)
        .select_related("tour")
        .prefetch_related("answers")
    )
    return render(request, "tours/progress.html", {"rows": rows, "everyone": False})


@requires("manage_users")
def all_progress(request):
    rows = TourProgress.objects.select_related("tour", "user").prefetch_related("answers")
    user = clean_text(request.GET.get("user"), 150)
    if user:
        rows = rows.filter(user__username=user)
    return render(
        request,
        "tours/progress.html",
        {
            "rows": rows[:500],
            "everyone": True,
            "user_filter": user,
            "users": get_user_model().objects.filter(tour_progress__isnull=False).distinct(),
        },
    )
