"""The system map's numbers, summed per hour at ingest (the HourlyTraffic table).

The same quantities as explorer.diagrams.overlay.system_map over traces: per element, the
requests it serves (its SERVER and CONSUMER spans) and the calls made to it; per relationship
(caller, callee) the calls of explorer.c4.mapping.interactions (explorer.store.traffic computes
them). Each counts in the hour its span starts, so summing whole hours gives the figures
computed over the traces of those hours: calls and errors exactly, p95 to within one histogram
bucket (a factor 2^(1/4), 19 %).

Spans merged into a stored trace add what the merged trace has that the stored one had not, so
a trace ingested in pieces ends with the figures of the whole trace: a call whose client and
server spans arrive apart counts once both are there. That needs the stored spans, which
ingest reads anyway while a trace is one chunk (up to CHUNK_SPANS spans); pieces of a bigger
trace add their own spans' figures alone, so there a call split across pieces is missed.
Elements come from the mapping in effect at ingest time (explorer.c4.configured): a changed
mapping applies to spans ingested afterwards.
"""

from __future__ import annotations

from django.db import connection, transaction

from explorer.c4.mapping import Mapping
from explorer.store import codec
from explorer.store.hourly_figures import decode_bins, encode_bins
from explorer.store.models import (
    HourlyTraffic,
    StoredTrace,
    TraceChunk,
    quoted_names,
    select_rows,
)
from explorer.store.traffic import HOUR_NS, Key, Traffic, contributions
from explorer.traces.model import Trace


def record(deltas: dict[Key, Traffic]) -> None:
    """Add to the table, inside the caller's transaction (a concurrent writer inserting the
    same new row raises IntegrityError, which ingest answers by writing its batch again)."""
    if not deltas:
        return
    hours = sorted({key[0] for key in deltas})
    fields = ("hour", "kind", "source", "target", "id", "calls", "errors", "duration_ns", "buckets")
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rows = select_rows(HourlyTraffic, fields, lock, hour=hours)
    stored = {(hour, kind, source, target): rest for hour, kind, source, target, *rest in rows}
    changed, new = [], []
    for key, delta in deltas.items():
        found = stored.get(key)
        if found is None:
            new.append(_row(key, delta))
            continue
        pk, calls, errors, duration_ns, buckets = found
        traffic = Traffic(calls, errors, duration_ns, _buckets(buckets))
        traffic.merge(delta)
        changed.append(
            (
                traffic.calls,
                traffic.errors,
                _stored_ns(traffic.duration_ns),
                encode_bins(traffic.buckets),
                pk,
            )
        )
    if changed:
        # One plain UPDATE per row: bulk_update's CASE expressions cost more to build than the
        # database takes to run them. Names come from the model, values are parameters.
        table, (*figures, pk) = quoted_names(
            HourlyTraffic, ("calls", "errors", "duration_ns", "buckets", "id")
        )
        assignments = ", ".join(f"{column} = %s" for column in figures)
        sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.executemany(sql, changed)
    HourlyTraffic.objects.bulk_create(new)


def _row(key: Key, traffic: Traffic) -> HourlyTraffic:
    hour, kind, source, target = key
    return HourlyTraffic(
        hour=hour,
        kind=kind,
        source=source,
        target=target,
        calls=traffic.calls,
        errors=traffic.errors,
        duration_ns=_stored_ns(traffic.duration_ns),
        buckets=encode_bins(traffic.buckets),
    )


# The column's range: a hostile span lasting 292 years (0 to 2**63 - 1 ns, which intake
# accepts) would otherwise overflow the hour's total on the next call and fail every later
# write of that hour. A total held at the bound is a nonsense mean, but only for that hour.
_MAX_NS = 2**63 - 1


def _stored_ns(total: int) -> int:
    return max(-_MAX_NS, min(_MAX_NS, total))


def _buckets(stored: bytes | memoryview) -> dict[int, int]:
    """A row's histogram: calls by bucket index (explorer.store.traffic.bucket), kept as the
    hourly figures keep a latency sketch's bins (hourly_figures.encode_bins: 13 bytes for an
    hour's usual 4 buckets, where JSON text took 72)."""
    return decode_bins(bytes(stored))


def _traffic(row: HourlyTraffic) -> Traffic:
    return Traffic(row.calls, row.errors, row.duration_ns, _buckets(row.buckets))


def window_traffic(start_ns: int, end_ns: int) -> tuple[int, dict[tuple[str, str, str], Traffic]]:
    """The traffic of the whole hours from the one holding start_ns up to end_ns, summed per
    (kind, source, target); and where those hours begin (what the figures cover)."""
    first = start_ns - start_ns % HOUR_NS
    totals: dict[tuple[str, str, str], Traffic] = {}
    rows = HourlyTraffic.objects.filter(hour__gte=first, hour__lt=end_ns)
    for row in rows.iterator():
        key = (row.kind, row.source, row.target)
        total = totals.get(key)
        if total is None:
            total = totals[key] = Traffic()
        total.merge(_traffic(row))
    return first, totals


def recount(mapping: Mapping) -> int:
    """The table computed anew from every stored trace with this mapping (after the mapping
    changed, or for traces stored before the table existed); returns the traces read."""
    totals: dict[Key, Traffic] = {}
    count = 0
    for pk, trace_id in StoredTrace.objects.order_by("pk").values_list("pk", "trace_id").iterator():
        chunks = TraceChunk.objects.filter(trace_id=pk).values_list("data", flat=True)
        spans = [span for data in chunks for span in codec.decode_spans(bytes(data), trace_id)]
        for key, traffic in contributions([Trace(trace_id, spans)], mapping).items():
            totals.setdefault(key, Traffic()).merge(traffic)
        count += 1
    with transaction.atomic():
        HourlyTraffic.objects.all().delete()
        HourlyTraffic.objects.bulk_create(
            [_row(key, t) for key, t in totals.items()], batch_size=1000
        )
    return count
