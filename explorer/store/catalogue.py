"""Catalogue numbers known to this process: for tables that name a few texts by a small number
(the business-attribute keys of explorer.store.attribute_keys, the hourly figures' keys of
explorer.store.hourly_keys). Their rows are added, never changed, so a number once known
stays true; but only once the transaction that saw it has committed (transaction.on_commit):
on SQLite a number handed out by an insert that is rolled back is handed out again, to
whichever text is inserted next, so one remembered from a rolled-back transaction could name
another text than the table's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from django.db import transaction

from explorer.caching import on_reset

Name = TypeVar("Name", bound=str | tuple)  # sortable: writers add names in order


class Known(Generic[Name]):
    """Name -> number and number -> name, committed ones only; emptied by
    explorer.caching.reset_caches (erasure deletes rows, tests roll theirs back)."""

    def __init__(self) -> None:
        self.numbers: dict[Name, int] = {}
        self.names: dict[int, Name] = {}
        on_reset(self.forget)

    def forget(self) -> None:
        self.numbers.clear()
        self.names.clear()

    def remember(self, found: dict[Name, int]) -> None:
        """Keep these once the transaction in progress (if any) commits."""
        if found:
            known = dict(found)
            transaction.on_commit(lambda: self._keep(known))

    def for_writing(
        self,
        names: Iterable[Name],
        stored: Callable[[list[Name]], dict[Name, int]],
        add: Callable[[list[Name]], object],
    ) -> dict[Name, int]:
        """The number of each of these names, the table's missing rows added by `add` (which
        ignores conflicts) in order, so that two writers adding the same names wait for each
        other rather than deadlock, and a name another writer adds at the same time is taken,
        not added twice. `stored`: the table's numbers of those of some names it has."""
        wanted = set(names)
        numbers = {name: self.numbers[name] for name in wanted if name in self.numbers}
        missing = sorted(wanted - numbers.keys())
        if missing:
            found = stored(missing)
            added = [name for name in missing if name not in found]
            if added:
                add(added)
                found.update(stored(added))
            self.remember(found)
            numbers.update(found)
        return numbers

    def _keep(self, found: dict[Name, int]) -> None:
        self.numbers.update(found)
        self.names.update((number, name) for name, number in found.items())
