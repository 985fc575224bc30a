"""Forgetting a customer (issue 31 item 3): `manage.py forget-customer` and the admin's page
remove or rewrite everything that carries the id; no page, export or database byte has it
afterwards; other customers keep theirs; the audit names the customer by pseudonym only."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from accounts.testing import login_as, make_user, pseudonym_of
from explorer.alerts.models import Alert
from explorer.erasure.mentions import Mentions
from explorer.journeys.anomalies import _operation as operation_memo
from explorer.journeys.anomalies import operation_of
from explorer.orders.models import BaselineSnapshot, OrderStatus
from explorer.receiver.index import write as write_index
from explorer.receiver.models import IndexedTrace
from explorer.store import hourly_figures
from explorer.store.hourly_figures import pack_examples, unpack_examples
from explorer.store.ingest import store_traces
from explorer.store.models import HourlyKey, HourlyOperation, HourlyTraffic, StoredTrace
from explorer.store.source import StoreSource
from explorer.traces.model import Event, Trace
from tests.journey_support import DAY, T0, complete_order
from tests.trace_support import make_span, otlp_json

GONE, KEPT = "C-00241", "C-00777"
GONE_ORDERS, KEPT_ORDER = ("A-200001", "A-200002"), "A-200003"
ROOT = Path(__file__).resolve().parent.parent
STRAY = "ee" * 16  # no order: the id only in a span name and an event


def stray_trace() -> Trace:
    span = make_span(
        "s1",
        trace_id=STRAY,
        name=f"GET /customers/{GONE}/profile",
        start_ns=T0,
        end_ns=T0 + 10**6,
        events=[Event("looked up", T0 + 10, {"note": f"asked by {GONE}"})],
    )
    return Trace(STRAY, [span])


@pytest.fixture
def stored(db, client, tmp_path, settings):
    """Two orders of the customer to forget, one of another, a stray trace, the snapshot,
    alerts, an old audit entry with the raw id, an upload and the receiver's index."""
    settings.EXPLORER_UPLOAD_DIR = str(tmp_path / "uploads")
    orders = [
        complete_order(GONE_ORDERS[0], customer_id=GONE),
        complete_order(GONE_ORDERS[1], customer_id=GONE, offset=DAY),
        complete_order(KEPT_ORDER, customer_id=KEPT, offset=2 * DAY),
    ]
    traces = [trace for order in orders for trace in order.traces]
    store_traces([*traces, stray_trace()])
    write_index([*traces, stray_trace()])
    call_command("orders", "--refresh", stdout=io.StringIO())
    now = timezone.now()
    for order, customer in ((GONE_ORDERS[0], GONE), (KEPT_ORDER, KEPT)):
        Alert.objects.create(
            kind="stuck",
            subject=order,
            order_id=order,
            customer_id=customer,
            facts={"customer": customer},
            opened_at=now,
            last_seen_at=now,
        )
    AuditEntry.objects.create(action="view", object_type="order", detail=f"old entry: {GONE}")
    uploader = login_as(client, "support", username="uploader")
    document = orjson.dumps(otlp_json(orders[0].traces[:1]))
    client.post(reverse("web:upload"), {"file": SimpleUploadedFile("t.json", document)})
    client.logout()
    return uploader


def forget(customer: str = GONE, *extra: str) -> str:
    """The command in this process: inside the test's transaction, so without its VACUUM
    (the file tests below run it as an operator does, VACUUM included)."""
    out = io.StringIO()
    reason = f"request 12 of {customer}"
    call_command("forget-customer", customer, "--reason", reason, "--no-vacuum", *extra, stdout=out)
    return out.getvalue()


def database_dump() -> str:
    """Every row of every table of the test database, as SQL text (blobs in hex)."""
    connection.ensure_connection()
    return "\n".join(connection.connection.iterdump())


def database_file(folder: Path) -> Path:
    """The test database written to a file, as the explorer keeps it."""
    folder.mkdir()
    path = folder / "explorer.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(database_dump())
    conn.close()
    return path


def stored_spans_mention(customer: str) -> bool:
    """Whether a span still stored (compressed in its chunk) carries the id."""
    ids = list(StoredTrace.objects.values_list("trace_id", flat=True))
    return Mentions(customer).in_value([t.spans for t in StoreSource().get_traces(ids)])


def test_forgetting_removes_the_customer_and_keeps_the_others(stored):
    assert GONE in database_dump()
    hourly = list(HourlyTraffic.objects.values_list("source", "target", "calls"))
    assert hourly and GONE not in repr(hourly)  # figures of elements: nothing to erase
    said = forget()
    assert f"forgot {pseudonym_of(GONE)}" in said and GONE not in said
    assert GONE not in database_dump()
    assert not stored_spans_mention(GONE)
    assert not IndexedTrace.objects.filter(trace_id=STRAY).exists()
    assert set(OrderStatus.objects.values_list("order_id", flat=True)) == {KEPT_ORDER}
    assert list(Alert.objects.values_list("customer_id", flat=True)) == [KEPT]
    assert stored_spans_mention(KEPT) and KEPT in database_dump()
    # The traces' first values of their business attributes are packed, out of the dump's sight.
    firsts = repr(list(StoredTrace.objects.values_list("attributes", flat=True)))
    assert GONE not in firsts and KEPT in firsts
    samples = [
        s["order_id"]
        for row in BaselineSnapshot.objects.filter(kind="typical")
        for s in row.data["samples"]
    ]
    assert samples == [KEPT_ORDER]
    assert not any(Path(settings.EXPLORER_UPLOAD_DIR).rglob("*.pack"))
    assert list(HourlyTraffic.objects.values_list("source", "target", "calls")) == hourly


def test_hourly_examples_naming_the_customer_go_and_the_others_stay(stored):
    """Examples are stored packed (hex ids as raw bytes): each is unpacked and searched, and
    those of the customer's traces or naming the id go; the row keeps its counts."""
    kept = (4, "cc" * 16, "0a" * 8, KEPT_ORDER)
    HourlyOperation.objects.create(
        hour=T0,
        key=HourlyKey.objects.get_or_create(service="shop-api", operation="GET /", kind=2)[0],
        count=9,
        sketch=b"",
        slowest=pack_examples([(5, "dd" * 16, "0b" * 8, f"order-{GONE}-t1"), kept]),
    )

    def examples() -> list:
        rows = HourlyOperation.objects.values_list("slowest", flat=True)
        return [e for row in rows for e in unpack_examples(row)]

    assert {e[3] for e in examples()} >= {*GONE_ORDERS, KEPT_ORDER, f"order-{GONE}-t1"}
    forget()
    orders = {e[3] for e in examples()}
    assert KEPT_ORDER in orders and not orders & {*GONE_ORDERS, f"order-{GONE}-t1"}
    assert HourlyOperation.objects.get(hour=T0, key__service="shop-api").count == 9


def test_forgetting_empties_the_memos_of_span_names(stored):
    operation_of(make_span("s", name=f"GET /customers/{GONE}"))
    assert operation_memo.cache_info().currsize
    store_traces([Trace("f" * 32, [make_span("s", trace_id="f" * 32, name=f"GET /c/{GONE}")])])
    assert GONE in repr(hourly_figures._shared_of)
    forget()
    assert not operation_memo.cache_info().currsize
    assert GONE not in repr(hourly_figures._shared_of)


def test_the_audit_records_the_act_with_the_pseudonym(stored):
    forget()
    act = AuditEntry.objects.filter(action="admin_change", object_type="customer").get()
    assert act.object_id == pseudonym_of(GONE)
    assert act.detail.endswith(f"reason: request 12 of {pseudonym_of(GONE)}")
    assert "traces" in act.detail
    assert not AuditEntry.objects.filter(detail__contains=GONE).exists()
    assert not AuditEntry.objects.filter(object_id__contains=GONE).exists()


PAGES = [
    ("web:home", ()),
    ("web:order_list", ()),
    ("web:order", (GONE_ORDERS[0],)),
    ("web:journey_json", (GONE_ORDERS[0],)),
    ("web:journey_csv", (GONE_ORDERS[0],)),
    ("web:lookup", ()),
    ("alerts:list", ()),
]


def test_no_page_or_export_shows_the_customer_afterwards(stored, client):
    login_as(client, "support")
    journey = reverse("web:journey_json", args=[GONE_ORDERS[0]])
    assert GONE in client.get(journey).content.decode()  # before
    forget()
    pages = [reverse(name, args=args) for name, args in PAGES]
    pages += [reverse("web:lookup") + f"?q={order}" for order in GONE_ORDERS]
    traces = [t for order in GONE_ORDERS for t in complete_order(order).traces]
    pages += [
        reverse(f"web:trace_{kind}", args=[t.trace_id])
        for t in traces[:2]
        for kind in ("json", "csv")
    ]
    for page in pages:
        response = client.get(page)
        assert GONE not in response.content.decode(), page
    for name in ("web:customer", "web:customer_csv"):  # the id typed: only "not found"
        assert client.get(reverse(name, args=[GONE])).status_code == 404
    kept = client.get(reverse("web:customer", args=[KEPT])).content.decode()
    assert KEPT_ORDER in kept
    assert KEPT in client.get(reverse("web:journey_json", args=[KEPT_ORDER])).content.decode()


def test_an_unknown_customer_is_said_so_and_nothing_changes(stored):
    before = (StoredTrace.objects.count(), AuditEntry.objects.count())
    with pytest.raises(CommandError, match="nothing stored carries this id"):
        forget("C-99999")
    with pytest.raises(CommandError, match="nothing stored carries this id"):
        forget("C-0024")  # a part of an id is another id: no match
    with pytest.raises(CommandError, match="too short to be found safely"):
        forget("241")  # a token of unrelated text ("A-241")
    assert (StoredTrace.objects.count(), AuditEntry.objects.count()) == before


def test_a_dry_run_says_what_and_changes_nothing(stored):
    before = StoredTrace.objects.count()
    said = forget(GONE, "--dry-run")
    assert said.startswith(f"would forget {pseudonym_of(GONE)}: 2 orders")
    assert StoredTrace.objects.count() == before


FORGET_PAGE = "admin:erasure_customer_changelist"


def test_administrators_forget_through_the_admin_after_confirming(stored, client):
    login_as(client, "administrator")
    url = reverse(FORGET_PAGE)
    assert client.get(url).status_code == 200
    asked = {"customer_id": GONE, "reason": "asked by e-mail", "review": "1"}
    review = client.post(url, asked).content.decode()
    assert pseudonym_of(GONE) in review and 'name="confirm"' in review
    assert OrderStatus.objects.filter(customer_id=GONE).exists()  # not yet
    done = client.post(url, {**asked, "confirm": "1"})
    assert done.status_code == 302
    assert not OrderStatus.objects.filter(customer_id=GONE).exists()
    act = AuditEntry.objects.get(action="admin_change", object_type="customer")
    assert act.username == "user-administrator" and act.object_id == pseudonym_of(GONE)
    unknown = client.post(url, {**asked, "customer_id": GONE, "confirm": "1"})
    assert "Nothing stored carries this customer id" in unknown.content.decode()


def test_the_admin_page_speaks_russian(stored, client):
    login_as(client, "administrator")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    page = client.get(reverse(FORGET_PAGE)).content.decode()
    assert "<title>Забыть клиента" in page and "Причина" in page
    asked = {"customer_id": GONE, "reason": "по письму", "review": "1"}
    review = client.post(reverse(FORGET_PAGE), asked).content.decode()
    assert "Да, забыть этого клиента" in review and "трассы во встроенном хранилище" in review
    index = client.get(reverse("admin:index")).content.decode()
    assert "Удаление данных клиентов" in index


@pytest.mark.parametrize("role", ["architect", "support"])
def test_only_those_allowed_may_forget(stored, client, role):
    login_as(client, role)
    url = reverse(FORGET_PAGE)
    assert client.get(url).status_code in (302, 403)
    client.post(url, {"customer_id": GONE, "reason": "x", "confirm": "1"})
    assert OrderStatus.objects.filter(customer_id=GONE).exists()
    assert not make_user(None, username="nobody").has_perm("erasure.forget_customer")


def forget_in_a_process(stored_copy: Path, *extra: str) -> None:
    """`manage.py forget-customer` as an operator runs it, on the database file (WAL mode,
    as the explorer opens it) in `stored_copy`'s folder."""
    env = {
        **os.environ,
        "EXPLORER_DATA_DIR": str(stored_copy.parent),
        "EXPLORER_UPLOAD_DIR": str(stored_copy.parent / "uploads"),
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "manage.py", "forget-customer", GONE, "--reason", "asked", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_database_file_and_its_log_keep_no_byte_of_the_id(stored, tmp_path):
    """The file and its -wal after the command as an operator runs it (VACUUM included)."""
    copy = database_file(tmp_path / "data")
    assert GONE.encode() in copy.read_bytes()
    forget_in_a_process(copy)
    wal = copy.with_name(copy.name + "-wal")
    for path in (copy, wal):
        assert not path.exists() or GONE.encode() not in path.read_bytes(), path
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM journeys_orderstatus").fetchone() == (1,)
    conn.close()
