"""Issue 26 finding 7: the audit table keeps customer identifiers as pseudonyms (the pages
hid them, the table held them raw); auditors still find a customer's entries by the id."""

import csv
import io

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from accounts import audit
from accounts.models import AuditAction, AuditEntry
from accounts.testing import login_as, pseudonym_of

CUSTOMER = "C-00241"
EMAIL = "jane.doe@example.com"
BEFORE = ("accounts", "0003_admin_for_architects")
AFTER = ("accounts", "0004_pseudonymise_audit_customer_ids")


@pytest.mark.django_db
def test_record_stores_customer_identifiers_as_pseudonyms():
    opened = audit.record(None, AuditAction.VIEW, "customer", CUSTOMER)
    noted = audit.record(
        None,
        AuditAction.EXPORT,
        "order_csv",
        "A-100241",
        f"for {CUSTOMER}, {EMAIL}, +44 20 7946 0018",
    )
    opened.refresh_from_db()
    noted.refresh_from_db()
    assert opened.object_id == pseudonym_of(CUSTOMER)
    assert noted.object_id == "A-100241"  # order ids are no customer identifiers
    assert CUSTOMER not in noted.detail and EMAIL not in noted.detail
    assert "7946" not in noted.detail
    assert pseudonym_of(CUSTOMER) in noted.detail and pseudonym_of(EMAIL) in noted.detail
    # A pseudonym (a viewer following one) is kept as it is.
    followed = audit.record(None, AuditAction.VIEW, "customer", pseudonym_of(CUSTOMER))
    assert followed.object_id == pseudonym_of(CUSTOMER)
    raw_rows = AuditEntry.objects.filter(object_id__contains=CUSTOMER)
    assert not raw_rows.exists() and not AuditEntry.objects.filter(detail__contains="C-0").exists()


@pytest.mark.django_db
def test_an_auditor_finds_a_customers_entries_by_the_id_or_the_pseudonym(client):
    audit.record(None, AuditAction.VIEW, "customer", CUSTOMER, username="support-1")
    audit.record(None, AuditAction.VIEW, "customer", "C-99999", username="support-2")
    audit.record(None, AuditAction.VIEW, "order", "A-100241", username="support-3")
    login_as(client, "administrator", username="auditor")
    for typed in (CUSTOMER, f" {CUSTOMER} ", pseudonym_of(CUSTOMER)):
        page = client.get(reverse("accounts:audit_log"), {"object_id": typed}).content.decode()
        assert "support-1" in page and "support-2" not in page and "support-3" not in page
        table = page.split("<table", 1)[1]  # the form above repeats what was typed
        assert pseudonym_of(CUSTOMER) in table and CUSTOMER not in table
    export = client.get(reverse("accounts:audit_export"), {"object_id": CUSTOMER})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(row[1], row[5]) for row in rows[1:]] == [("support-1", pseudonym_of(CUSTOMER))]
    # The export is audited with its query, the id in it pseudonymised too.
    exported = AuditEntry.objects.get(action=AuditAction.EXPORT, object_type="audit_log")
    assert CUSTOMER not in exported.detail and pseudonym_of(CUSTOMER) in exported.detail
    listing = client.get("/admin/accounts/auditentry/", {"q": CUSTOMER}).content.decode()
    assert "support-1" in listing and "support-2" not in listing


@pytest.mark.django_db(transaction=True)
def test_the_migration_pseudonymises_existing_rows():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps.get_model("accounts", "AuditEntry")
    rows = [
        old.objects.create(action="view", object_type="customer", object_id=CUSTOMER),
        old.objects.create(action="view", object_type="customer", object_id="12345"),
        old.objects.create(
            action="export",
            object_type="journey_csv",
            object_id="A-1",
            detail=f"{EMAIL} {CUSTOMER}",
        ),
        old.objects.create(action="view", object_type="trace", object_id="4bf92f3577b34da6"),
        old.objects.create(action="view", object_type="search", object_id=f"-.{EMAIL}", detail=""),
    ]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([AFTER])
    found = {entry.pk: (entry.object_id, entry.detail) for entry in AuditEntry.objects.all()}
    assert found[rows[0].pk] == (pseudonym_of(CUSTOMER), "")
    assert found[rows[1].pk] == (pseudonym_of("12345"), "")
    assert found[rows[2].pk] == ("A-1", f"{pseudonym_of(EMAIL)} {pseudonym_of(CUSTOMER)}")
    assert found[rows[3].pk] == ("4bf92f3577b34da6", "")
    assert found[rows[4].pk] == (f"-.{pseudonym_of(EMAIL)}", "")
    # The migrated rows look the same as rows written today.
    today = audit.record(None, AuditAction.VIEW, "search", f"-.{EMAIL}")
    assert today.object_id == found[rows[4].pk][0]
