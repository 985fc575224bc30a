"""The keys of the business-attribute rows as small codes (AttributeKey, table
`store_attribute_key`): a row of TraceAttribute keeps its key's code, 1 byte, instead of its
text (about 12 bytes in the row and again in the (key, value) index).

Writers ask codes_for_writing, which adds the keys the catalogue lacks; readers ask code_of
(or rows_of), which never adds one: a key never written has no code and matches nothing.

Codes are kept in this process once the transaction that saw them has committed
(explorer.store.catalogue).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from explorer.store.catalogue import Known
from explorer.store.models import AttributeKey, TraceAttribute

# The business keys and the link key: a handful (the catalogue never forgets one).
_known: Known[str] = Known()


def _stored(keys: list[str]) -> dict[str, int]:
    """The catalogue's codes of these keys (those it has)."""
    return dict(AttributeKey.objects.filter(key__in=keys).values_list("key", "code"))


def codes_for_writing(keys: Iterable[str]) -> dict[str, int]:
    """The code of each of these keys, the catalogue's missing rows added (Known.for_writing).
    Ask once a batch."""
    return _known.for_writing(keys, _stored, _add)


def _add(keys: list[str]) -> None:
    # Only the keys not found (for_writing): on PostgreSQL a conflicting insert still uses up
    # a number of the sequence, and codes are smallints.
    AttributeKey.objects.bulk_create([AttributeKey(key=key) for key in keys], ignore_conflicts=True)


def code_of(key: str) -> int | None:
    """The code of `key`, None when it was never written (then no row has it)."""
    code = _known.numbers.get(key)
    if code is None:
        found = _stored([key])
        _known.remember(found)
        code = found.get(key)
    return code


def key_of(code: int) -> str:
    """The key of a code that rows hold (AttributeKey.DoesNotExist for any other)."""
    key = _known.names.get(code)
    if key is None:
        key = AttributeKey.objects.get(code=code).key
        _known.remember({key: code})
    return key


def rows_of(key: str) -> QuerySet[TraceAttribute]:
    """The index rows of `key` (none when it was never written)."""
    code = code_of(key)
    if code is None:
        return TraceAttribute.objects.none()
    return TraceAttribute.objects.filter(key_code=code)
