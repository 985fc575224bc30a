"""The sets of operations traces ran (OperationSet): the writer's side.

Traces of one kind run the same operations, so a store holds few distinct sets (27 for
146,595 simulated traces): a trace points to its set instead of having a row per operation.
Sets are found by a digest of their members' catalogue keys, created when first met (by any
writer: the digest is unique, and a set's members are the same whoever writes them) and never
changed nor deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from explorer.store.models import OperationSet, OperationSetMember, select_rows

# Rows per `IN (...)` query (as explorer.store.ingest.IN_SLICE).
_SLICE = 500


def digest(operations: Iterable[int]) -> str:
    """The digest naming the set of these catalogue keys."""
    return hashlib.sha256(",".join(map(str, sorted(set(operations)))).encode()).hexdigest()


class OperationSets:
    """Keys of sets and members of sets, kept per writer (a few dozen of each)."""

    def __init__(self) -> None:
        self.keys: dict[frozenset[int], int] = {}
        self.members: dict[int, frozenset[int]] = {}

    def clear(self) -> None:
        """Forget what a rolled-back transaction may have added."""
        self.keys.clear()
        self.members.clear()

    def members_of(self, keys: Iterable[int | None]) -> dict[int, frozenset[int]]:
        """The members of these sets (None: no set), read once per writer."""
        wanted = sorted({key for key in keys if key is not None} - self.members.keys())
        found: dict[int, set[int]] = {key: set() for key in wanted}
        for start in range(0, len(wanted), _SLICE):
            fields = ("operation_set", "operation")
            part = wanted[start : start + _SLICE]
            for key, operation in select_rows(OperationSetMember, fields, operation_set=part):
                found[key].add(operation)
        for key, operations in found.items():
            self.members[key] = frozenset(operations)
            self.keys[frozenset(operations)] = key
        return self.members

    def key_of(self, sets: Iterable[frozenset[int]]) -> dict[frozenset[int], int]:
        """The keys of these sets, creating those the store lacks."""
        missing = {digest(s): s for s in set(sets) if s not in self.keys}
        if missing:
            OperationSet.objects.bulk_create(
                [OperationSet(digest=d) for d in sorted(missing)], ignore_conflicts=True
            )
            digests = sorted(missing)
            created: list[OperationSetMember] = []
            for start in range(0, len(digests), _SLICE):
                part = digests[start : start + _SLICE]
                for key, found in select_rows(OperationSet, ("id", "digest"), digest=part):
                    operations = missing[found]
                    self.keys[operations] = key
                    self.members[key] = operations
                    created.extend(
                        OperationSetMember(operation_set_id=key, operation_id=operation)
                        for operation in sorted(operations)
                    )
            # Members of a set another writer created too are the same: the conflict is moot.
            OperationSetMember.objects.bulk_create(created, ignore_conflicts=True)
        return self.keys
