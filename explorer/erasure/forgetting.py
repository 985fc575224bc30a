"""Forgetting a customer: what finding.py found is removed, and what must stay (the audit,
the typical journeys of other orders) is rewritten without the id. The act itself is audited
with the customer's pseudonym, never the id. docs/security.md says what goes and what stays.

On SQLite, deleted rows are overwritten with zeros as they go (`secure_delete`) and the
write-ahead log is checkpointed and truncated afterwards; `give_back_space` (a VACUUM) then
rewrites the file without the freed pages. On PostgreSQL the old row versions stay in the
table files until a VACUUM (FULL) rewrites them (docs/operations.md)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.db import connection, transaction
from django.db.models import Q

from accounts import audit
from accounts.models import AuditEntry
from explorer.alerts.models import Alert
from explorer.caching import reset_caches
from explorer.erasure.finding import Found, order_rows
from explorer.erasure.mentions import Mentions
from explorer.orders.models import BaselineSnapshot, OrderArrival, OrderStatus, OrderStep
from explorer.receiver.removal import delete_indexed_traces
from explorer.store.dictionary import retire_mentioning
from explorer.store.hourly_figures import pack_examples, unpack_examples
from explorer.store.models import HourlyKey, HourlyOperation
from explorer.store.removal import delete_traces, forget_operations


@dataclass(frozen=True)
class Forgotten:
    pseudonym: str
    removed: dict[str, int]  # what went, by kind
    rewritten: dict[str, int]  # rows kept without the id, by kind


def forget_customer(
    found: Found, reason: str, *, request=None, user=None, username: str = ""
) -> Forgotten:
    """Remove everything in `found`, rewrite what stays, audit the act (by `request`'s user,
    or `user` / `username` from a command). `reason` is required."""
    if not reason.strip():
        raise ValueError("a reason is required")
    mentions = Mentions(found.customer_id)
    with _deleting_securely():
        removed = {
            "traces": delete_traces(found.traces),
            "indexed traces": delete_indexed_traces(found.indexed),
            **_delete_order_rows(found),
            "order arrivals": _delete_arrivals(found.orders),
            "alerts": _delete_alerts(found.alerts),
            "operations": forget_operations(found.customer_id),
            "uploads": _delete_uploads(found),
            "hourly figure rows": _delete_named_hourly_rows(mentions),
        }
        rewritten = {
            # After the traces went: a new dictionary is trained on chunks without the id.
            "trace chunks": retire_mentioning(found.customer_id),
            # index mode keeps examples of indexed traces too
            "hourly figure rows": _rewrite_hourly_examples(mentions, found.traces | found.indexed),
            "typical journeys": _rewrite_snapshots(mentions, found.orders),
            "order samples": _forget_samples(mentions),
            "audit entries": _rewrite_audit(mentions, found.pseudonym),
        }
    reason_kept = mentions.replaced(reason.strip(), found.pseudonym)
    summary = ", ".join(f"{count} {kind}" for kind, count in removed.items() if count)
    audit.record(
        request,
        audit.AuditAction.ADMIN_CHANGE,
        "customer",
        found.customer_id,  # stored as its pseudonym (accounts.audit_view)
        f"forgotten: {summary or 'nothing stored'}; reason: {reason_kept}",
        user=user,
        username=username,
    )
    reset_caches()
    _checkpoint()
    return Forgotten(found.pseudonym, removed, rewritten)


def _delete_order_rows(found: Found) -> dict[str, int]:
    """The order-status rows and, with them (the foreign key cascades), their step figures."""
    _, by_model = order_rows(found.customer_id, found.orders).delete()
    return {
        "order status rows": by_model.get(OrderStatus._meta.label, 0),
        "order steps": by_model.get(OrderStep._meta.label, 0),
    }


def _delete_arrivals(orders: set[str]) -> int:
    return OrderArrival.objects.filter(order_id__in=sorted(orders)).delete()[0]


def _delete_alerts(pks: set[int]) -> int:
    """The alerts (their deliveries with them); returns how many alerts."""
    _, by_model = Alert.objects.filter(pk__in=sorted(pks)).delete()
    return by_model.get(Alert._meta.label, 0)


def _delete_named_hourly_rows(mentions: Mentions) -> int:
    """The hourly figures of operations (or services, customer types) whose name holds the
    id, such as `GET /customers/C-00241/profile`: the name itself is the customer's data. Their
    keys (HourlyKey) go with them; returns how many rows."""
    found = mentions.customer_id
    candidates = HourlyKey.objects.filter(
        Q(operation__contains=found) | Q(service__contains=found) | Q(customer_type__contains=found)
    ).values_list("pk", "service", "operation", "customer_type")
    named = [pk for pk, *names in candidates if mentions.in_value(names)]
    if not named:
        return 0
    removed = HourlyOperation.objects.filter(key__in=named).delete()[0]
    HourlyKey.objects.filter(pk__in=named).delete()
    return removed


def _rewrite_hourly_examples(mentions: Mentions, traces: set[str]) -> int:
    """The other hourly rows keep their counts and sketches; their slowest-span examples
    ((duration, trace id, span id, order id), packed) lose those of the removed traces or
    naming the id. Each is unpacked and its texts searched: the packed bytes would hide a hex
    id and could put a letter-like length byte before an order id. Reads every row's examples
    once: an erasure is rare, the table a row per hour and key."""
    changed = 0
    for pk, packed in HourlyOperation.objects.values_list("pk", "slowest").iterator():
        slowest = unpack_examples(packed)
        kept = [e for e in slowest if e[1] not in traces and not mentions.in_value(e)]
        if len(kept) != len(slowest):
            HourlyOperation.objects.filter(pk=pk).update(slowest=pack_examples(kept))
            changed += 1
    return changed


def _delete_uploads(found: Found) -> int:
    for folder in found.uploads:
        shutil.rmtree(folder, ignore_errors=True)
    return len(found.uploads)


def _rewrite_snapshots(mentions: Mentions, orders: set[str]) -> int:
    """The stored typical journeys without the samples of the customer's orders, the stored
    baseline without an operation whose name carries the id; returns the rows changed."""
    changed = 0
    with transaction.atomic():
        for row in BaselineSnapshot.objects.select_for_update():
            data = dict(row.data)
            part = "samples" if "samples" in data else "stats"
            kept = [
                item
                for item in data.get(part, [])
                if not mentions.in_value(item)
                and not (isinstance(item, dict) and item.get("order_id") in orders)
            ]
            if len(kept) != len(data.get(part, [])):
                data[part] = kept
                BaselineSnapshot.objects.filter(pk=row.pk).update(data=data)
                changed += 1
    return changed


def _forget_samples(mentions: Mentions) -> int:
    """The typical-journey samples kept with other orders' rows that carry the id (an
    operation or call named with it); the customer's own rows went with their samples.
    Their traces answer instead (explorer.orders.samples). Returns the rows changed."""
    named = [
        pk
        for pk, sample in OrderStatus.objects.filter(sample__isnull=False)
        .values_list("pk", "sample")
        .iterator()
        if mentions.in_value(sample)
    ]
    return OrderStatus.objects.filter(pk__in=named).update(sample=None)


def _rewrite_audit(mentions: Mentions, pseudonym: str) -> int:
    """Audit entries and the admin's change log with the raw id (written before entries were
    pseudonymised, or in a form the patterns do not know) get the pseudonym instead. A
    queryset update: AuditEntry.save refuses changes made through the application."""
    changed = 0
    needle = mentions.customer_id
    for model, fields in ((AuditEntry, ("object_id", "detail")), (LogEntry, _LOG_FIELDS)):
        condition = Q()
        for name in fields:
            condition |= Q(**{f"{name}__contains": needle})
        for pk, *values in model.objects.filter(condition).values_list("pk", *fields):
            new = {
                name: mentions.replaced(value or "", pseudonym)
                for name, value in zip(fields, values, strict=True)
            }
            if new != dict(zip(fields, values, strict=True)):
                model.objects.filter(pk=pk).update(**new)
                changed += 1
    return changed


_LOG_FIELDS = ("object_id", "object_repr", "change_message")


@contextmanager
def _deleting_securely() -> Iterator[None]:
    """On SQLite, deleted content overwritten with zeros while erasing (then as before)."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA secure_delete")
        before = cursor.fetchone()[0]
        cursor.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA secure_delete = {int(before)}")


def _checkpoint() -> None:
    """On SQLite, the write-ahead log copied into the database file and truncated: no old
    page image of the erased rows stays in the -wal file. Not inside a caller's transaction
    (a test's): the log then keeps the pages until the next checkpoint."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def give_back_space() -> None:
    """VACUUM: on SQLite the whole file rewritten without free pages (then checkpointed); on
    PostgreSQL every table (space reusable; VACUUM FULL, which locks the tables, rewrites
    the files). Outside any transaction; holds up writers while it runs."""
    if connection.vendor in ("sqlite", "postgresql"):
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
    _checkpoint()
