"""Pages while the database is away: a 503 page with Retry-After, not a 500.

Django turns an exception raised anywhere in a request (a view, or a middleware: the session
and the signed-in user are read from the database before any view runs) into the answer of
`handler500` (explorer/urls.py), called while the exception is being handled. `server_error`
looks at that exception: a database that cannot be reached or whose disk is full (the faults
of explorer.store.faults, which pass) gets the database-down page, rendered without the
request, so that nothing of it needs the database again; anything else is Django's own 500.
Either way Django has logged the error with its traceback (logger django.request).
"""

from __future__ import annotations

import sys

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.views import defaults

from explorer.logs import current_request_id
from explorer.store import faults

# Seconds a browser (or a script) is told to wait before asking again: a database restart
# takes a few seconds, freeing disk space longer.
RETRY_AFTER_S = 30


def database_unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 page for a database that is down or full, in the viewer's language (from the
    language cookie or Accept-Language: the session is in the database)."""
    language = getattr(request, "LANGUAGE_CODE", None) or translation.get_language_from_request(
        request
    )
    with translation.override(language):
        body = render_to_string(
            "web/database_down.html",
            {
                "disk_full": faults.disk_full(exc),
                "retry_after_s": RETRY_AFTER_S,
                "request_id": current_request_id().strip("-"),
                "LANGUAGE_CODE": translation.get_language(),
            },
        )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Content-Language"] = language
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the database-down page when the database is away, else Django's 500."""
    exc = sys.exc_info()[1]
    cause = exc if isinstance(exc, DatabaseError) else getattr(exc, "__cause__", None)
    if isinstance(cause, DatabaseError) and faults.unavailable(cause):
        return database_unavailable(request, cause)
    return defaults.server_error(request)
