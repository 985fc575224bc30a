"""The receiver's `index` mode: writing the index, and a remote source answering from it.

Tempo and Jaeger keep the spans; what they cannot answer is kept here: which traces carry a
business-attribute value (every order id: `orders`; an order's traces), which traces link to
a trace (consumer traces without order.id), with a summary row per trace. `IndexedSource`
wraps a remote source so that journeys, `orders` and lost messages work as on the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError

from explorer.receiver.models import IndexedTrace, IndexedValue
from explorer.sources.base import SourceError, TraceSource, TraceSummary
from explorer.store.ingest import IN_SLICE, LINKED_TRACE_KEY
from explorer.store.models import code_point_order, storable
from explorer.store.prepare import ID_LENGTH, INDEXED_VALUE_LENGTH
from explorer.store.summary import TraceFacts, start_of, trace_facts
from explorer.traces.model import Trace


def _cut(text: str, length: int = ID_LENGTH) -> str:
    return storable(text[:length])


def _facts(traces: Iterable[Trace], keys: list[str]) -> dict[str, tuple[TraceFacts, bool, set]]:
    """trace id -> (facts, whether the root span is among the spans, linked trace ids)."""
    spans_of: dict[str, list] = {}
    for trace in traces:
        spans_of.setdefault(trace.trace_id, []).extend(trace.spans)
    found = {}
    for trace_id, spans in spans_of.items():
        spans.sort(key=start_of)
        links = {link.trace_id for s in spans for link in s.links} - {trace_id}
        found[trace_id] = (trace_facts(spans, keys), any(s.parent_id is None for s in spans),
                           links)
    return found


def write(traces: list[Trace]) -> None:
    """Index these traces (inside the caller's transaction): merged with what is indexed;
    values and links are idempotent, so a resent batch adds none twice."""
    facts = _facts(traces, list(settings.EXPLORER_BUSINESS_ATTRIBUTES))
    ids = list(facts)
    rows: dict[str, IndexedTrace] = {}
    for first in range(0, len(ids), IN_SLICE):
        for row in IndexedTrace.objects.filter(trace_id__in=ids[first:first + IN_SLICE]):
            rows[row.trace_id] = row
    now = time.time_ns()
    new, changed = [], []
    for trace_id, (f, has_root, _) in facts.items():
        row = rows.get(trace_id)
        if row is None:
            row = rows[trace_id] = IndexedTrace(
                trace_id=trace_id, start_ns=f.start_ns, end_ns=f.end_ns, span_count=0,
                error_count=0, services=[], attributes={})
            new.append(row)
        else:
            changed.append(row)
        row.start_ns = min(row.start_ns, f.start_ns)
        row.end_ns = max(row.end_ns, f.end_ns)
        row.span_count += f.span_count
        row.error_count += f.error_count
        if has_root or not (row.has_root or row.root_service):
            row.root_service, row.root_name = _cut(f.root_service), storable(f.root_name)
            row.has_root = row.has_root or has_root
        row.services = storable(sorted(set(row.services) | set(f.operations)))
        for key, values in f.business.items():
            row.attributes.setdefault(storable(key), storable(values[0]))
        row.arrived_ns = now
    IndexedTrace.objects.bulk_create(new)
    IndexedTrace.objects.bulk_update(
        changed, ["start_ns", "end_ns", "span_count", "error_count", "root_service",
                  "root_name", "has_root", "services", "attributes", "arrived_ns"])
    values = []
    for trace_id, (f, _, links) in facts.items():
        pk = rows[trace_id].pk
        for key, texts in f.business.items():
            for text in dict.fromkeys(_cut(t, INDEXED_VALUE_LENGTH) for t in texts):
                values.append(IndexedValue(trace_id=pk, key=_cut(key), value=text))
        for target in links:
            values.append(IndexedValue(trace_id=pk, key=LINKED_TRACE_KEY,
                                       value=_cut(target, INDEXED_VALUE_LENGTH)))
    IndexedValue.objects.bulk_create(values, ignore_conflicts=True)


class IndexedSource:
    """A remote source that answers business-attribute look-ups, attribute values and
    linking traces from the index; everything else (the spans) from the backend."""

    def __init__(self, source: TraceSource) -> None:
        self.source = source
        self.name = source.name

    def __getattr__(self, name: str):
        return getattr(self.source, name)

    def find_traces(self, attribute: str, value: str, start_ns: int | None = None,
                    end_ns: int | None = None, limit: int = 1000) -> list[TraceSummary]:
        if attribute not in settings.EXPLORER_BUSINESS_ATTRIBUTES:
            return self.source.find_traces(attribute, value, start_ns, end_ns, limit)
        rows = IndexedTrace.objects.filter(
            pk__in=IndexedValue.objects.filter(
                key=attribute, value=value[:INDEXED_VALUE_LENGTH]).values("trace_id"))
        rows = _in_window(rows, start_ns, end_ns, "start_ns")
        rows = rows.order_by("-start_ns", code_point_order("trace_id"))[:limit]
        with self._answering():
            return [_summary(row) for row in rows]

    def attribute_values(self, key: str, start_ns: int | None = None,
                         end_ns: int | None = None, limit: int = 100_000) -> list[str]:
        rows = _in_window(IndexedValue.objects.filter(key=key), start_ns, end_ns,
                          "trace__start_ns")
        values = rows.order_by(code_point_order("value")).values_list("value", flat=True)
        with self._answering():
            return list(values.distinct()[:limit])

    def linking_traces(self, trace_id: str) -> list[str]:
        rows = IndexedValue.objects.filter(key=LINKED_TRACE_KEY,
                                           value=trace_id[:INDEXED_VALUE_LENGTH])
        with self._answering():
            return sorted(rows.values_list("trace__trace_id", flat=True).distinct())

    @contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except DatabaseError as exc:
            raise SourceError(f"{self.name}: the receiver's index did not answer: {exc}") from exc


def _in_window(rows, start_ns: int | None, end_ns: int | None, field: str):
    if start_ns is not None:
        rows = rows.filter(**{f"{field}__gte": start_ns})
    if end_ns is not None:
        rows = rows.filter(**{f"{field}__lt": end_ns})
    return rows


def _summary(row: IndexedTrace) -> TraceSummary:
    return TraceSummary(row.trace_id, row.start_ns, row.end_ns - row.start_ns, row.span_count,
                        row.root_service, row.root_name, list(row.services), row.error_count,
                        dict(row.attributes))


def with_index(name: str, options: dict, source: TraceSource) -> TraceSource:
    """The registry's wrapper in index mode: remote backends answer look-ups from the index."""
    return source if options.get("kind") == "store" else IndexedSource(source)
