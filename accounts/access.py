"""What a view needs: `requires(codename)` = logged in + second factor verified + permission.

    from accounts.access import requires

    @requires("view_journeys")
    def order_journey(request, order_id): ...

    path("map/", requires("view_analytics")(SystemMapView.as_view()), name="system-map")

The decorator marks the view (view.required_permission = codename); a test walks every URL
pattern and fails on a view that is neither marked nor in its short public allow-list.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol, cast
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.defaults import permission_denied

from .roles import CUSTOM_PERMISSIONS


class GuardedView(Protocol):
    """What `requires` makes of a view: the view, marked with the permission it needs."""

    required_permission: str

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase: ...


class DeniedResponse(Protocol):
    """The refusal of a guarded view, marked with the permission that was missing."""

    denied_permission: str


def is_verified(user) -> bool:
    """Logged in and second factor verified in this session (django-otp's OTPMiddleware)."""
    return bool(user.is_authenticated and getattr(user, "is_verified", lambda: False)())


def redirect_to_second_factor(request) -> HttpResponseRedirect:
    query = urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(f"{reverse('accounts:second_factor')}?{query}")


def requires(codename: str) -> Callable[[Callable[..., HttpResponseBase]], GuardedView]:
    if codename not in CUSTOM_PERMISSIONS:
        raise ValueError(f"requires({codename!r}): not one of {sorted(CUSTOM_PERMISSIONS)}")
    permission = f"accounts.{codename}"

    def decorate(view: Callable[..., HttpResponseBase]) -> GuardedView:
        @wraps(view)
        def guarded(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_verified(user):
                return redirect_to_second_factor(request)
            if not user.has_perm(permission):
                response = permission_denied(
                    request,
                    PermissionDenied(
                        _("This page needs the permission “%(codename)s”.") % {"codename": codename}
                    ),
                )
                # What the role matrix test reads.
                cast(DeniedResponse, response).denied_permission = codename
                return response
            return view(request, *args, **kwargs)

        marked = cast(GuardedView, guarded)
        marked.required_permission = codename
        return marked

    return decorate


def second_factor_not_required(view):
    """For the pages a logged-in user needs before verifying: the second-factor pages."""
    view.second_factor_not_required = True
    return view
