"""The hourly figures of explorer.store.hourly_operations per bucket of a window: an hour for
windows up to HOURLY_UP_TO_NS, a UTC day beyond (the charts over time of explorer.web.trends).

A bucket holds what the window's sum (hourly_operations.window) holds for its hours: the same
rows, so the buckets' counts add up to the window's. Day buckets read a whole day's row where
the window covers the day, its hour rows at the window's ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from explorer.store.hourly_figures import HOUR_NS
from explorer.store.hourly_operations import (
    DAY_NS,
    Operation,
    WindowFigures,
    _rows_of,  # the window's rows, exactly as the window's sum reads them
)
from explorer.store.models import HourlyOperation, quoted_names, storable, storable_cut

# A 7-day window ends a moment after its newest span: hours up to 8 days (192 buckets).
HOURLY_UP_TO_NS = 8 * DAY_NS

_COLUMNS = ("hour", "element", "service", "operation", "kind", "count", "errors", "limit_ms")
_FIGURES = ("over_limit", "sketch")


def bucket_of(length_ns: int) -> int:
    """The bucket for a window this long: an hour, or a UTC day beyond HOURLY_UP_TO_NS."""
    return HOUR_NS if length_ns <= HOURLY_UP_TO_NS else DAY_NS


@dataclass(frozen=True, slots=True)
class Only:
    """Which rows count: of one service (and operation, customer type) or, left empty, all."""

    service: str = ""
    operation: str = ""
    customer_type: str | None = None  # None: every type; "": the spans without one


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


def buckets(start_ns: int, end_ns: int, only: Only = Only()) -> list[Bucket]:
    """Every bucket of the whole hours from the one holding start_ns up to end_ns, oldest
    first, empty ones too."""
    size = bucket_of(end_ns - start_ns)
    first, where, parameters = _rows_of(start_ns, end_ns)
    if size == HOUR_NS:  # hour rows alone: a day's row would fill a single bucket
        hour, day = quoted_names(HourlyOperation, ("hour", "day"))[1]
        where = f"({day} = %s AND {hour} >= %s AND {hour} < %s)"
        parameters = [False, first, end_ns]
    out: dict[int, Bucket] = {}
    at = first
    while at < end_ns:
        bucket_start = at - at % size
        out[bucket_start] = Bucket(at, min(bucket_start + size, end_ns), {})
        at = bucket_start + size
    for row in _rows(where, parameters, only):
        hour, element, service, operation, kind, count, errors, limit_ms, over_limit, sketch = row
        bucket = out.get(hour - hour % size)
        if bucket is None:  # an hour row at the window's end, after its last whole hour
            continue
        key = (element, service, operation, kind)
        total = bucket.figures.get(key)
        if total is None:
            total = bucket.figures[key] = WindowFigures()
        total.count += count
        total.errors += errors
        total.over_limit += over_limit
        total.limits.add(limit_ms)
        total.sketch.add_encoded(bytes(sketch))
    return list(out.values())


def _rows(where: str, parameters: list, only: Only) -> list[tuple]:
    table, columns = quoted_names(HourlyOperation, (*_COLUMNS, *_FIGURES))
    service, operation, customer_type = quoted_names(
        HourlyOperation, ("service", "operation", "customer_type")
    )[1]
    conditions, values = [where], list(parameters)
    for column, value in ((service, only.service), (operation, only.operation)):
        if value:
            conditions.append(f"{column} = %s")
            values.append(storable_cut(value))
    if only.customer_type is not None:
        conditions.append(f"{customer_type} = %s")
        values.append(storable(only.customer_type))
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {' AND '.join(conditions)}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall()


def element_of(service: str) -> str:
    """The element a service's spans were counted under ("" when none or unknown)."""
    found = HourlyOperation.objects.filter(service=storable_cut(service)).exclude(element="")
    return found.values_list("element", flat=True).first() or ""
