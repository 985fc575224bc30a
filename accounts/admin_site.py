"""The Django admin, for administrators only: the explorer's login, a verified second factor
and the permission accounts.manage_users, like every other page (see accounts.access)."""

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import URLResolver

from .access import is_verified, requires


class ExplorerAdminSite(admin.AdminSite):
    site_header = "Alexandrite Trace Explorer administration"
    site_title = "Trace Explorer admin"

    def has_permission(self, request):
        user = request.user
        return user.is_active and is_verified(user) and user.has_perm("accounts.manage_users")

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
    """Every admin view but the login redirect needs manage_users (and so a login and a
    verified second factor) before the admin's own checks run."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _guard(pattern.url_patterns)
        elif pattern.name != "login":
            pattern.callback = requires("manage_users")(pattern.callback)
