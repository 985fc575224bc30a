"""Issue 26 finding 4: an administrator cannot take over an account with rights they lack
(set its password, reset or read its second factor, then log in as it). Every path goes
through the Django test client as an administrator; refusals are audited."""

import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditAction, AuditEntry
from accounts.signals import assign_ldap_roles
from accounts.testing import login_as, make_user
from tests.test_security_accounts import change_form

NEW_PASSWORD = "a new long passphrase 81"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def password_form(password=NEW_PASSWORD) -> dict:
    return {"password1": password, "password2": password, "usable_password": "true"}


def set_password(client, user):
    return client.post(f"/admin/auth/user/{user.pk}/password/", password_form())


def refusals() -> list[str]:
    return list(
        AuditEntry.objects.filter(detail__startswith="refused").values_list("detail", flat=True)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["support", "onboarding", "analyst", "architect"])
def test_an_administrator_cannot_set_the_password_of_a_user_with_more_rights(client, role):
    login_as(client, "administrator", username="boss")
    target = make_user(role, username="target")
    assert client.get(f"/admin/auth/user/{target.pk}/password/").status_code == 302
    response = set_password(client, target)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/auth/user/{target.pk}/change/")
    target.refresh_from_db()
    assert not target.check_password(NEW_PASSWORD)
    details = refusals()
    assert details and all("set password" in detail for detail in details)
    assert any("accounts.view_journeys" in detail for detail in details)
    page = client.get(response["Location"])
    assert "rights you do not have" in page.content.decode()


@pytest.mark.django_db
def test_an_individually_granted_permission_counts_not_the_role_name(client):
    """An administrator with one extra right is not enough to take over another
    administrator who holds view_customer_ids individually."""
    login_as(client, "administrator", username="boss")
    peer = make_user("administrator", username="peer", extra_perms=["view_customer_ids"])
    set_password(client, peer)
    peer.refresh_from_db()
    assert not peer.check_password(NEW_PASSWORD)
    assert any("accounts.view_customer_ids" in detail for detail in refusals())


@pytest.mark.django_db
def test_an_inactive_support_user_keeps_the_rights_of_their_groups(client):
    """Deactivating first (Django then reports no permissions) does not open the way."""
    login_as(client, "administrator", username="boss")
    target = make_user("support", username="target")
    target.is_active = False
    target.save()
    set_password(client, target)
    target.refresh_from_db()
    assert not target.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_an_administrator_sets_the_password_of_a_user_with_no_more_rights(client):
    login_as(client, "administrator", username="boss")
    peer = make_user("administrator", username="peer")
    newcomer = make_user(None, username="newcomer")
    for user in (peer, newcomer):
        assert set_password(client, user).status_code == 302
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)
    assert AuditEntry.objects.filter(
        action=AuditAction.ADMIN_CHANGE, object_id=str(peer.pk), detail__contains="password"
    ).exists()


@pytest.mark.django_db
def test_a_superuser_sets_any_password(client):
    root = User.objects.create_superuser("root")
    TOTPDevice.objects.create(user=root, name="t", key="00" * 20)
    login_as(client, user=root)
    target = make_user("support", username="target")
    assert set_password(client, target).status_code == 302
    target.refresh_from_db()
    assert target.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_the_reset_action_skips_users_with_more_rights_and_audits_it(client):
    login_as(client, "administrator", username="boss")
    support = make_user("support", username="helper")
    peer = make_user("administrator", username="peer")
    response = client.post(
        "/admin/auth/user/",
        {"action": "reset_second_factor", "_selected_action": [support.pk, peer.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert TOTPDevice.objects.filter(user=support).exists()
    assert not TOTPDevice.objects.filter(user=peer).exists()
    text = response.content.decode()
    assert "helper" in text and "rights you do not have" in text
    assert "Second factor reset for 1 user." in text
    refused = AuditEntry.objects.get(
        action=AuditAction.SECOND_FACTOR_RESET, object_id=str(support.pk)
    )
    assert refused.detail.startswith("refused") and "accounts.view_customer_ids" in refused.detail
    done = AuditEntry.objects.get(action=AuditAction.SECOND_FACTOR_RESET, object_id=str(peer.pk))
    assert not done.detail.startswith("refused")


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["totpdevice", "staticdevice"])
def test_an_administrator_cannot_delete_a_device_of_a_user_with_more_rights(client, model):
    login_as(client, "administrator", username="boss")
    support = make_user("support", username="helper")
    StaticDevice.objects.create(user=support, name="backup codes")
    device_model = TOTPDevice if model == "totpdevice" else StaticDevice
    device = device_model.objects.get(user=support)
    page = f"/admin/otp_{model[:-6]}/{model}/"
    assert client.post(f"{page}{device.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post(
        page, {"action": "delete_selected", "_selected_action": [device.pk], "post": "yes"}
    )
    assert response.status_code == 403
    assert device_model.objects.filter(pk=device.pk).exists()
    assert len(refusals()) >= 2
    # A device of a user with no more rights than the administrator goes.
    peer = make_user("administrator", username="peer")
    StaticDevice.objects.create(user=peer, name="backup codes")
    own = device_model.objects.get(user=peer)
    assert client.post(f"{page}{own.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not device_model.objects.filter(pk=own.pk).exists()


@pytest.mark.django_db
def test_the_admin_never_shows_a_totp_key_or_backup_codes(client):
    login_as(client, "administrator", username="boss")
    support = make_user("support", username="helper")
    device = TOTPDevice.objects.get(user=support)
    static = StaticDevice.objects.create(user=support, name="backup codes")
    StaticToken.objects.create(device=static, token="abcd1234")
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page and "qrcode" not in page
    page = client.get(f"/admin/otp_static/staticdevice/{static.pk}/change/").content.decode()
    assert "abcd1234" not in page


@pytest.mark.django_db
def test_an_administrator_cannot_join_support_to_take_over_nor_regrant_after_a_downgrade(
    client,
):
    boss = login_as(client, "administrator", username="boss")
    support = Group.objects.get(name="support")
    response = client.post(
        f"/admin/auth/user/{boss.pk}/change/",
        change_form(boss, groups=[g.pk for g in boss.groups.all()] + [support.pk]),
    )
    assert response.status_code == 200 and not boss.groups.filter(name="support").exists()
    # Taking the role away makes the account resettable, but the role cannot come back.
    helper = make_user("support", username="helper")
    client.post(f"/admin/auth/user/{helper.pk}/change/", change_form(helper, groups=[]))
    assert set_password(client, helper).status_code == 302
    response = client.post(
        f"/admin/auth/user/{helper.pk}/change/", change_form(helper, groups=[support.pk])
    )
    assert response.status_code == 200
    assert not helper.groups.filter(name="support").exists()


@pytest.mark.django_db
def test_no_local_password_for_a_directory_user(client, settings):
    """With LDAP on, a user without a usable local password logs in with the directory's: an
    administrator does not give them a second, local one (ModelBackend would accept it)."""
    settings.EXPLORER_LDAP_ENABLED = True
    login_as(client, "administrator", username="boss")
    colleague = make_user("administrator", username="colleague")
    colleague.set_unusable_password()
    colleague.save()
    response = set_password(client, colleague)
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert not colleague.has_usable_password()
    assert any("directory" in detail for detail in refusals())


@pytest.mark.django_db
def test_a_directory_login_drops_a_local_password(settings):
    """An account prepared with a known local password and renamed to a directory user's
    name loses that password at the directory user's first login (and with it the roles the
    directory gives)."""
    settings.EXPLORER_LDAP_ROLE_GROUPS = {"support": ["cn=support,ou=groups,dc=corp"]}
    prepared = make_user(None, username="alice", password="known to the administrator")

    class DirectoryEntry:
        group_dns = ["cn=support,ou=groups,dc=corp"]

    assign_ldap_roles(sender=None, user=prepared, ldap_user=DirectoryEntry())
    prepared.refresh_from_db()
    assert prepared.groups.filter(name="support").exists()
    assert not prepared.has_usable_password()


@pytest.mark.django_db
def test_create_demo_users_audits_every_reset():
    call_command("create_demo_users", stdout=io.StringIO())
    resets = AuditEntry.objects.filter(action=AuditAction.SECOND_FACTOR_RESET)
    assert resets.count() == 5
    assert {entry.username for entry in resets} == {"manage.py create_demo_users"}


@pytest.mark.django_db
def test_a_backup_code_added_by_the_command_is_audited():
    helper = make_user("support", username="helper")
    call_command("addstatictoken", "helper", "--token", "abcd1234", stdout=io.StringIO())
    entry = AuditEntry.objects.get(action=AuditAction.SECOND_FACTOR_RESET)
    assert entry.object_id == str(helper.pk) and "addstatictoken" in entry.detail
