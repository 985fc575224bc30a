"""Each user's progress through the tours, and what to learn next.

    from explorer.tours.progress import next_tours
    next_tours(request.user)  # tours not finished, in the recommended order

templates/tours/_next.html renders the list: {% include "tours/_next.html" %}; every page has
`next_tours` in its context (explorer.tours.context_processors).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from explorer.tours.models import Answer, CheckQuestion, Tour, TourProgress


@transaction.atomic
def record_visit(user, tour: Tour, number: int, step_count: int) -> TourProgress:
    """The user opened step `number`: started if new, last and furthest step updated,
    finished on reaching the last step."""
    progress, _ = TourProgress.objects.select_for_update().get_or_create(user=user, tour=tour)
    progress.last_step = number
    progress.furthest_step = max(progress.furthest_step, number)
    if number >= step_count and progress.finished_at is None:
        progress.finished_at = timezone.now()
    progress.save()
    return progress


@transaction.atomic
def record_answer(user, question: CheckQuestion, choice: int) -> Answer:
    """The user's answer: the latest replaces the one before, the first decides the score."""
    progress, _ = TourProgress.objects.get_or_create(user=user, tour=question.step.tour)
    correct = choice == question.correct
    answer, _ = Answer.objects.update_or_create(
        progress=progress,
        question=question,
        defaults={"choice": choice, "correct": correct},
        create_defaults={"choice": choice, "correct": correct, "first_correct": correct},
    )
    return answer


@dataclass(frozen=True)
class NextTour:
    """A tour the user has not finished: how far they got (None: not started) and its length."""

    tour: Tour
    progress: TourProgress | None
    step_count: int


def next_tours(user, limit: int = 5) -> list[NextTour]:
    """Tours the user has not finished, in the recommended order (started ones first, then by
    position)."""
    if not user.is_authenticated:
        return []
    progress = {p.tour_id: p for p in TourProgress.objects.filter(user=user)}
    unfinished = []
    for tour in Tour.objects.all():
        mine = progress.get(tour.pk)
        if mine is None or mine.finished_at is None:
            unfinished.append((tour, mine))
    unfinished.sort(key=lambda pair: (pair[1] is None, pair[0].position, pair[0].slug))
    chosen = unfinished[:limit]
    counts = dict(
        Tour.objects.filter(pk__in=[tour.pk for tour, _ in chosen])
        .annotate(n=Count("steps"))
        .values_list("pk", "n")
    )
    return [NextTour(tour, mine, counts.get(tour.pk, 0)) for tour, mine in chosen]
