"""Issue 17 findings 5 and 10: no self-promotion in the admin; a new session key at the
second factor."""

import pytest
from django.contrib.auth.models import Group, User
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.testing import login_as, make_user
from tests.test_accounts_login import PASSWORD, current_code, password_login


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def change_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "date_joined_0": "2025-01-01",
        "date_joined_1": "10:00:00",
        "initial-date_joined_0": "2025-01-01",
        "initial-date_joined_1": "10:00:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.django_db
def test_an_administrator_cannot_make_anyone_superuser_or_staff(client):
    boss = login_as(client, "administrator", username="boss")
    response = client.post(
        f"/admin/auth/user/{boss.pk}/change/", change_form(boss, is_superuser="on", is_staff="on")
    )
    assert response.status_code == 302  # saved, but the two fields are read-only
    boss.refresh_from_db()
    assert not boss.is_superuser and not boss.is_staff
    newcomer = make_user("onboarding", username="newcomer")
    client.post(f"/admin/auth/user/{newcomer.pk}/change/", change_form(newcomer, is_superuser="on"))
    newcomer.refresh_from_db()
    assert not newcomer.is_superuser


@pytest.mark.django_db
def test_an_administrator_grants_no_permission_beyond_their_own(client):
    boss = login_as(client, "administrator", username="boss")
    support = Group.objects.get(name="support")  # view_customer_ids, which boss lacks
    response = client.post(
        f"/admin/auth/user/{boss.pk}/change/",
        change_form(boss, groups=[g.pk for g in boss.groups.all()] + [support.pk]),
    )
    assert response.status_code == 200
    assert "accounts.view_customer_ids" in response.content.decode()
    assert not boss.groups.filter(name="support").exists()
    # Roles a user already has are kept when an administrator edits something else.
    helper = make_user("support", username="helper")
    response = client.post(
        f"/admin/auth/user/{helper.pk}/change/", change_form(helper, first_name="Helen")
    )
    assert response.status_code == 302
    helper.refresh_from_db()
    assert helper.first_name == "Helen" and helper.groups.filter(name="support").exists()


@pytest.mark.django_db
def test_only_a_superuser_changes_a_superuser_or_grants_anything(client):
    root = User.objects.create_superuser("root", password=PASSWORD)
    login_as(client, "administrator", username="boss")
    page = client.get(f"/admin/auth/user/{root.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content  # read-only
    response = client.post(
        f"/admin/auth/user/{root.pk}/change/",
        change_form(root, username="root", is_superuser=None, is_active=None),
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.is_superuser and root.is_active
    client.logout()
    TOTPDevice.objects.create(user=root, name="t", key="00" * 20)
    login_as(client, user=root)
    newcomer = make_user("onboarding", username="newcomer")
    response = client.post(
        f"/admin/auth/user/{newcomer.pk}/change/",
        change_form(newcomer, is_staff="on", groups=[Group.objects.get(name="support").pk]),
    )
    assert response.status_code == 302
    newcomer.refresh_from_db()
    assert newcomer.is_staff and newcomer.groups.filter(name="support").exists()


@pytest.mark.django_db
def test_the_session_key_changes_when_the_second_factor_is_verified(client):
    user = make_user("administrator", password=PASSWORD)
    password_login(client, user.username)
    before = client.session.session_key
    device = TOTPDevice.objects.get(user=user)
    response = client.post("/accounts/second-factor/", {"code": current_code(device)})
    assert response.status_code == 302
    after = client.session.session_key
    assert after and after != before
    assert client.get("/accounts/audit/").status_code == 200  # still logged in and verified
