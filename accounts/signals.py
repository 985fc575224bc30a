"""Audit receivers, the per-user session token, and LDAP group -> role mapping."""

import time

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django_auth_ldap.backend import populate_user
from django_otp.plugins.otp_static.models import StaticToken

from explorer.traces.visible import visible_line

from . import audit
from .middleware import LAST_ACTIVITY_KEY, SESSION_TOKEN_KEY
from .models import AuditAction, UserSessionToken, new_session_token
from .roles import ROLES

# Sender of user_login_failed for a wrong second-factor code: django-axes counts it like a
# wrong password (same store, same limit), the audit log names it for what it is.
SECOND_FACTOR_SENDER = "accounts.second_factor"


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs):
    token, _ = UserSessionToken.objects.get_or_create(user=user)
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_TOKEN_KEY] = token.token
        request.session[LAST_ACTIVITY_KEY] = time.time()
    audit.record(request, AuditAction.LOGIN, user=user)


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs):
    if user is None:
        return
    # A new token ends every other session of the user at its next request.
    UserSessionToken.objects.update_or_create(user=user, defaults={"token": new_session_token()})
    audit.record(request, AuditAction.LOGOUT, user=user)


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    second_factor = sender == SECOND_FACTOR_SENDER
    action = AuditAction.SECOND_FACTOR_FAILED if second_factor else AuditAction.LOGIN_FAILED
    username = str(credentials.get("username") or "")
    detail = "refused: locked out" if getattr(request, "axes_locked_out", False) else ""
    audit.record(request, action, detail=detail, username=username)


@receiver(user_locked_out)
def on_locked_out(sender, request, username, ip_address, **kwargs):
    audit.record(
        request,
        AuditAction.LOCKOUT,
        detail=f"locked for {settings.AXES_COOLOFF_TIME} after "
        f"{settings.AXES_FAILURE_LIMIT} failures from {ip_address}",
        username=username or "",
    )


@receiver(post_save, sender=LogEntry)
def on_admin_change(sender, instance, created, **kwargs):
    if not created:
        return
    kind = {1: "added", 2: "changed", 3: "deleted"}.get(instance.action_flag, "?")
    audit.record(
        None,
        AuditAction.ADMIN_CHANGE,
        instance.content_type.model if instance.content_type else "",
        instance.object_id or "",
        f"{kind} {instance.object_repr}: {instance.get_change_message()}".strip(),
        user=instance.user,
    )


@receiver(post_save, sender=StaticToken)
def on_backup_code_added(sender, instance, created, **kwargs):
    """Backup codes are made in bulk (second_factor.new_backup_codes sends no signal); one
    added on its own comes from django-otp's `manage.py addstatictoken` or a shell, a way past
    another user's second factor: audited."""
    if not created:
        return
    user = instance.device.user
    audit.record(
        None,
        AuditAction.SECOND_FACTOR_RESET,
        "user",
        user.pk,
        f"backup code added to {user.username} outside enrolment "
        "(manage.py addstatictoken or a shell)",
    )


@receiver(populate_user)
def assign_ldap_roles(sender, user, ldap_user, **kwargs):
    """Role groups follow LDAP group membership (EXPLORER_LDAP_ROLE_GROUPS) at every login;
    other groups and individually granted permissions are left alone. A directory user has no
    local password: one set beforehand (an account prepared under their name) is dropped. The
    directory's names and address are kept with control and bidi characters as symbols, so
    that no page and no admin list shows them raw."""
    for field in ("first_name", "last_name", "email"):
        setattr(user, field, visible_line(getattr(user, field)))
    if user.has_usable_password() or user.pk is None:
        user.set_unusable_password()
        user.save()
    member_of = {dn.lower() for dn in ldap_user.group_dns}
    roles = {
        role
        for role, dns in settings.EXPLORER_LDAP_ROLE_GROUPS.items()
        if any(dn.lower() in member_of for dn in dns)
    }
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name__in=roles))
    user.groups.add(*Group.objects.filter(name__in=roles))
