"""The web app's own middleware: times in the viewer's time zone (the zone chosen on the
settings page, kept in the session, else settings.TIME_ZONE), and request bodies nobody reads
left unread."""

import zoneinfo

from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext

SESSION_KEY = "web_time_zone"


def valid_zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class TimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        zone = valid_zone(session.get(SESSION_KEY)) if session is not None else None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)


class UnreadBodyMiddleware:
    """Request bodies nobody reads stay unread, whatever server runs the application.

    A body sent without a declared length (Transfer-Encoding: chunked) is refused, 411 with
    Connection: close: Django's WSGI handler would not read it, and the server would have to
    read through all of it before the next request on the connection. An answer that closes
    the connection (the 413 of accounts.middleware.RequestBodyLimitMiddleware, this 411) needs
    nothing of the body: gunicorn closes such a connection without reading. `runserver` (the
    demo) needs it said its way, see _closing_under_runserver."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("HTTP_TRANSFER_ENCODING"):
            response = HttpResponse(
                gettext("Send the request with a Content-Length, not in chunks."),
                status=411,
                content_type="text/plain; charset=utf-8",
            )
            response["Connection"] = "close"
        else:
            response = self.get_response(request)
        if response.get("Connection", "").lower() == "close":
            stream = request.environ.get("wsgi.input")
            if isinstance(stream, LimitedStream):  # runserver's (gunicorn has its own)
                response = _closing_under_runserver(response, stream)
        return response


def _closing_under_runserver(response: HttpResponse, stream: LimitedStream):
    """The answer as runserver closes the connection after it. runserver refuses a
    Connection header from the application (a 500 instead: PEP 3333 leaves hop-by-hop headers
    to the server) and closes the connection itself after an answer of unknown length; before
    that, its ServerHandler.close() reads what is left of the body into memory, however large
    its Content-Length, unless the stream says nothing is left."""
    stream.limit = 0
    streamed = StreamingHttpResponse(iter([response.content]), status=response.status_code)
    for header, value in response.items():
        if header.lower() not in ("connection", "content-length"):
            streamed[header] = value
    streamed.cookies = response.cookies
    return streamed
