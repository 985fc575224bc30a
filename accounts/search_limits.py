"""Bounds of a search text: the admin's search box (every ModelAdmin, and its autocomplete)
and the audit page's filters.

Past EXPLORER_SEARCH_MAX_CHARS characters SQLite refuses the LIKE pattern ("LIKE or GLOB
pattern too complex", a 500 page) and every word of an admin search is one more
`icontains` per search field: 29,000 words took 12.7 s. Past either bound the search is not
run; the page says why.
"""

from django.conf import settings
from django.utils.text import smart_split
from django.utils.translation import gettext


def max_chars() -> int:
    return settings.EXPLORER_SEARCH_MAX_CHARS


def search_problem(text: str) -> str:
    """Why `text` is not searched, for the user; empty when it is within the bounds. Words
    are counted as the admin splits them (quoted phrases are one word)."""
    if len(text) > max_chars():
        return gettext(
            "The search is too long: %(length)s characters, at most %(limit)s are searched."
        ) % {"length": len(text), "limit": max_chars()}
    words = sum(1 for _ in smart_split(text))
    if words > settings.EXPLORER_SEARCH_MAX_TERMS:
        return gettext(
            "The search has too many words: %(count)s, at most %(limit)s are searched."
        ) % {"count": words, "limit": settings.EXPLORER_SEARCH_MAX_TERMS}
    return ""
