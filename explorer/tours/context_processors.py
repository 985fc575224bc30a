"""`next_tours` in every page's context: the tours the user should take next, read only when a
template shows them ({% include "tours/_next.html" %}), so pages need not import the tours."""

from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language

from accounts.redaction import policy_for_user, redact_text
from explorer.tours.progress import next_tours


def _shown_tours(user) -> list[dict]:
    """The next tours (progress.NextTour), each with its `title` in the page language,
    redacted for the user (a tour made from an order may name its customer)."""
    policy = policy_for_user(user)
    russian = (get_language() or "en").startswith("ru")
    return [
        {
            "tour": found.tour,
            "title": redact_text(
                found.tour.title_ru if russian and found.tour.title_ru else found.tour.title,
                policy,
            ),
            "progress": found.progress,
            "step_count": found.step_count,
        }
        for found in next_tours(user)
    ]


def tours_to_take(request) -> dict:
    return {"next_tours": SimpleLazyObject(lambda: _shown_tours(request.user))}
