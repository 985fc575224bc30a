"""The embedded store as a TraceSource (explorer.sources.base)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError
from django.db.models import QuerySet

from explorer.analysis.layout import LayoutError, TraceLayout, TraceOverview
from explorer.caching import LocalCache
from explorer.sources.base import (
    Arrival,
    DependencyEdge,
    FindsBySearch,
    SourceError,
    TraceNotFound,
    TraceQuery,
    TraceSummary,
)
from explorer.sources.config import EMBEDDED
from explorer.sources.summary import check_searchable
from explorer.store import codec, hourly
from explorer.store.attribute_keys import code_of, rows_of
from explorer.store.ingest import IN_SLICE, LINKED_TRACE_KEY, lay_out_stored
from explorer.store.models import (
    ID_LENGTH,
    INDEXED_VALUE_LENGTH,
    Operation,
    OperationSetMember,
    StoredTrace,
    TraceAttribute,
    TraceChunk,
    code_point_order,
    quoted_names,
    select_rows,
    storable,
)
from explorer.store.traffic import Traffic
from explorer.traces.model import Span, Trace, start_of

_SUMMARY_FIELDS = (
    "trace_id",
    "start_ns",
    "duration_ns",
    "span_count",
    "root__service",
    "root__name",
    "operation_set",
    "error_count",
    "attributes",
)


# The services of each operation set met: a set never changes, and its id is never another
# set's (ids are not reused), so a search asks the database only for sets it has not met.
_set_services: LocalCache[list[str]] = LocalCache("services of operation sets", max_weight=10_000)


def _services_of_sets(set_ids: Iterable[int | None]) -> dict[int | None, list[str]]:
    """The sorted services of each of these operation sets (a trace's services: those of its
    set), those not met before in one query; None, a trace not yet pointed to its set, has
    none. Each caller gets lists of its own."""
    found: dict[int | None, list[str]] = {None: []}
    missing: set[int] = set()
    for set_id in {set_id for set_id in set_ids if set_id is not None}:
        known = _set_services.get(set_id)
        if known is None:
            missing.add(set_id)
        else:
            found[set_id] = list(known)
    if missing:
        read: dict[int, set[str]] = {set_id: set() for set_id in missing}
        members = OperationSetMember.objects.filter(operation_set__in=missing)
        for set_id, service in members.values_list("operation_set", "operation__service"):
            read[set_id].add(service)
        for set_id, services in read.items():
            found[set_id] = list(_set_services.put(set_id, sorted(services)))
    return found


def _chunk_order() -> str:
    """ORDER BY a trace's chunks in order (quoted for the database in use)."""
    _table, (trace, seq) = quoted_names(TraceChunk, ("trace", "seq"))
    return f" ORDER BY {trace}, {seq}"


# From this many traces on, _attributes_of reads every value of the keys at once (0.2-0.5 s at
# 140,000 traces) rather than IN_SLICE traces a query (a few ms each, mostly building it).
_SCAN_FROM = 50 * IN_SLICE


class StoreSource(FindsBySearch):
    """Traces written by `manage.py ingest` (or uploads) into the Django database."""

    def __init__(self, name: str = EMBEDDED) -> None:
        self.name = name

    def get_trace(self, trace_id: str) -> Trace:
        # One query: a look-up reads a handful of traces and each round trip counts.
        chunks = (
            TraceChunk.objects.filter(trace__trace_id=trace_id)
            .order_by("seq")
            .values_list("seq", "data", "trace__warnings")
        )
        with self._answering():
            rows = list(chunks)
        if not rows:
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not in the embedded store")
        spans = [span for seq, data, _ in rows for span in self._decode(seq, data, trace_id)]
        spans.sort(key=start_of)  # stored in tree order; sorted, ties keep that order
        return Trace(trace_id, spans, list(rows[0][2]))

    def iter_spans(self, trace_id: str) -> Iterator[list[Span]]:
        """The spans of a trace a chunk (at most explorer.store.ingest.CHUNK_SPANS) at a time,
        in tree order (explorer.analysis.layout; by start time for traces stored without a
        layout): a huge trace can be shown or analysed without holding all of it."""
        yield from self._chunks(self._row(trace_id)[0], trace_id)

    def trace_overview(self, trace_id: str) -> TraceOverview | None:
        """What the first page of a trace needs besides the spans of its rows (precomputed
        at ingest); None for a trace stored without a layout (read it whole)."""
        fields = (
            "span_count",
            "start_ns",
            "duration_ns",
            "operation_set",
            "error_count",
            "warnings",
            "layout",
            "ordered",
        )
        with self._answering():
            row = StoredTrace.objects.filter(trace_id=trace_id).values_list(*fields).first()
            if row is not None and not row[-1]:  # spans were appended: lay it out first
                lay_out_stored(trace_id)
                row = StoredTrace.objects.filter(trace_id=trace_id).values_list(*fields).first()
        if row is None:
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not in the embedded store")
        span_count, start_ns, duration_ns, set_id, error_count, warnings, data, _ = row
        if data is None:
            return None
        with self._answering():
            services = _services_of_sets([set_id])[set_id]
        try:
            layout = TraceLayout.decode(bytes(data))
        except LayoutError as exc:
            raise SourceError(f"{self.name}: trace {trace_id}: {exc}") from exc
        if len(layout) != span_count:
            raise SourceError(
                f"{self.name}: trace {trace_id}: the layout has {len(layout)} "
                f"rows for {span_count} spans"
            )
        return TraceOverview(
            trace_id,
            span_count,
            start_ns,
            duration_ns,
            services,
            error_count,
            list(warnings),
            layout,
        )

    def trace_rows(
        self, trace_id: str, rows: Iterable[int], span_count: int
    ) -> dict[int, Span] | None:
        """The spans at these rows of the tree order, read from the chunks that hold them
        only; None when the trace no longer has `span_count` spans (spans were merged into
        it since its overview was read)."""
        chunks = TraceChunk.objects.filter(trace__trace_id=trace_id, trace__span_count=span_count)
        with self._answering():
            sizes = list(chunks.order_by("seq").values_list("seq", "span_count"))
        firsts, total = [], 0
        for _, size in sizes:
            firsts.append(total)
            total += size
        if total != span_count:
            return None
        wanted: dict[int, list[int]] = {}
        for row in sorted(set(rows)):
            if 0 <= row < total:
                wanted.setdefault(bisect.bisect_right(firsts, row) - 1, []).append(row)
        seqs = {sizes[at][0]: at for at in wanted}
        with self._answering():
            found = list(chunks.filter(seq__in=list(seqs)).values_list("seq", "data"))
        if len(found) != len(seqs):
            return None
        spans: dict[int, Span] = {}
        for seq, data in found:
            at = seqs[seq]
            first = firsts[at]
            chunk_rows = wanted[at]
            try:
                decoded = codec.decode_spans(bytes(data), trace_id, [r - first for r in chunk_rows])
            except codec.CodecError as exc:
                raise SourceError(f"{self.name}: trace chunk {seq}: {exc}") from exc
            spans.update(zip(chunk_rows, decoded, strict=True))
        return spans

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        traces = StoredTrace.objects.all()
        if query.service is not None or query.operation is not None:
            operations = Operation.objects.all()
            if query.service is not None:
                operations = operations.filter(service=storable(query.service[:ID_LENGTH]))
            if query.operation is not None:
                operations = operations.filter(name=storable(query.operation[:ID_LENGTH]))
            with_operation = OperationSetMember.objects.filter(operation__in=operations)
            traces = traces.filter(operation_set__in=with_operation.values("operation_set_id"))
        check_searchable(query, settings.EXPLORER_BUSINESS_ATTRIBUTES, self.name)
        for key, value in query.attributes.items():
            with_value = self._rows_of(key).filter(
                value=storable(str(value)[:INDEXED_VALUE_LENGTH])
            )
            traces = traces.filter(pk__in=with_value.values("trace_id"))
        if query.min_duration_ns is not None:
            traces = traces.filter(duration_ns__gte=query.min_duration_ns)
        if query.max_duration_ns is not None:
            traces = traces.filter(duration_ns__lte=query.max_duration_ns)
        if query.start_ns is not None:
            traces = traces.filter(start_ns__gte=query.start_ns)
        if query.end_ns is not None:
            traces = traces.filter(start_ns__lt=query.end_ns)
        if query.errors_only:
            traces = traces.filter(error_count__gt=0)
        # Ties by trace id, its bytes (TraceIdField): hex ids in their text's order, alike on
        # SQLite and PostgreSQL.
        rows = traces.order_by("-start_ns", "trace_id").values_list(*_SUMMARY_FIELDS)
        with self._answering():
            found = list(rows[: query.limit])
            services = _services_of_sets(row[6] for row in found)
        return [
            TraceSummary(
                trace_id,
                start,
                duration,
                spans,
                service or "",
                name or "",
                services[s],
                errors,
                kept,
            )  # a root not pointed to yet (never once its writer committed) names nothing
            for trace_id, start, duration, spans, service, name, s, errors, kept in found
        ]

    def newest_end_ns(self, start_ns: int | None = None, end_ns: int | None = None) -> int | None:
        traces = StoredTrace.objects.filter(clock_ahead=False)
        if start_ns is not None:
            traces = traces.filter(start_ns__gte=start_ns)
        if end_ns is not None:
            traces = traces.filter(start_ns__lt=end_ns)
        # The newest start first, then the ties among it: ordered by both at once, SQLite
        # sorted every trace (50-250 ms at 140,000 traces) rather than walk the start index.
        with self._answering():
            start = traces.order_by("-start_ns").values_list("start_ns", flat=True).first()
            if start is None:
                return None
            newest = traces.filter(start_ns=start).order_by("trace_id")
            duration = newest.values_list("duration_ns", flat=True).first()
            return None if duration is None else start + duration

    def hourly_traffic(
        self, start_ns: int, end_ns: int
    ) -> tuple[int, dict[tuple[str, str, str], Traffic]]:
        return hourly.window_traffic(start_ns, end_ns)

    def traffic_counted_from(self) -> int | None:
        return None  # every stored trace (manage.py ingest --recount-hourly: those before)

    def operations_counted_from(self) -> int | None:
        return None  # every stored trace (manage.py ingest --recount-hourly: those before)

    def count_between(self, start_ns: int, end_ns: int) -> int:
        """How many stored traces start in [start_ns, end_ns)."""
        return StoredTrace.objects.filter(start_ns__gte=start_ns, start_ns__lt=end_ns).count()

    def services(self) -> list[str]:
        with self._answering():
            return list(
                Operation.objects.order_by(code_point_order("service"))
                .values_list("service", flat=True)
                .distinct()
            )

    def operations(self, service: str) -> list[str]:
        with self._answering():
            return list(
                Operation.objects.filter(service=storable(service))
                .order_by(code_point_order("name"))
                .values_list("name", flat=True)
            )

    def dependencies(self, start_ns: int, end_ns: int) -> list[DependencyEdge] | None:
        return None  # the service graph comes from explorer.analysis over stored traces

    def attribute_values(
        self,
        key: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 100_000,
    ) -> list[str]:
        rows = self._rows_of(key)
        if start_ns is not None:
            rows = rows.filter(trace__start_ns__gte=start_ns)
        if end_ns is not None:
            rows = rows.filter(trace__start_ns__lt=end_ns)
        values = rows.order_by(code_point_order("value")).values_list("value", flat=True)
        with self._answering():
            return list(values.distinct()[:limit])

    def linking_traces(self, trace_id: str) -> list[str]:
        rows = self._rows_of(LINKED_TRACE_KEY).filter(value=trace_id[:INDEXED_VALUE_LENGTH])
        with self._answering():
            return sorted(rows.values_list("trace__trace_id", flat=True).distinct())

    def traces_with_values(self, key: str, values: list[str]) -> list[str]:
        cut = sorted({storable(str(v)[:INDEXED_VALUE_LENGTH]) for v in values})
        found: set[str] = set()
        of_key = self._rows_of(key)
        for first in range(0, len(cut), IN_SLICE):
            rows = of_key.filter(value__in=cut[first : first + IN_SLICE])
            with self._answering():
                found.update(rows.values_list("trace__trace_id", flat=True))
        return sorted(found)

    def trace_ids(self) -> list[str]:
        rows = StoredTrace.objects.order_by("-start_ns", "trace_id")
        with self._answering():
            return list(rows.values_list("trace_id", flat=True))

    def linking_traces_of(self, trace_ids: list[str]) -> dict[str, list[str]]:
        by_value: dict[str, list[str]] = {}  # as linking_traces() asks: the cut id
        for trace_id in trace_ids:
            by_value.setdefault(trace_id[:INDEXED_VALUE_LENGTH], []).append(trace_id)
        values = sorted(by_value)
        found: dict[str, set[str]] = {}
        links = self._rows_of(LINKED_TRACE_KEY)
        for first in range(0, len(values), IN_SLICE):
            rows = links.filter(value__in=values[first : first + IN_SLICE])
            with self._answering():
                for value, linking in rows.values_list("value", "trace__trace_id"):
                    for trace_id in by_value[value]:
                        found.setdefault(trace_id, set()).add(linking)
        return {trace_id: sorted(linking) for trace_id, linking in found.items()}

    def arrivals_since(self, since_ns: int | None, key: str) -> list[Arrival]:
        """StoredTrace.arrived_ns (set by `ingest`, uploads and the receiver alike), with the
        trace's indexed values of `key` and its link targets: IN_SLICE traces per query, by
        their primary keys."""
        rows = StoredTrace.objects.filter(arrived_ns__isnull=False)
        if since_ns is not None:
            rows = rows.filter(arrived_ns__gte=since_ns)
        with self._answering():
            arrived = {
                pk: (t, ns)
                for pk, t, ns in rows.values_list("pk", "trace_id", "arrived_ns")
                if ns is not None
            }
        values: dict[int, list[str]] = {}
        links: dict[int, list[str]] = {}
        for pk, found_key, value in self._attributes_of(list(arrived), (key, LINKED_TRACE_KEY)):
            (values if found_key == key else links).setdefault(pk, []).append(value)
        return [
            Arrival(trace_id, ns, tuple(values.get(pk, ())), tuple(links.get(pk, ())))
            for pk, (trace_id, ns) in arrived.items()
        ]

    def values_of_traces(self, trace_ids: list[str], key: str) -> list[tuple[str, str]]:
        pks: dict[int, str] = {}
        for first in range(0, len(trace_ids), IN_SLICE):
            rows = StoredTrace.objects.filter(trace_id__in=trace_ids[first : first + IN_SLICE])
            with self._answering():
                pks.update(rows.values_list("pk", "trace_id"))
        return [(pks[pk], value) for pk, _, value in self._attributes_of(list(pks), (key,))]

    def _rows_of(self, key: str) -> QuerySet[TraceAttribute]:
        """The index rows of `key` (its code asked of the catalogue unless known)."""
        with self._answering():
            return rows_of(key)

    def _attributes_of(self, pks: list[int], keys: tuple[str, ...]) -> list[tuple[int, str, str]]:
        """(trace pk, key, value) of the indexed values of these keys of these traces, IN_SLICE
        traces a query, or all at once for most traces (_SCAN_FROM). In slices the keys are
        chosen here, not in SQL: with them in the query SQLite walks the (key, value) index,
        every value of the key for each slice (0.2 s a slice at 140,000 traces), rather than
        the few rows of the slice's traces."""
        with self._answering():
            codes = {code: key for key in keys if (code := code_of(key)) is not None}
        if len(pks) > _SCAN_FROM:  # most traces: every value of the keys, in one query
            wanted = set(pks)
            rows = TraceAttribute.objects.filter(key_code__in=codes)
            with self._answering():
                values = rows.values_list("trace_id", "key_code", "value")
                return [(pk, codes[code], value) for pk, code, value in values if pk in wanted]
        found: list[tuple[int, str, str]] = []
        for first in range(0, len(pks), IN_SLICE):
            rows = TraceAttribute.objects.filter(trace_id__in=pks[first : first + IN_SLICE])
            with self._answering():
                values = rows.values_list("trace_id", "key_code", "value")
                found.extend(
                    (pk, codes[code], value) for pk, code, value in values if code in codes
                )
        return found

    def get_traces(self, trace_ids: list[str]) -> list[Trace]:
        """The traces of these ids that are stored, in two queries per 500 ids (an order's
        journey reads tens of traces: one round trip each would dominate)."""
        found: list[Trace] = []
        for first in range(0, len(trace_ids), 500):
            part = trace_ids[first : first + 500]
            # Plain SQL (select_rows): the ORM took longer to build these IN lists than
            # SQLite to answer them (orders --refresh reads every trace this way).
            with self._answering():
                rows = select_rows(StoredTrace, ("id", "trace_id", "warnings"), trace_id=part)
                chunks = select_rows(
                    TraceChunk,
                    ("trace", "seq", "data"),
                    _chunk_order(),
                    trace=[pk for pk, _, _ in rows],
                )
            spans: dict[int, list[Span]] = {pk: [] for pk, _, _ in rows}
            ids = {pk: tid for pk, tid, _ in rows}
            for pk, seq, data in chunks:
                spans[pk].extend(self._decode(seq, data, ids[pk]))
            for trace_spans in spans.values():
                trace_spans.sort(key=start_of)
            found.extend(Trace(tid, spans[pk], list(warnings)) for pk, tid, warnings in rows)
        return found

    def _row(self, trace_id: str) -> tuple[int, list[str]]:
        """The trace's key and warnings, laid out first if spans were appended to it."""
        rows = StoredTrace.objects.filter(trace_id=trace_id)
        with self._answering():
            row = rows.values_list("pk", "warnings", "ordered").first()
            if row is not None and not row[2]:
                lay_out_stored(trace_id)
                row = rows.values_list("pk", "warnings", "ordered").first()
        if row is None:
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not in the embedded store")
        return row[0], row[1]

    def _chunks(self, pk: int, trace_id: str) -> Iterator[list[Span]]:
        chunks = TraceChunk.objects.filter(trace_id=pk)
        with self._answering():
            seqs = list(chunks.order_by("seq").values_list("seq", flat=True))
        # One chunk fetched at a time: only one is in memory while the caller consumes it.
        for seq in seqs:
            with self._answering():
                data = chunks.filter(seq=seq).values_list("data", flat=True).get()
            yield self._decode(seq, data, trace_id)

    def _decode(self, seq: int, data: bytes | memoryview, trace_id: str) -> list[Span]:
        try:
            return codec.decode_spans(bytes(data), trace_id)
        except codec.CodecError as exc:
            raise SourceError(f"{self.name}: trace chunk {seq}: {exc}") from exc

    @contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except DatabaseError as exc:
            raise SourceError(f"{self.name}: the database did not answer: {exc}") from exc
