from .roles import ROLES


def account(request):
    """`user_roles`: the role names of the logged-in user, for the page header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": []}
    names = set(user.groups.values_list("name", flat=True))
    roles = [role for role in ROLES if role in names]
    if user.is_superuser:
        roles.append("superuser")
    return {"user_roles": roles}
