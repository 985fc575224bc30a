"""Audit log: the record helper, immutability, the admin's changes, search, CSV, pruning."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone

from accounts import audit
from accounts.management.commands.audit_prune import parse_age
from accounts.models import AuditAction, AuditEntry, AuditEntryImmutable
from accounts.testing import login_as, make_user


@pytest.mark.django_db
def test_record_takes_user_and_client_address_from_the_request():
    user = make_user("support")
    request = RequestFactory().get("/orders/A-100042/", REMOTE_ADDR="10.20.30.40")
    request.user = user
    entry = audit.record(request, AuditAction.VIEW, "order", "A-100042")
    assert (entry.username, entry.address, entry.object_type, entry.object_id) == (
        "user-support",
        "10.20.30.40",
        "order",
        "A-100042",
    )


@pytest.mark.django_db
def test_entries_cannot_be_changed_or_deleted_through_the_application():
    entry = audit.record(None, AuditAction.EXPORT, "journey_csv", "A-1")
    entry.detail = "rewritten"
    with pytest.raises(AuditEntryImmutable):
        entry.save()
    with pytest.raises(AuditEntryImmutable):
        entry.delete()
    assert AuditEntry.objects.get(pk=entry.pk).detail == ""


@pytest.mark.django_db
def test_admin_cannot_edit_entries_and_admin_changes_are_audited(client):
    boss = login_as(client, "administrator", username="boss")
    entry = audit.record(None, AuditAction.VIEW, "trace", "abc")
    page = client.get(f"/admin/accounts/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/accounts/auditentry/{entry.pk}/delete/").status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    newcomer = make_user("onboarding", username="newcomer")
    response = client.post(
        f"/admin/auth/user/{newcomer.pk}/change/",
        {
            "username": "newcomer",
            "first_name": "New",
            "last_name": "Comer",
            "email": "",
            "is_active": "on",
            "groups": [],
            "date_joined_0": "2025-01-01",
            "date_joined_1": "10:00:00",
            "initial-date_joined_0": "2025-01-01",
            "initial-date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    change = AuditEntry.objects.get(action=AuditAction.ADMIN_CHANGE)
    assert change.user == boss and change.object_type == "user"
    assert change.object_id == str(newcomer.pk) and "changed" in change.detail


@pytest.mark.django_db
def test_audit_page_filters_and_csv_export(client):
    login_as(client, "administrator", username="auditor")
    audit.record(None, AuditAction.VIEW, "order", "A-100042", username="sonia")
    audit.record(None, AuditAction.DOWNLOAD, "trace", "feed", username="boris")
    audit.record(None, AuditAction.EXPORT, "journey_csv", "A-1", "=HYPERLINK(1)", username="x")
    page = client.get("/accounts/audit/", {"action": "view", "username": "son"})
    assert b"A-100042" in page.content and b"feed" not in page.content
    response = client.get("/accounts/audit.csv", {"action": "export", "username": "x"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "time",
        "username",
        "address",
        "action",
        "object_type",
        "object_id",
        "detail",
    ]
    assert [row[6] for row in rows[1:]] == ["'=HYPERLINK(1)"]  # no formula for spreadsheets
    assert AuditEntry.objects.filter(action=AuditAction.EXPORT, username="auditor").exists()
    assert client.get("/accounts/audit/", {"since": "not a date"}).status_code == 200


@pytest.mark.django_db
def test_audit_page_is_for_administrators_only(client):
    login_as(client, "analyst")
    assert client.get("/accounts/audit/").status_code == 403
    assert client.get("/accounts/audit.csv").status_code == 403


@pytest.mark.django_db
def test_audit_prune_removes_only_old_entries():
    old = audit.record(None, AuditAction.LOGIN, username="old")
    AuditEntry.objects.filter(pk=old.pk).update(time=timezone.now() - timedelta(days=200))
    recent = audit.record(None, AuditAction.LOGIN, username="recent")
    out = io.StringIO()
    call_command("audit_prune", "--older-than", "180d", stdout=out)
    assert "deleted 1" in out.getvalue()
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [recent.pk]
    with pytest.raises(CommandError, match="180 days"):
        call_command("audit_prune", "--older-than", "180 days")


def test_parse_age():
    assert parse_age("180d") == timedelta(days=180)
    assert parse_age("2w") == timedelta(weeks=2)
    assert parse_age("36h") == timedelta(hours=36)
    with pytest.raises(ValueError):
        parse_age("-5d")


@pytest.mark.django_db
def test_create_demo_users_one_per_role_printed_once():
    out = io.StringIO()
    call_command("create_demo_users", stdout=out)
    text = out.getvalue()
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for role in ("onboarding", "support", "analyst", "architect", "administrator"):
        user = User.objects.get(username=f"demo-{role}")
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert TOTPDevice.objects.get(user=user).confirmed
    passwords = [line.split()[-1] for line in text.splitlines() if "password:" in line]
    assert len(passwords) == 5 and len(set(passwords)) == 5
    assert User.objects.get(username="demo-support").check_password(passwords[1])
    assert text.count("otpauth://totp/") == 5
