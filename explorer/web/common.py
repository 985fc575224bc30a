"""What every page shares: the trace source, the configured model, the viewer's redaction
policy, clear pages for an unreachable backend, and parsing of URL parameters that never
raises."""

from __future__ import annotations

import dataclasses
import logging
from functools import wraps

from django.conf import settings
from django.db import DatabaseError
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.redaction import policy_for_user, redact_text, redact_value
from explorer.composition import get_source
from explorer.sources.base import SourceError, TraceNotFound, TraceSource
from explorer.store import faults
from explorer.traces.vocabulary import CUSTOMER_KEY
from explorer.web.outage import database_unavailable

MAX_TEXT = 200  # longest search text or id taken from a URL

log = logging.getLogger("explorer.web")


def source() -> TraceSource:
    return get_source()


def policy(request):
    """The viewer's redaction policy for pages: every text from a trace is also cut at
    EXPLORER_MAX_SHOWN_TEXT characters."""
    return dataclasses.replace(
        policy_for_user(request.user), max_text=settings.EXPLORER_MAX_SHOWN_TEXT
    )


def export_policy(request):
    """The viewer's redaction policy for downloads and exports: whole texts."""
    return policy_for_user(request.user)


def shown(request, text) -> str:
    """Trace text for a page, through the viewer's redaction policy."""
    return redact_text(str(text), policy(request)) if text is not None else ""


def shown_customer(request, customer_id) -> str:
    if customer_id is None:
        return ""
    return str(redact_value(CUSTOMER_KEY, str(customer_id), policy(request)))


def can_see_customer_ids(request) -> bool:
    return policy(request).show_identifiers


def clean_text(value: str | None, most: int = MAX_TEXT) -> str:
    """A URL parameter as text: stripped, without control characters, at most `most` long."""
    if not value:
        return ""
    cleaned = "".join(ch for ch in value if ch.isprintable())
    return cleaned.strip()[:most]


def clean_int(value: str | None, default: int, lowest: int = 0, highest: int = 10**9) -> int:
    try:
        number = int(str(value).strip()[:12])
    except (TypeError, ValueError):
        return default
    return min(max(number, lowest), highest)


def source_errors(view):
    """A backend that is down, slow or answers nonsense gives a clear page, never a 500;
    a trace the backend does not have gives a 404 page that says so."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except TraceNotFound as exc:
            return render(
                request, "web/not_found.html", {"message": shown(request, exc)}, status=404
            )
        except SourceError as exc:
            if isinstance(exc.__cause__, DatabaseError) and faults.unavailable(exc.__cause__):
                # The embedded store's database is away, not a tracing backend.
                log.error("the database did not answer %s", request.path, exc_info=True)
                return database_unavailable(request, exc.__cause__)
            log.warning("the tracing backend did not answer %s", request.path, exc_info=True)
            name = settings.EXPLORER_DEFAULT_BACKEND
            message = _("The tracing backend “%(name)s” did not answer: %(error)s") % {
                "name": name,
                "error": shown(request, exc),
            }
            return render(request, "web/source_down.html", {"message": message}, status=503)

    return guarded


def not_found(request, message: str):
    return render(request, "web/not_found.html", {"message": message}, status=404)


def page_language() -> str:
    """ "ru" or "en": the active language, as explorer.web.formatting takes it."""
    return "ru" if (get_language() or "en").startswith("ru") else "en"
