"""Removing traces from the embedded store: the one way stored traces go (erasing a customer,
explorer/erasure; retention shares it).

A trace is removed whole: its summary row, its chunks, its business-attribute rows. The
catalogue of operations and the sets of them traces point to keep their entries (a search
form's list), except those `forget_operations` is asked to drop. Space is given back by the
database's VACUUM (docs/operations.md), not here: a VACUUM holds up writers and is the
caller's to time.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models, transaction

from explorer.store.ingest import IN_SLICE
from explorer.store.models import (
    Operation,
    OperationSet,
    OperationSetMember,
    StoredTrace,
    storable_cut,
)


def delete_traces(trace_ids: Iterable[str]) -> int:
    """Remove these traces whole (ids not stored are ignored); returns how many were stored.
    One transaction per IN_SLICE traces, so writers wait at most that long."""
    ids = sorted({storable_cut(trace_id) for trace_id in trace_ids})
    removed = 0
    for first in range(0, len(ids), IN_SLICE):
        with transaction.atomic():
            pks = list(
                StoredTrace.objects.filter(trace_id__in=ids[first : first + IN_SLICE]).values_list(
                    "pk", flat=True
                )
            )
            delete_stored(pks)
            removed += len(pks)
    return removed


def delete_stored(pks: list[int]) -> None:
    """DELETE the stored traces with these primary keys and every row that cascades from
    them (chunks, index rows, whatever a later table adds), children first, inside the
    caller's transaction. Plain SQL: Django's delete() would first read every row, chunks
    and layouts included, to collect them."""
    if not pks:
        return
    for related in StoredTrace._meta.related_objects:
        if related.on_delete is models.CASCADE:
            _delete_in(related.related_model, related.field.column, pks)  # type: ignore[arg-type]
    _delete_in(StoredTrace, "id", pks)


def _delete_in(model: type[models.Model], column: str, values: list) -> None:
    quote = connection.ops.quote_name
    marks = ", ".join(["%s"] * len(values))
    sql = f"DELETE FROM {quote(model._meta.db_table)} WHERE {quote(column)} IN ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def forget_operations(mentioning: str) -> int:
    """Drop the catalogue's operations whose service or span name holds `mentioning` and no
    stored trace runs any more (a span name such as `GET /customers/C-00241`); returns how
    many. An operation a stored trace still runs stays: remove the trace first."""
    candidates = Operation.objects.filter(name__contains=mentioning) | Operation.objects.filter(
        service__contains=mentioning
    )
    running = OperationSetMember.objects.filter(operation_set__traces__isnull=False)
    unused = candidates.exclude(pk__in=running.values("operation_id"))
    # The sets that hold them are run by no stored trace: they go first, so that no set
    # loses a member and a later trace of that set finds it whole.
    sets = OperationSetMember.objects.filter(operation__in=unused).values("operation_set_id")
    OperationSet.objects.filter(pk__in=sets).delete()
    return unused.delete()[0]
