"""The viewer's settings: the time zone times are shown in (kept in the session)."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.access import requires
from explorer.web.middleware import SESSION_KEY, valid_zone


@lru_cache(maxsize=1)
def zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


@requires("view_tours")  # every role holds it: everyone may choose a time zone
def preferences(request):
    current = request.session.get(SESSION_KEY) or settings.TIME_ZONE
    problem = None
    if request.method == "POST":
        chosen = request.POST.get("time_zone", "")
        if valid_zone(chosen) is None:
            problem = _("“%(zone)s” is not a time zone.") % {"zone": chosen[:64]}
        else:
            request.session[SESSION_KEY] = chosen
            return redirect("web:preferences")
    return render(
        request,
        "web/preferences.html",
        {"zones": zones(), "current": current, "problem": problem},
        status=400 if problem else 200,
    )
