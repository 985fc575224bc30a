"""Each user's progress through the tours, and what to learn next.

    from explorer.tours.progress import next_tours
    next_tours(request.user)  # tours not finished, in the recommended order

templates/tours/_next.html renders the list: {% include "tours/_next.html" %}; every page has
`next_tours` in its context (explorer.tours.context_processors).
"""

from __future__ import annotations

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
    progress, _ = TourProgress.objects.get_or_create(user=user, tour=question.step.tour)
    answer, _ = Answer.objects.update_or_create(
        progress=progress,
        question=question,
        defaults={"choice": choice, "correct": choice == question.correct},
    )
    return answer


def next_tours(user, limit: int = 5) -> list[Tour]:
    """Tours the user has not finished, in the recommended order (started ones first, then by
    position), each with `.my_progress` (a TourProgress or None) and `.step_count`."""
    if not user.is_authenticated:
        return []
    progress = {p.tour_id: p for p in TourProgress.objects.filter(user=user)}
    tours = []
    for tour in Tour.objects.all():
        mine = progress.get(tour.pk)
        if mine is not None and mine.finished_at is not None:
            continue
        tour.my_progress = mine
        tours.append(tour)
    tours.sort(key=lambda t: (t.my_progress is None, t.position, t.slug))
    counts = dict(
        Tour.objects.filter(pk__in=[t.pk for t in tours[:limit]])
        .annotate(n=Count("steps"))
        .values_list("pk", "n")
    )
    for tour in tours[:limit]:
        tour.step_count = counts.get(tour.pk, 0)
    return tours[:limit]
