"""Removing traces from the receiver's index (its `index` mode, explorer/receiver/index.py):
the summary row and the look-up rows of each trace. The spans themselves stay in the remote
backend, which keeps its own retention (docs/backends.md)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from explorer.receiver.models import IndexedTrace, IndexedValue
from explorer.store.ingest import IN_SLICE
from explorer.store.models import storable_cut


def delete_indexed_traces(trace_ids: Iterable[str]) -> int:
    """Remove these traces from the index (ids not indexed are ignored); returns how many
    were indexed. One transaction per IN_SLICE traces."""
    ids = sorted({storable_cut(trace_id) for trace_id in trace_ids})
    removed = 0
    for first in range(0, len(ids), IN_SLICE):
        part = ids[first : first + IN_SLICE]
        with transaction.atomic():
            IndexedValue.objects.filter(trace_id__in=part).delete()
            removed += IndexedTrace.objects.filter(trace_id__in=part).delete()[0]
    return removed
