"""The keys of the hourly figures (HourlyKey, table `store_hourly_key`): an HourlyOperation row
holds its key's number, the key its texts (element, service, span name, kind, customer type).

Writers ask ids_for_writing, which adds the keys the table lacks; readers ask keys_of for
the keys of the rows they read, and ids_where for the numbers of the keys a page filters on.
Numbers are kept in this process once the transaction that saw them has committed
(explorer.store.catalogue).
"""

from __future__ import annotations

from collections.abc import Iterable

from explorer.store.catalogue import Known
from explorer.store.models import HourlyKey

# element, service, operation (span name), kind, customer type: as stored (storable, cut)
Key = tuple[str, str, str, int, str]

_FIELDS = ("element", "service", "operation", "kind", "customer_type")
# Keys per `IN (...)` query.
_SLICE = 500

_known: Known[Key] = Known()


def ids_for_writing(keys: Iterable[Key]) -> dict[Key, int]:
    """The number of each of these keys, the missing ones added (Known.for_writing)."""
    return _known.for_writing(keys, _stored, _add)


def _add(keys: list[Key]) -> None:
    rows = [HourlyKey(**dict(zip(_FIELDS, key, strict=True))) for key in keys]
    HourlyKey.objects.bulk_create(rows, ignore_conflicts=True)


def keys_of(ids: Iterable[int]) -> dict[int, Key]:
    """The keys of these numbers (those the table has)."""
    wanted = set(ids)
    keys = {number: _known.names[number] for number in wanted if number in _known.names}
    missing = sorted(wanted - keys.keys())
    found: dict[Key, int] = {}
    for start in range(0, len(missing), _SLICE):
        rows = HourlyKey.objects.filter(pk__in=missing[start : start + _SLICE])
        found.update((tuple(row[1:]), row[0]) for row in rows.values_list("pk", *_FIELDS))
    _known.remember(found)
    keys.update((number, key) for key, number in found.items())
    return keys


def ids_where(**conditions: object) -> list[int]:
    """The numbers of the keys that meet these field conditions (ORM look-ups)."""
    return sorted(HourlyKey.objects.filter(**conditions).values_list("pk", flat=True))


def _stored(keys: list[Key]) -> dict[Key, int]:
    """The table's numbers of these keys (those it has), by their services."""
    wanted = set(keys)
    services = sorted({key[1] for key in keys})
    found: dict[Key, int] = {}
    for start in range(0, len(services), _SLICE):
        rows = HourlyKey.objects.filter(service__in=services[start : start + _SLICE])
        for pk, *fields in rows.values_list("pk", *_FIELDS):
            key = tuple(fields)
            if key in wanted:
                found[key] = pk
    return found


def forget_known() -> None:
    """Forget the numbers this process knows: after a write failed on a foreign key, since
    erasure (in another process) may have deleted a key this one still knew."""
    _known.forget()
