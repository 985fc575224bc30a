"""The Django admin, for administrators and architects: the explorer's login, a verified
second factor and the permission accounts.use_admin, like every other page (see
accounts.access). Inside, each role sees only the models its model permissions allow
(administrators: users, devices, lockouts, audit; architects, through ArchitectsEdit:
mapping rules and tours)."""

from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import URLResolver
from django.utils.translation import gettext_lazy as _

from .access import is_verified, requires
from .search_limits import search_problem


class ExplorerAdminSite(admin.AdminSite):
    site_header = _("Alexandrite Trace Explorer administration")
    site_title = _("Trace Explorer admin")

    def has_permission(self, request):
        user = request.user
        return user.is_active and is_verified(user) and user.has_perm("accounts.use_admin")

    def get_urls(self):
        urls = super().get_urls()
        _guard(urls)
        return urls

    @login_not_required
    def login(self, request, extra_context=None):
        return redirect_to_login(request.GET.get("next") or request.get_full_path())

    def logout(self, request, extra_context=None):
        # The explorer's logout ends the user's sessions everywhere.
        return redirect("accounts:logout")


def _guard(patterns) -> None:
    """Every admin view but the login redirect needs use_admin (and so a login and a verified
    second factor) before the admin's own checks run; every search (the change lists of all
    models, the autocomplete) stays within accounts.search_limits."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _guard(pattern.url_patterns)
        elif pattern.name != "login":
            view = pattern.callback
            if pattern.name == "autocomplete":
                view = _bounded_search(view, "term")
            elif (pattern.name or "").endswith("_changelist"):
                view = _bounded_search(view, SEARCH_VAR)
            pattern.callback = requires("use_admin")(view)


def _bounded_search(view, parameter: str):
    """`view` without searches past the bounds: the change list comes back without the
    search and says why; the autocomplete answers 400 with the reason."""

    @wraps(view)
    def bounded(request, *args, **kwargs):
        problem = search_problem(request.GET.get(parameter, ""))
        if not problem:
            return view(request, *args, **kwargs)
        if parameter == "term":
            return JsonResponse({"error": problem}, status=400)
        messages.error(request, problem)
        query = request.GET.copy()
        query.pop(parameter)
        return redirect(f"{request.path}?{query.urlencode()}" if query else request.path)

    return bounded


class ArchitectsEdit:
    """ModelAdmin mixin: the model is the architects' to read and write (accounts.edit_model)."""

    def has_module_permission(self, request):
        return request.user.has_perm("accounts.edit_model")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("accounts.edit_model")

    has_add_permission = has_view_permission
    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission


class ReadOnly:
    """ModelAdmin mixin: records kept by the application itself, never edited by hand."""

    def has_add_permission(self, request, obj=None):  # `obj`: inlines are asked with it
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
