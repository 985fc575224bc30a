"""Tours between files (TourSpec) and the database, and the checks an import makes."""

from __future__ import annotations

from django.db import transaction

from explorer.tours.models import CheckQuestion, Tour, TourStep
from explorer.tours.tourfile import ChoiceSpec, QuestionSpec, StepSpec, TourSpec


def spec_of(tour: Tour) -> TourSpec:
    steps = []
    for step in tour.steps.select_related("question").order_by("number"):
        question = getattr(step, "question", None)
        relationship = (
            (step.relationship_source, step.relationship_target)
            if step.relationship_source and step.relationship_target
            else None
        )
        steps.append(
            StepSpec(
                title=step.title,
                title_ru=step.title_ru,
                text=step.text,
                text_ru=step.text_ru,
                element=step.element or None,
                relationship=relationship,
                state=step.state or None,
                question=QuestionSpec(
                    text=question.text,
                    text_ru=question.text_ru,
                    correct=question.correct,
                    choices=[
                        ChoiceSpec(c.get("text", ""), c.get("text_ru", ""), c.get("element"))
                        for c in question.choices
                    ],
                )
                if question
                else None,
            )
        )
    return TourSpec(
        slug=tour.slug,
        title=tour.title,
        title_ru=tour.title_ru,
        description=tour.description,
        description_ru=tour.description_ru,
        position=tour.position,
        example_order=tour.example_order or None,
        example_selector=tour.example_selector,
        steps=steps,
    )


@transaction.atomic
def save_spec(spec: TourSpec) -> Tour:
    """Create or replace the tour with this slug (its steps and questions are replaced; the
    users' progress is kept, their answers to replaced questions are not)."""
    tour, _ = Tour.objects.update_or_create(
        slug=spec.slug,
        defaults={
            "title": spec.title,
            "title_ru": spec.title_ru,
            "description": spec.description,
            "description_ru": spec.description_ru,
            "position": spec.position,
            "example_order": spec.example_order or "",
            "example_selector": spec.example_selector,
        },
    )
    tour.steps.all().delete()
    for number, s in enumerate(spec.steps, start=1):
        source, target = s.relationship or ("", "")
        step = TourStep.objects.create(
            tour=tour,
            number=number,
            title=s.title,
            title_ru=s.title_ru,
            text=s.text,
            text_ru=s.text_ru,
            element=s.element or "",
            relationship_source=source,
            relationship_target=target,
            state=s.state or "",
        )
        if s.question:
            CheckQuestion.objects.create(
                step=step,
                text=s.question.text,
                text_ru=s.question.text_ru,
                correct=s.question.correct,
                choices=[
                    {"text": c.text, "text_ru": c.text_ru, "element": c.element}
                    for c in s.question.choices
                ],
            )
    return tour
