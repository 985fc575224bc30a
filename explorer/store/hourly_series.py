"""The hourly figures of explorer.store.hourly_operations per bucket of a window: an hour for
windows up to HOURLY_UP_TO_NS, a UTC day beyond (the charts over time of explorer.web.trends).

A bucket holds what the window's sum (hourly_operations.window) holds for its hours: the same
rows, so the buckets' counts add up to the window's. Day buckets read a whole day's row where
the window covers the day, its hour rows at the window's ends.

Pages that chart every operation (breaches, atypical spans per bucket) read the rows once and
count over a limit in each row's encoded sketch (above()): decoding and merging a sketch per
bucket and operation took longer than the page's own figures (90 days, 1,000 orders: 390 ms
against 160 ms).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from django.db import connection

from explorer.store import hourly_keys, hourly_operations
from explorer.store.hourly_figures import HOUR_NS, bin_of, bin_value_ns, encoded_bins
from explorer.store.hourly_operations import (
    DAY_NS,
    Operation,
    WindowFigures,
    _rows_of,  # the window's rows, exactly as the window's sum reads them
)
from explorer.store.models import (
    HourlyKey,
    HourlyOperation,
    quoted_names,
    storable,
    storable_cut,
)

# A 7-day window ends a moment after its newest span: hours up to 8 days (192 buckets).
HOURLY_UP_TO_NS = 8 * DAY_NS

_COLUMNS = ("hour", "key", "count", "errors", "limit_ms", "over_limit", "sketch")


def bucket_of(length_ns: int) -> int:
    """The bucket for a window this long: an hour, or a UTC day beyond HOURLY_UP_TO_NS."""
    return HOUR_NS if length_ns <= HOURLY_UP_TO_NS else DAY_NS


@dataclass(frozen=True, slots=True)
class Only:
    """Which rows count: of one service (and operation, customer type) or, left empty, all."""

    service: str = ""
    operation: str = ""
    customer_type: str | None = None  # None: every type; "": the spans without one


# One stored row of the window: (hour, operation, count, errors, limit_ms, over_limit, sketch
# as Sketch.encode wrote it, b"" when not read). Plain tuples, as hourly_operations.window
# keeps them: an object per row cost more than counting in it.
Row = tuple[int, Operation, int, int, float | None, int, bytes]


@dataclass(slots=True)
class Bucket:
    """[start_ns, end_ns): a bucket cut to the window's whole hours; its figures per
    operation (empty when no span counted)."""

    start_ns: int
    end_ns: int
    figures: dict[Operation, WindowFigures]

    def total(self, name: str) -> int:
        """The sum of a count ("count", "errors", "over_limit") over the operations."""
        return sum(getattr(f, name) for f in self.figures.values())


def empty_buckets(start_ns: int, end_ns: int) -> dict[int, Bucket]:
    """Every bucket of the whole hours from the one holding start_ns up to end_ns, oldest
    first, by the start of its (uncut) bucket."""
    size = bucket_of(end_ns - start_ns)
    out: dict[int, Bucket] = {}
    at = start_ns - start_ns % HOUR_NS
    while at < end_ns:
        bucket_start = at - at % size
        out[bucket_start] = Bucket(at, min(bucket_start + size, end_ns), {})
        at = bucket_start + size
    return out


def rows(start_ns: int, end_ns: int, only: Only = Only(), sketches: bool = True) -> list[Row]:
    """The rows of the window's buckets (empty_buckets), of `only`; without their sketches
    (b"") unless asked: most of what the database sends."""
    first, where, parameters = _rows_of(start_ns, end_ns)
    if bucket_of(end_ns - start_ns) == HOUR_NS:  # hour rows alone, not a day's 24 buckets
        hour, day = quoted_names(HourlyOperation, ("hour", "day"))[1]
        where = f"({day} = %s AND {hour} >= %s AND {hour} < %s)"
        parameters = [False, first, end_ns]
    found: list[Row] = []
    selected = _select(where, parameters, only, sketches)
    keys = hourly_keys.keys_of({row[1] for row in selected})
    for hour, key_id, count, errors, limit_ms, over, *sketch in selected:
        element, service, operation, kind, _customer_type = keys[key_id]
        operation_key = (element, service, operation, kind)
        found.append((hour, operation_key, count, errors, limit_ms, over, _bytes(sketch)))
    return found


def window_and_rows(
    start_ns: int, end_ns: int, sketches: bool = True
) -> tuple[int, dict[Operation, WindowFigures], list[Row]]:
    """hourly_operations.window() and the rows of the window's buckets: one read where the
    buckets are days (the window's own rows, sketches included), two where they are hours (a
    day's row holds 24 buckets; `sketches` as rows())."""
    if bucket_of(end_ns - start_ns) == HOUR_NS:
        first, totals = hourly_operations.window(start_ns, end_ns)
        return first, totals, rows(start_ns, end_ns, sketches=sketches)
    kept: list[Row] = []
    first, totals = hourly_operations.window(start_ns, end_ns, kept)
    return first, totals, kept


def buckets(start_ns: int, end_ns: int, only: Only = Only()) -> list[Bucket]:
    """Every bucket of the window (empty_buckets) with the figures of its rows of `only`."""
    out = empty_buckets(start_ns, end_ns)
    size = bucket_of(end_ns - start_ns)
    for hour, operation, count, errors, limit_ms, over_limit, sketch in rows(
        start_ns, end_ns, only
    ):
        figures = out[hour - hour % size].figures
        total = figures.get(operation)
        if total is None:
            total = figures[operation] = WindowFigures()
        total.add_counts(count, errors, over_limit, limit_ms)
        total.sketch.add_encoded(sketch)
    return list(out.values())


def first_bin_above(duration_ns: float) -> int:
    """The first bin of the sketch whose value is above this duration: above() of that bin
    counts what Sketch.above(duration_ns) counts."""
    index = bin_of(max(int(duration_ns), 0))
    while bin_value_ns(index) <= duration_ns:
        index += 1
    while index > 0 and bin_value_ns(index - 1) > duration_ns:
        index -= 1
    return index


def above(sketch: bytes, first_bin: int) -> int:
    """Spans of an encoded sketch (bins in order, as Sketch.encode writes them) in bins from
    `first_bin` on."""
    indexes, counts = encoded_bins(sketch)
    return sum(counts[bisect_left(indexes, first_bin) :])


def element_of(service: str) -> str:
    """The element a service's spans were counted under ("" when none or unknown)."""
    found = HourlyKey.objects.filter(service=storable_cut(service)).exclude(element="")
    return found.values_list("element", flat=True).first() or ""


def _bytes(sketch: list) -> bytes:
    return bytes(sketch[0]) if sketch else b""


def _select(where: str, parameters: list, only: Only, sketches: bool) -> list[tuple]:
    table, columns = quoted_names(HourlyOperation, _COLUMNS if sketches else _COLUMNS[:-1])
    conditions, values = [where], list(parameters)
    wanted = {
        name: storable_cut(value)
        for name, value in (("service", only.service), ("operation", only.operation))
        if value
    }
    if only.customer_type is not None:
        wanted["customer_type"] = storable(only.customer_type)
    if wanted:  # the few keys of these texts, by number
        ids = hourly_keys.ids_where(**wanted)
        if not ids:
            return []
        conditions.append(f"{columns[1]} IN ({', '.join(['%s'] * len(ids))})")
        values.extend(ids)
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {' AND '.join(conditions)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall()
