"""Issue 26 finding 7: searches past the bounds answer a clear message, not a 500 ("LIKE or
GLOB pattern too complex") or seconds of work: the audit page and every admin search."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import audit
from accounts.models import AuditAction
from accounts.testing import login_as

LONG = "x" * 50_001
MANY_WORDS = " ".join(["w"] * 11)


def searchable_changelists() -> list[str]:
    return sorted(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        for model, model_admin in admin.site._registry.items()
        if model_admin.search_fields
    )


def test_every_searchable_admin_is_covered():
    names = searchable_changelists()
    assert "admin:accounts_auditentry_changelist" in names
    assert "admin:c4_mappingrule_changelist" in names and "admin:auth_user_changelist" in names


@pytest.fixture
def superuser_client(client, db):
    root = User.objects.create_superuser("root")
    TOTPDevice.objects.create(user=root, name="t", key="00" * 20)
    login_as(client, user=root)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("name", searchable_changelists())
@pytest.mark.parametrize(
    ("search", "message"),
    [(LONG, "The search is too long: 50001 characters"), (MANY_WORDS, "too many words: 11")],
)
def test_an_admin_search_past_the_bounds_is_not_run(superuser_client, name, search, message):
    url = reverse(name)
    response = superuser_client.get(url, {"q": search, "o": "1"})
    assert response.status_code == 302 and response["Location"] == f"{url}?o=1"
    page = superuser_client.get(response["Location"])
    assert page.status_code == 200 and message in page.content.decode()


@pytest.mark.django_db
def test_an_admin_search_within_the_bounds_runs(superuser_client):
    audit.record(None, AuditAction.LOGIN, username="findme")
    page = superuser_client.get(reverse("admin:accounts_auditentry_changelist"), {"q": "findme"})
    assert page.status_code == 200 and "findme" in page.content.decode()


@pytest.mark.django_db
def test_the_admin_autocomplete_is_bounded_too(superuser_client):
    response = superuser_client.get(
        reverse("admin:autocomplete"),
        {"term": LONG, "app_label": "auth", "model_name": "user", "field_name": "user"},
    )
    assert response.status_code == 400 and "too long" in response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["username", "object_type", "object_id", "address"])
def test_the_audit_page_refuses_an_overlong_filter(client, field):
    login_as(client, "administrator", username="auditor")
    audit.record(None, AuditAction.LOGIN, username="someone")
    page = client.get("/accounts/audit/", {field: LONG})
    assert page.status_code == 200
    text = page.content.decode()
    assert "at most 200 characters" in text and "someone" not in text
    export = client.get("/accounts/audit.csv", {field: LONG})
    assert export.status_code == 200
    assert b"someone" not in b"".join(export.streaming_content)
