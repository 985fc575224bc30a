"""Security middleware: intranet-only access, login and second factor everywhere, session
inactivity and logout-everywhere. Order in settings.MIDDLEWARE matters (see there)."""

import time

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.i18n import set_language

from . import audit
from .access import is_verified, redirect_to_second_factor
from .addresses import is_allowed_address, request_client_address
from .models import AuditAction, UserSessionToken

LAST_ACTIVITY_KEY = "explorer_last_activity"
SESSION_TOKEN_KEY = "explorer_session_token"  # noqa: S105 (a session key name)


class IntranetOnlyMiddleware:
    """Answers requests from outside EXPLORER_ALLOWED_NETWORKS with a 403 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        address = request_client_address(request)
        request.client_address = address
        if not is_allowed_address(address):
            # This runs before LocaleMiddleware: choose the page's language here.
            with translation.override(translation.get_language_from_request(request)):
                return render(
                    request, "accounts/outside_network.html", {"address": address}, status=403
                )
        return self.get_response(request)


class SessionSecurityMiddleware:
    """Ends a session after EXPLORER_SESSION_IDLE_SECONDS without a request, or when the
    user logged out elsewhere (the per-user session token was rotated)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_ACTIVITY_KEY, now)
            idle = now - last
            token = (
                UserSessionToken.objects.filter(user=request.user)
                .values_list("token", flat=True)
                .first()
            )
            if idle > settings.EXPLORER_SESSION_IDLE_SECONDS:
                audit.record(request, AuditAction.LOGOUT, detail=f"idle for {int(idle)} s")
                self._end(request)
            elif token is None or request.session.get(SESSION_TOKEN_KEY) != token:
                self._end(request)
            else:
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)

    @staticmethod
    def _end(request):
        # Not auth.logout(): that would rotate the token and end the user's other sessions.
        request.session.flush()
        request.user = AnonymousUser()


class AccessMiddleware:
    """Login and a verified second factor for every view, except those marked
    login_not_required (login, logout) or second_factor_not_required (the second-factor
    pages) and the language switch. Views still declare their permission with `requires`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Django's @login_not_required sets view.login_required = False.
        if not getattr(view_func, "login_required", True) or view_func is set_language:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_verified(request.user) and not getattr(
            view_func, "second_factor_not_required", False
        ):
            return redirect_to_second_factor(request)
        return None


class RequestBodyLimitMiddleware:
    """Refuses a request body by its declared size before anything reads it (the CSRF check
    and the upload handlers, which would spool a big multipart body to disk): a client
    without a verified second factor (a login form at most) may send
    EXPLORER_UNVERIFIED_MAX_BODY_BYTES, a verified one EXPLORER_MAX_BODY_BYTES. A body sent
    without a declared length is not read at all by Django's WSGI handler."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared:
            limit = (
                settings.EXPLORER_MAX_BODY_BYTES
                if is_verified(request.user)
                else settings.EXPLORER_UNVERIFIED_MAX_BODY_BYTES
            )
            if declared > limit:
                message = translation.gettext(
                    "The request is too large (%(size)s bytes; at most %(limit)s here)."
                ) % {"size": declared, "limit": limit}
                response = HttpResponse(
                    message, status=413, content_type="text/plain; charset=utf-8"
                )
                response["Connection"] = "close"  # the unread body must not be parsed as a request
                return response
        return self.get_response(request)


class NoStoreMiddleware:
    """Cache-Control: no-store on every answer the application makes (pages with trace data,
    downloads, the audit log): no browser or proxy cache keeps a copy. Static files are
    answered by WhiteNoise before this middleware and keep their caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["Cache-Control"] = "no-store"
        return response
