"""`next_tours` in every page's context: the tours the user should take next, read only when a
template shows them ({% include "tours/_next.html" %}), so pages need not import the tours."""

from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language

from accounts.redaction import policy_for_user, redact_text
from explorer.tours.progress import next_tours


def _shown_tours(user) -> list:
    """The next tours, each with `shown_title`: in the page language, redacted for the user
    (a tour made from an order may name its customer)."""
    policy = policy_for_user(user)
    russian = (get_language() or "en").startswith("ru")
    found = next_tours(user)
    for tour in found:
        tour.shown_title = redact_text(
            tour.title_ru if russian and tour.title_ru else tour.title, policy
        )
    return found


def tours_to_take(request) -> dict:
    return {"next_tours": SimpleLazyObject(lambda: _shown_tours(request.user))}
