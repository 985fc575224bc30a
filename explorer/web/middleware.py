"""Times in the viewer's time zone: the zone chosen on the settings page (kept in the
session), else settings.TIME_ZONE."""

import zoneinfo

from django.utils import timezone

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
