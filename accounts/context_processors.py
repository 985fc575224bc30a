from django.conf import settings

from .roles import ROLE_TITLES, ROLES


def account(request):
    """`user_roles`: the titles of the logged-in user's roles, in the page's language, for
    the page header; `lockout_minutes`: how long a lockout lasts, for the lockout page (which
    django-axes renders too, without our view's context)."""
    lockout_minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": [], "lockout_minutes": lockout_minutes}
    names = set(user.groups.values_list("name", flat=True))
    roles = [ROLE_TITLES[role] for role in ROLES if role in names]
    if user.is_superuser:
        roles.append(ROLE_TITLES["superuser"])
    return {"user_roles": roles, "lockout_minutes": lockout_minutes}
