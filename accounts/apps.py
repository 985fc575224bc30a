from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default = True
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, signals  # noqa: F401  (registers the checks, the audit receivers)


class ExplorerAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the explorer's site: role and second factor required."""

    default = False  # "accounts" itself means AccountsConfig
    default_site = "accounts.admin_site.ExplorerAdminSite"
