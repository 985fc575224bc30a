"""`next_tours` in every page's context: the tours the user should take next, read only when a
template shows them ({% include "tours/_next.html" %}), so pages need not import the tours."""

from django.utils.functional import SimpleLazyObject

from explorer.tours.progress import next_tours


def tours_to_take(request) -> dict:
    return {"next_tours": SimpleLazyObject(lambda: next_tours(request.user))}
