"""'Follow this order': any journey turned into a tour. Framework-free.

A step per container visit or state change, in time order; a container visited again before
the next state change adds nothing new (a shop polling for the status, say) and is left out.
The last step is where the journey ended: for an order that did not complete, the container
where it stopped (the sender of the lost message, or the system that set the state the order
is waiting in), with the journey's story.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from explorer.journeys.conformance import COMPLETE, LOST, Conformance
from explorer.journeys.journey import Journey, Step
from explorer.journeys.story import NamesByLanguage, duration_words, name_in_languages
from explorer.tours.text import plain
from explorer.tours.tourfile import StepSpec, TourSpec

MAX_STEPS = 40
MAX_OPERATIONS = 3


def _code(text: str) -> str:
    """Trace text as a Markdown code span (the renderer escapes it; backticks cannot end it)."""
    return "`" + text.replace("`", "'").replace("\n", " ")[:120] + "`"


def follow_slug(order_id: str) -> str:
    return ("follow-" + re.sub(r"[^a-z0-9]+", "-", order_id.lower()).strip("-"))[:100]


class _Visit:
    def __init__(self, container: str):
        self.container = container
        self.steps: list[Step] = []
        self.states: list[tuple[str, int]] = []  # (state, time)


def _visits(
    journey: Journey, conformance: Conformance, elements: Collection[str] | None
) -> list[_Visit]:
    changes_by_span: dict[tuple[str, str], list] = {}
    for change in conformance.changes:
        changes_by_span.setdefault((change.trace_id, change.span_id), []).append(change)
    visits: list[_Visit] = []
    since_state: set[str] = set()  # containers visited since the last state change
    for step in journey.steps:
        if elements is not None and step.container not in elements:
            continue
        changes = changes_by_span.get((step.trace_id, step.span_id), [])
        if not changes and step.container in since_state:
            continue
        if not visits or visits[-1].container != step.container or changes:
            visits.append(_Visit(step.container))
        visits[-1].steps.append(step)
        since_state.add(step.container)
        for n, change in enumerate(changes):  # a span may set several states: a step each
            if n:
                visits.append(_Visit(step.container))
                visits[-1].steps.append(step)
            visits[-1].states.append((change.state, change.at_ns))
            since_state = {step.container}
    return visits


def _visit_step(visit: _Visit, previous_state_ns: int | None, names: NamesByLanguage) -> StepSpec:
    who = name_in_languages(visit.container, names)
    operations = list(dict.fromkeys(s.operation for s in visit.steps))[:MAX_OPERATIONS]
    took = ", ".join(
        f"{_code(s.operation)} ({duration_words(s.duration_ns, 'en')})"
        for s in visit.steps[:MAX_OPERATIONS]
    )
    took_ru = ", ".join(
        f"{_code(s.operation)} ({duration_words(s.duration_ns, 'ru')})"
        for s in visit.steps[:MAX_OPERATIONS]
    )
    en = [f"**{plain(who.en)}** handled {took}."]
    ru = [f"Система **{plain(who.ru)}** выполнила {took_ru}."]
    errors = [s for s in visit.steps if s.outcome == "error"]
    if errors:
        en.append(f"It reported an error in {_code(errors[0].operation)}.")
        ru.append(f"Она сообщила об ошибке в {_code(errors[0].operation)}.")
    state = None
    for state, at_ns in visit.states:
        if previous_state_ns is None:
            en.append(f"{plain(who.en)} set the order to **{plain(state)}**.")
            ru.append(f"Система {plain(who.ru)} перевела заказ в состояние **{plain(state)}**.")
        else:
            gap = at_ns - previous_state_ns
            en.append(
                f"{duration_words(gap, 'en').capitalize()} after the previous state, "
                f"{plain(who.en)} moved the order to **{plain(state)}**."
            )
            ru.append(
                f"Через {duration_words(gap, 'ru')} после предыдущего состояния "
                f"система {plain(who.ru)} перевела заказ в **{plain(state)}**."
            )
        previous_state_ns = at_ns
    what = state or operations[0]
    return StepSpec(
        title=f"{who.en}: {what}"[:200],
        title_ru=f"{who.ru}: {what}"[:200],
        text=" ".join(en),
        text_ru=" ".join(ru),
        element=visit.container,
        state=state,
    )


def _stop_container(journey: Journey, conformance: Conformance) -> str | None:
    if conformance.status == LOST:
        return conformance.unconsumed[-1].container
    if conformance.changes:
        return conformance.changes[-1].container
    return journey.steps[-1].container if journey.steps else None


def tour_from_journey(
    journey: Journey,
    conformance: Conformance,
    story: Mapping[str, str],
    names: NamesByLanguage | None = None,
    elements: Collection[str] | None = None,
) -> TourSpec:
    """The tour of one order's journey. `elements`: the model's element ids (steps in
    containers the model lacks are left out); `story`: {"en", "ru"} from journeys.story;
    `names`: the containers' names per language, as journeys.story takes them."""
    names = names or {}
    tour = TourSpec(
        slug=follow_slug(journey.order_id),
        title=f"Follow order {journey.order_id}",
        title_ru=f"По следам заказа {journey.order_id}",
        description=plain(story.get("en", "")),
        description_ru=plain(story.get("ru", "")),
        example_order=journey.order_id,
    )
    previous_ns = None
    for visit in _visits(journey, conformance, elements):
        tour.steps.append(_visit_step(visit, previous_ns, names))
        previous_ns = visit.states[-1][1] if visit.states else previous_ns
    if len(tour.steps) > MAX_STEPS - 1:  # keep every state change, then the first visits
        keep = {id(s) for s in tour.steps if s.state}
        room = MAX_STEPS - 1 - len(keep)
        visits_only = [s for s in tour.steps if not s.state]
        keep |= {id(s) for s in visits_only[: max(room, 0)]}
        tour.steps = [s for s in tour.steps if id(s) in keep]
    stop = _stop_container(journey, conformance)
    if stop is not None and (elements is None or stop in elements):
        finished = conformance.status == COMPLETE
        who = name_in_languages(stop, names)
        tour.steps.append(
            StepSpec(
                title=f"The end: {conformance.state}" if finished else f"Stopped at {who.en}",
                title_ru=f"Конец: {conformance.state}" if finished else f"Остановка: {who.ru}",
                text=plain(story.get("en", "")),
                text_ru=plain(story.get("ru", "")),
                element=stop,
                state=conformance.state if finished else None,
            )
        )
    return tour
