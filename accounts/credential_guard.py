"""Who may set another user's password or reset their second factor (issue 26, finding 4).

Both are the way into an account: whoever sets the password and enrols a new authenticator
logs in as that user. So an administrator does either only for users whose rights are all
among the administrator's own; anyone holding a right the administrator lacks (support's
view_customer_ids, any role's view_journeys, ...) is a superuser's to reset. Rights are the
permissions of the user's groups and individual grants, compared permission by permission
(not by role name), whether the account is active or not (Django reports no permissions for
an inactive user, who would get them back when reactivated).

With LDAP on, a user without a usable local password is a directory user: nobody but a
superuser gives them a local one (django's ModelBackend would accept it beside the
directory's, and keep working once the directory disables the account).
"""

from django.conf import settings
from django.utils.translation import gettext

from . import audit

# What is refused, as the audit log names it.
SET_PASSWORD = "set password"  # noqa: S105 (a label for the audit log)
RESET_SECOND_FACTOR = "reset second factor"


def _codenames(permissions) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def granted(groups, permissions) -> set[str]:
    """Every permission the groups and the direct permissions give, as "app.codename"."""
    result = _codenames(permissions)
    for group in groups:
        result |= _codenames(group.permissions.select_related("content_type"))
    return result


def rights_of(user) -> set[str]:
    """The user's permissions from their groups and individual grants, active or not."""
    return granted(user.groups.all(), user.user_permissions.select_related("content_type").all())


def rights_beyond(actor, target) -> list[str]:
    """The rights `target` holds that `actor` lacks, sorted ("superuser" for a superuser);
    empty for a superuser actor."""
    if actor.is_superuser:
        return []
    if target.is_superuser:
        return ["superuser"]
    return sorted(rights_of(target) - actor.get_all_permissions())


def refusal(actor, target, what: str) -> str:
    """Why `actor` may not do `what` ("set password", "reset second factor") to `target`,
    for the audit log; empty when allowed."""
    beyond = rights_beyond(actor, target)
    if beyond:
        return f"refused: {what}: rights beyond the administrator's: {', '.join(beyond)}"
    if (
        what == SET_PASSWORD
        and not actor.is_superuser
        and settings.EXPLORER_LDAP_ENABLED
        and not target.has_usable_password()
    ):
        return f"refused: {what}: a directory user's password lives in the directory"
    return ""


def refused(request, action, target, what: str) -> str:
    """The refusal of `what` for the request's user, audited; empty when allowed."""
    reason = refusal(request.user, target, what)
    if reason:
        audit.record(request, action, "user", target.pk, f"{reason} (user {target.username})")
    return reason


def refusal_message(target) -> str:
    """What the administrator is told."""
    return gettext(
        "%(user)s has rights you do not have (or a password kept in the directory): only a "
        "superuser sets their password or resets their second factor."
    ) % {"user": target.get_username()}
