"""Test helpers for every area: users with a role, logged in with a verified second factor.

    from accounts.testing import login_as
    def test_order_page(client, db):
        login_as(client, "support")
        assert client.get("/orders/A-100042/").status_code == 200  # reverse("web:order", ...)

(tests/conftest.py also offers them as the fixture `login_as`.)
"""

from django.apps import apps
from django.contrib.auth.models import Group, Permission, User
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from .roles import ROLES, sync_role_groups


def make_user(
    role: str | None = None, username: str | None = None, extra_perms=(), password=None
) -> User:
    """A local user in `role` (None: no role) with a confirmed TOTP device; without a
    password unless given (hashing one takes a noticeable fraction of a second)."""
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {ROLES}")
    user = User.objects.create_user(username or f"user-{role or 'norole'}", password=password)
    if role:
        if not Group.objects.filter(name=role).exists():
            sync_role_groups(apps)  # a transactional test that ran before flushed the groups
        user.groups.add(Group.objects.get(name=role))
    for codename in extra_perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    TOTPDevice.objects.create(user=user, name="test", key=random_hex(20), tolerance=1)
    return user


def verify_second_factor(client, user) -> None:
    """Marks the client's session as verified with the user's TOTP device."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()


def login_as(client, role: str | None = None, user: User | None = None, **kwargs) -> User:
    """Logs the test client in (password + second factor) as a new user of `role`."""
    user = user or make_user(role, **kwargs)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    verify_second_factor(client, user)
    return user


def pseudonym_of(value: str) -> str:
    """The pseudonym this server shows for a customer id, e-mail address or phone number."""
    from accounts.redaction import pseudonym, pseudonym_key_from_settings

    return pseudonym(value, pseudonym_key_from_settings())
