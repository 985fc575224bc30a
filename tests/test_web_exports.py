"""CSV exports of a journey, a customer's orders and a trace: redacted by role, formula-safe,
UTF-8 with a header row, audited, protected, and linked from their pages."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEntry
from accounts.testing import pseudonym_of
from explorer.store.ingest import store_traces
from explorer.traces.model import Resource, SpanKind, Trace
from explorer.web.downloads import (
    CUSTOMER_CSV_COLUMNS,
    JOURNEY_CSV_COLUMNS,
    TRACE_CSV_COLUMNS,
)
from tests.journey_support import DAY, OrderBuilder, complete_order
from tests.trace_support import make_span
from tests.web_support import T0, tree_trace

TREE = "ab" * 16
HOSTILE = "cd" * 16
BUSINESS = ["order.id", "customer.id", "customer.type"]
FORMULAS = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcmd"]


def hostile_trace() -> Trace:
    """Spans whose name, service and business attributes try to be spreadsheet formulas."""
    evil = Resource("=cmd|' /C calc'!A0", {"service.name": "=cmd|' /C calc'!A0"})
    spans = [
        make_span(
            "h0",
            trace_id=HOSTILE,
            name="Заказ №1 — ok",
            kind=SpanKind.SERVER,
            start_ns=T0,
            end_ns=T0 + 10**6,
            resource=evil,
            attributes={"order.id": "A-100009", "customer.id": "C-00999", "customer.type": "@vip"},
        )
    ]
    spans += [
        make_span(
            f"h{i}",
            "h0",
            trace_id=HOSTILE,
            name=name,
            start_ns=T0 + i,
            end_ns=T0 + 2 * i,
            resource=evil,
        )
        for i, name in enumerate(FORMULAS, start=1)
    ]
    return Trace(HOSTILE, spans)


@pytest.fixture
def stored(db):
    first = complete_order("A-100001", customer_id="C-00123")
    second = OrderBuilder("A-100002", "C-00123", "retail")
    second.state("shop-api", "POST /api/orders", DAY, "INITIATED", None)
    other = complete_order("A-100003", customer_id="C-00456", offset=5 * DAY)
    store_traces([*first.traces, *second.traces, *other.traces, tree_trace(TREE), hostile_trace()])


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    assert response["X-Content-Type-Options"] == "nosniff"
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


# --- Journey ---------------------------------------------------------------------------------


def test_journey_csv_has_a_row_per_step(client, login_as, stored):
    login_as("support")
    steps = client.get(reverse("web:journey_json", args=["A-100001"])).json()["steps"]
    response = client.get(reverse("web:journey_csv", args=["A-100001"]))
    assert response["Content-Disposition"] == 'attachment; filename="journey-A-100001.csv"'
    rows = csv_rows(response)
    assert rows[0] == JOURNEY_CSV_COLUMNS
    records = as_dicts(rows)
    assert len(records) == len(steps) >= 10
    for record, step in zip(records, steps, strict=True):
        assert record["time"] == step["start"]
        assert (record["trace_id"], record["span_id"]) == (step["trace_id"], step["span_id"])
        assert record["operation"] == step["operation"]
        assert float(record["duration_ms"]) == step["duration_ms"]
        assert record["outcome"] == step["outcome"]
        assert (record["order_id"], record["customer_id"], record["customer_type"]) == (
            "A-100001",
            "C-00123",
            "retail",
        )
    assert records[-1]["operation"] == "POST /api/carrier/deliveries"
    assert records[-1]["container"] == "crm_api"
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT, object_type="order")
    assert entry.object_id == "A-100001" and "journey csv" in entry.detail


def test_journey_csv_masks_the_customer_id_for_onboarding(client, login_as, stored):
    login_as("onboarding")
    response = client.get(reverse("web:journey_csv", args=["A-100001"]))
    records = as_dicts(csv_rows(response))
    assert records and {r["customer_id"] for r in records} == {pseudonym_of("C-00123")}


# --- Customer --------------------------------------------------------------------------------


def test_customer_csv_lists_the_customers_orders(client, login_as, stored):
    login_as("support")
    response = client.get(reverse("web:customer_csv", args=["C-00123"]))
    assert response["Content-Disposition"] == 'attachment; filename="customer-C-00123-orders.csv"'
    rows = csv_rows(response)
    assert rows[0] == CUSTOMER_CSV_COLUMNS
    records = as_dicts(rows)
    assert [r["order_id"] for r in records] == ["A-100001", "A-100002"]  # oldest first
    assert {r["customer_id"] for r in records} == {"C-00123"}
    assert records[0]["state"] == "CLOSED" and records[1]["state"] == "INITIATED"
    assert records[0]["status"] != records[1]["status"]
    assert {r["customer_type"] for r in records} == {"retail"}
    assert (
        AuditEntry.objects.filter(
            action=AuditAction.EXPORT, object_type="customer", object_id=pseudonym_of("C-00123")
        ).count()
        == 1
    )


def test_customer_csv_masks_the_customer_id_for_onboarding(client, login_as, stored):
    login_as("onboarding")
    masked = pseudonym_of("C-00123")  # followed by its pseudonym: the raw id is refused
    response = client.get(reverse("web:customer_csv", args=[masked]))
    assert "C-00123" not in response["Content-Disposition"]
    records = as_dicts(csv_rows(response))
    assert len(records) == 2 and {r["customer_id"] for r in records} == {masked}
    assert client.get(reverse("web:customer_csv", args=["C-00123"])).status_code == 404


# --- Trace -----------------------------------------------------------------------------------


def test_trace_csv_lists_spans_in_tree_order_with_business_attributes(client, login_as, stored):
    login_as("onboarding")
    response = client.get(reverse("web:trace_csv", args=[TREE]))
    assert response["Content-Disposition"] == f'attachment; filename="trace-{TREE}.csv"'
    rows = csv_rows(response)
    assert rows[0] == TRACE_CSV_COLUMNS + BUSINESS
    records = as_dicts(rows)
    assert len(records) == 121
    root = records[0]
    assert (root["span_id"], root["parent_id"], root["service"], root["name"]) == (
        "s0",
        "",
        "shop-api",
        "POST /api/orders",
    )
    assert (root["kind"], root["status"], root["duration_ms"]) == ("SERVER", "UNSET", "100.0")
    assert root["start"] == "2025-02-19T21:20:00Z"
    assert (root["order.id"], root["customer.id"], root["customer.type"]) == (
        "A-100001",
        pseudonym_of("C-00123"),
        "retail",
    )
    # Depth first: the root's first child, then that child's first child.
    assert [r["parent_id"] for r in records[1:3]] == ["s0", records[1]["span_id"]]
    assert records[-1]["status"] == "ERROR"
    assert {r["customer.id"] for r in records[1:]} == {""}
    assert AuditEntry.objects.filter(
        action=AuditAction.EXPORT,
        object_type="trace",
        object_id=TREE,
        detail="trace csv, 121 spans",
    ).exists()


def test_csv_cells_cannot_start_a_spreadsheet_formula(client, login_as, stored):
    login_as("support")
    rows = csv_rows(client.get(reverse("web:trace_csv", args=[HOSTILE])))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    records = {r["span_id"]: r for r in as_dicts(rows)}
    assert [records[f"h{i}"]["name"] for i in range(1, len(FORMULAS) + 1)] == [
        f"'{formula}" for formula in FORMULAS
    ]
    assert records["h0"]["service"] == "'=cmd|' /C calc'!A0"
    assert records["h0"]["customer.type"] == "'@vip"
    assert records["h0"]["name"] == "Заказ №1 — ok"  # UTF-8 round trip


def test_trace_csv_has_the_spans_of_the_json_download(client, login_as, stored):
    login_as("support")
    spans = client.get(reverse("web:trace_json", args=[TREE])).json()["spans"]
    records = as_dicts(csv_rows(client.get(reverse("web:trace_csv", args=[TREE]))))
    assert sorted(r["span_id"] for r in records) == sorted(s["span_id"] for s in spans)
    assert records[0]["customer.id"] == "C-00123"


# --- Access, errors and links ----------------------------------------------------------------

EXPORTS = [
    ("web:journey_csv", "A-100001"),
    ("web:customer_csv", "C-00123"),
    ("web:trace_csv", TREE),
]


@pytest.mark.parametrize(("name", "key"), EXPORTS)
def test_exports_need_view_journeys(client, login_as, stored, name, key):
    url = reverse(name, args=[key])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    login_as("administrator")
    assert client.get(url).status_code == 403
    assert not AuditEntry.objects.filter(action=AuditAction.EXPORT).exists()


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("web:journey_csv", "A-999999"),
        ("web:customer_csv", "C-99999"),
        ("web:trace_csv", "ff" * 16),
        ("web:journey_csv", "'\"<x>"),
        ("web:trace_csv", "x" * 500),
    ],
)
def test_unknown_ids_give_a_404_page(client, login_as, stored, name, key):
    login_as("support")
    response = client.get(reverse(name, args=[key]))
    assert response.status_code == 404
    assert not response.streaming
    assert not AuditEntry.objects.filter(action=AuditAction.EXPORT).exists()


def test_pages_link_their_csv(client, login_as, stored):
    login_as("onboarding")
    journey = client.get(reverse("web:order", args=["A-100001"])).content.decode()
    assert f'href="{reverse("web:journey_csv", args=["A-100001"])}"' in journey
    trace = client.get(reverse("web:trace", args=[TREE])).content.decode()
    assert f'href="{reverse("web:trace_csv", args=[TREE])}"' in trace
    page = reverse("web:customer", args=[pseudonym_of("C-00123")])
    customer = client.get(page).content.decode()
    # Relative, so the masked viewer's page carries no raw id in the link.
    assert 'href="orders.csv"' in customer
    assert reverse("web:customer_csv", args=[pseudonym_of("C-00123")]) == f"{page}orders.csv"
    assert client.get(f"{page}orders.csv").status_code == 200
