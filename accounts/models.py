import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .roles import CUSTOM_PERMISSIONS


class RolePermissions(models.Model):
    """Holds the explorer's custom permissions; no table, no rows."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(CUSTOM_PERMISSIONS.items())

    def __str__(self) -> str:
        return "role permissions"


class AuditAction(models.TextChoices):
    LOGIN = "login", _("login")
    LOGIN_FAILED = "login_failed", _("failed login")
    SECOND_FACTOR_VERIFIED = "second_factor_verified", _("second factor verified")
    SECOND_FACTOR_FAILED = "second_factor_failed", _("failed second factor")
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled", _("second factor enrolled")
    SECOND_FACTOR_RESET = "second_factor_reset", _("second factor reset")
    LOCKOUT = "lockout", _("lockout")
    LOGOUT = "logout", _("logout")
    VIEW = "view", _("view")
    DOWNLOAD = "download", _("download")
    EXPORT = "export", _("export")
    ADMIN_CHANGE = "admin_change", _("administrative change")


class AuditEntryImmutable(Exception):
    """Raised on an attempt to change or delete an audit entry through the application."""


class AuditEntry(models.Model):
    """One security-relevant event. Written once; only `audit_prune` removes old entries."""

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The name as it was at the time: survives renaming and deleting the user.
    username = models.CharField(max_length=150, blank=True, db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=200, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEntryImmutable("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEntryImmutable("audit entries cannot be deleted (audit_prune removes old ones)")


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class UserSessionToken(models.Model):
    """A per-user token every session of the user carries; logout rotates it, which ends
    all the user's sessions, on every device and whatever the session engine."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="session_token"
    )
    token = models.CharField(max_length=64, default=new_session_token)

    def __str__(self) -> str:
        return f"session token of {self.user}"
