from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and audit")
    default = True
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, signals  # noqa: F401  (registers the checks, the audit receivers)


class ExplorerAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the explorer's site: role and second factor required."""

    default = False  # "accounts" itself means AccountsConfig
    default_site = "accounts.admin_site.ExplorerAdminSite"


# django-otp's device plugins have no verbose names of their own (the admin showed their labels,
# "OTP_TOTP", "OTP_STATIC") and no Russian: named here, in the explorer's words and languages.
# Django's way to rename an app one uses is an AppConfig subclass in INSTALLED_APPS; the
# models' names are set when the app is ready, since their Meta is django-otp's.
class AuthenticatorAppsConfig(AppConfig):
    name = "django_otp.plugins.otp_totp"
    verbose_name = _("Second factor: authenticator apps")
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        model = self.get_model("TOTPDevice")
        model._meta.verbose_name = _("authenticator app")
        model._meta.verbose_name_plural = _("authenticator apps")


class BackupCodesConfig(AppConfig):
    name = "django_otp.plugins.otp_static"
    verbose_name = _("Second factor: backup codes")
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        device, token = self.get_model("StaticDevice"), self.get_model("StaticToken")
        device._meta.verbose_name = _("backup code set")
        device._meta.verbose_name_plural = _("backup code sets")
        token._meta.verbose_name = _("backup code")
        token._meta.verbose_name_plural = _("backup codes")


class LockoutsConfig(AxesConfig):
    """django-axes, named for the admin in both languages (its label showed as "AXES")."""

    verbose_name = _("Failed logins and lockouts")
