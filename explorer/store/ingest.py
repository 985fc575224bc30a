"""Write trace files into the embedded store: streaming, parallel, idempotent, merging.

Files are read one document (or JSON line) at a time and prepared in batches of about
BATCH_SPANS spans (explorer.store.prepare: parse, merge, summarise, encode); each batch is
written in one transaction, so memory stays bounded however large a file is. When the input
is big enough, worker processes read and prepare (a big JSON-lines file is shared out by
ranges of lines) while this process only writes.

A trace already in the store (or met again in a later batch) is merged with what is stored:
spans are deduplicated by (span id, kind) and the first copy stored wins, so ingesting the
same file twice changes nothing. Problems never stop the run: every rejected file, document or
trace is reported with the file, the position in it and the reason.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import glob
import multiprocessing
import operator
import os
import queue
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from explorer.c4.configured import current_mapping
from explorer.sources.summary import TraceFacts
from explorer.store import codec, dictionary, hourly, hourly_figures, hourly_keys, hourly_operations
from explorer.store.attribute_keys import code_of, codes_for_writing
from explorer.store.clock import (
    INGEST,
    DataClock,
    Lead,
    leads,
    reading,
    record,
    tolerance_ns,
)
from explorer.store.models import (
    INDEXED_VALUE_LENGTH,
    Operation,
    StoredTrace,
    TraceAttribute,
    TraceChunk,
    insert_sql,
    pack_keyed_document,
    quoted_names,
    select_rows,
    storable,
    storable_cut,
)
from explorer.store.operations import OperationSets
from explorer.store.prepare import (
    Batch,
    Batcher,
    EncodedTrace,
    Rejection,
    Settings,
    Task,
    id_present,
    plan,
    prepare_trace,
    read_keys,
    read_task,
    span_key,
    span_keys,
    worker,
)
from explorer.store.trace_ids import pack_trace_id
from explorer.store.traffic import Key, Traffic, contributions, difference
from explorer.traces.decompress import Limits
from explorer.traces.gcpause import gc_paused
from explorer.traces.model import Trace
from explorer.traces.normalise import with_absent_parents

__all__ = [
    "IngestReport",
    "PreparedWriter",
    "Rejection",
    "expand_paths",
    "ingest",
    "lay_out_stored",
    "store_settings",
    "store_traces",
]

CHUNK_SPANS = 10_000
BATCH_SPANS = 50_000
BATCH_TRACES = 2_000
# Rows per `IN (...)` query: under every database's limit on query parameters.
IN_SLICE = 500
# Index key (never a business attribute) of the ids of the traces a trace's spans link to.
LINKED_TRACE_KEY = "link.trace_id"
# Worker processes: EXPLORER_INGEST_WORKERS, default one per CPU; 0 or 1 reads in-process.
# Below PARALLEL_MIN_BYTES of input, starting workers costs more than it saves.
PARALLEL_MIN_BYTES = 32 << 20
# A JSON-lines file is shared out in ranges of at least this many bytes.
MIN_RANGE_BYTES = 16 << 20
# Prepared batches waiting for the writer, per worker: bounds the memory of a fast reader.
QUEUED_BATCHES = 2


@dataclass(slots=True)
class IngestReport:
    files: int = 0
    traces: int = 0  # distinct traces read (stored, merged or already there)
    spans: int = 0  # spans read (duplicates of stored spans included)
    rejected: list[Rejection] = field(default_factory=list)


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path | Rejection]:
    """Files named directly, found under folders (recursively, sorted) or matched by globs."""
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            yield path
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            if not files:
                yield Rejection(str(raw), "", "the folder holds no files")
            yield from files
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True))
            if not matches:
                yield Rejection(str(raw), "", "no file matches this pattern")
            for match in matches:
                yield from expand_paths([match])
        else:
            yield Rejection(str(raw), "", "no such file or folder")


def store_settings(traffic: bool = True) -> Settings:
    """How traces are prepared for the store; with `traffic`, with the mapping to keep hourly
    figures with (the one in effect: explorer.c4.configured)."""
    return Settings(
        business_keys=tuple(settings.EXPLORER_BUSINESS_ATTRIBUTES),
        batch_spans=BATCH_SPANS,
        batch_traces=BATCH_TRACES,
        chunk_spans=CHUNK_SPANS,
        limits=Limits(settings.EXPLORER_INFLATE_MAX_BYTES, settings.EXPLORER_INFLATE_MAX_RATIO),
        mapping=current_mapping() if traffic else None,
        sla=hourly_operations.current_sla() if traffic else None,
        dictionary=dictionary.current(),
    )


def _workers() -> int:
    configured = os.environ.get("EXPLORER_INGEST_WORKERS", "")
    return int(configured) if configured.strip().isdigit() else (os.cpu_count() or 1)


class _BatchWriter:
    """Writes prepared batches, merging traces that are already stored. Traces whose spans end
    ahead of the data clock are flagged and counted for `sender` (explorer.store.clock); `live`:
    the clock is the recent arrivals' (the receiver), else the wall clock's. `arrived_ns`: the
    arrival time of every batch (a replay, a test), else the wall clock at each batch."""

    def __init__(
        self,
        report: IngestReport,
        config: Settings,
        sender: str = INGEST,
        live: bool = False,
        arrived_ns: int | None = None,
    ) -> None:
        self.report = report
        self.config = config
        self.sender = sender
        self.clock = DataClock(live)
        self.arrived_ns = arrived_ns
        # Keys of the traces seen, to count each once: the only memory that grows with the
        # input, a few dozen bytes a trace.
        self.seen: set[int] = set()
        # (service, span name) -> key in the operation catalogue (small: kept whole).
        self.operation_ids: dict[tuple[str, str], int] = {}
        # The batch's figures per hour and operation (explorer.store.hourly_operations).
        self.operations = hourly_figures.Tally()
        self.operation_sets = OperationSets()  # the few distinct sets (small: kept whole)
        # Told the dictionary this writer compresses with from now on (ingest's workers).
        self.announce: Callable[[codec.Dictionary], object] | None = None
        self.batch = Batch()  # the one being written

    def write(self, batch: Batch) -> None:
        self.report.spans += batch.spans
        self.report.rejected.extend(batch.rejected)
        if batch.traces:
            self.batch = batch
            try:
                with transaction.atomic():
                    self._compress(batch.traces)
                    stored = self._write(batch.traces)
            except IntegrityError:
                # Another writer (an upload, a second ingest) stored one of these traces or
                # operations first (PostgreSQL; SQLite's IMMEDIATE transactions take turns).
                # Once more: they are now found and merged with.
                self.operation_ids.clear()  # keys added by the rolled-back transaction
                self.operation_sets.clear()
                hourly_keys.forget_known()  # or one an erasure deleted
                with transaction.atomic():
                    self._compress(batch.traces)
                    stored = self._write(batch.traces)
            self.seen.update(stored)
            self.report.traces = len(self.seen)
        # The cyclic collector is off while ingesting (gc_paused): the young objects
        # of this batch are checked once here, not over and over while it was built.
        gc.collect(1)

    def _compress(self, traces: list[EncodedTrace]) -> None:
        """Inside the batch's transaction: chunks prepared without a dictionary, or with one
        the store no longer has (retired while they were prepared: a customer forgotten),
        compressed again with the store's (trained now on them if the store has none yet and
        there are enough); the writer's settings take it, for the spans it encodes itself
        (merges). The dictionaries the chunks keep are held (dictionary.held) until the
        transaction ends. Asked of the store at each batch that needs one (another writer
        may have trained one, and a dictionary trained in a transaction that was rolled back
        is gone)."""
        ours = self.config.dictionary
        used = {codec.dictionary_key(data) for trace in traces for data in trace.chunks}
        held = dictionary.held({key for key in used if key} | ({ours.key} if ours else set()))
        stale = [
            (trace, i)
            for trace in traces
            for i, data in enumerate(trace.chunks)
            if codec.dictionary_key(data) not in held
        ]
        if not stale and ours is not None and ours.key in held:
            return
        found = (
            dictionary.ensure([trace.chunks[i] for trace, i in stale])
            if stale
            else dictionary.current()
        )
        if found != ours:
            self.config = dataclasses.replace(self.config, dictionary=found)
            if found is not None and self.announce is not None:
                self.announce(found)
        for trace, i in stale:
            if found is not None or codec.dictionary_key(trace.chunks[i]) != 0:
                trace.chunks[i] = codec.compress(codec.document(trace.chunks[i]), found)

    def _write(self, traces: list[EncodedTrace]) -> list[int]:
        """Store a batch; returns the keys of its traces (new, merged or already there)."""
        ids = [t.trace_id for t in traces]
        arrived_ns = time.time_ns() if self.arrived_ns is None else self.arrived_ns
        clock_ns = self.clock.at(arrived_ns)
        ahead = _Ahead(clock_ns, clock_ns + tolerance_ns())
        pks = _trace_pks(ids)  # most are new: whole rows are read only for those that are not
        existing = {row.trace_id: row for row in _stored_rows(list(pks.values()))}
        stored = _stored_state(list(pks.values()), [t for t in traces if t.trace_id in existing])
        members = self.operation_sets.members_of(r.operation_set for r in existing.values())
        for found_row in existing.values():
            if found_row.operation_set is not None:
                stored[pks[found_row.trace_id]].operations = members[found_row.operation_set]
        traffic: dict[Key, Traffic] = {}
        self.operations = hourly_figures.Tally()
        summed = self._summed(traces, existing)
        pending = _Pending()
        for prepared in traces:
            row: _TraceRow
            found = existing.get(prepared.trace_id)
            if found is None:
                row = _TraceRow(prepared.trace_id)
                pending.new_rows.append(row)
                _describe(row, prepared)
                row.root_pair = _root_operation(prepared.facts)
                state = _Stored()
                _add(traffic, prepared.traffic)
                if prepared.trace_id not in summed:
                    self.operations.add_packed(prepared.operations)
            else:
                row = found
                state = stored[pks[found.trace_id]]
                piece = self._new_part(found, state, prepared, traffic)
                if piece is None:
                    continue  # nothing new: ingesting the same spans again changes nothing
                prepared = piece
                (pending.grown if piece.chunks else pending.kept_layout).append(found)
            row.arrived_ns = arrived_ns
            ahead.note(row, prepared)
            pending.index(row, prepared, state)
        replaced = [pks[r.trace_id] for r in pending.grown if stored[pks[r.trace_id]].replaced]
        self._store(pending, replaced)
        hourly.record(traffic)
        hourly_operations.record(self.operations.figures())
        self.clock.note(arrived_ns, reading([t.facts.end_ns for t in traces], ahead.after_ns))
        if ahead.traces:
            record(
                self.sender, ahead.by_service, f"{len(ahead.traces)} traces, e.g. {ahead.traces[0]}"
            )
        return [*pks.values(), *(pk for row in pending.new_rows if (pk := row.pk) is not None)]

    def _summed(self, traces: list[EncodedTrace], existing: Collection[str]) -> frozenset[str]:
        """The traces whose hourly figures the batch being written brings summed
        (Batch.summed), added to the batch's figures. When one of them is stored already
        (another file, an earlier run) its figures must merge with the stored trace's: all
        are then counted again from their chunks, each alone (rare: the worker sums only
        traces it met in one batch)."""
        batch = self.batch
        if batch.summed is None or self.config.mapping is None:
            return frozenset()
        if batch.summed_ids.isdisjoint(existing):
            self.operations.add_packed(batch.summed)
            return batch.summed_ids
        for prepared in traces:
            if prepared.trace_id in batch.summed_ids:
                spans = prepared.spans()
                prepared.operations = hourly_figures.packed_contributions(
                    prepared.trace_id,
                    spans,
                    prepared.facts.business,
                    self.config.mapping,
                    self.config.sla,
                )
        batch.summed, batch.summed_ids = None, frozenset()
        return frozenset()

    def _store(self, pending: _Pending, replaced: list[int]) -> None:
        """Write a batch's rows: chunks of traces written anew deleted first (`replaced`)."""
        if replaced:
            table, (trace,) = quoted_names(TraceChunk, ("trace",))
            with connection.cursor() as cursor:
                for part in _slices(replaced):
                    marks = ", ".join(["%s"] * len(part))
                    cursor.execute(f"DELETE FROM {table} WHERE {trace} IN ({marks})", part)  # noqa: S608
        unknown = self._point_to_known_operation_sets(pending.operations)
        _update_traces(pending.kept_layout, layout=False)
        _update_traces(pending.grown, layout=True)
        _insert_traces(pending.new_rows)
        _insert(TraceChunk, ("trace", "seq", "span_count", "data", "keys"), pending.chunks)
        codes = codes_for_writing({key for _, key, _ in pending.attributes})
        # A row the trace has is skipped (its primary key, migration 0014): a small trace
        # written again whole brings every value it had, and a concurrent writer may add one.
        _insert(
            TraceAttribute,
            ("trace", "key_code", "value"),
            [(row, codes[key], value) for row, key, value in pending.attributes],
            " ON CONFLICT DO NOTHING",
        )
        if unknown:
            # Catalogue rows are created after the trace rows, as they always were: writers
            # that meet the same traces and operations then wait for each other in one order.
            self._point_to_operation_sets(unknown)
            _set_operation_sets([row for row, _, _ in unknown])

    def _point_to_known_operation_sets(self, operations: list[tuple]) -> list[tuple]:
        """Each row (_TraceRow, its new operations, its stored ones) whose set of operations
        this writer knows pointed to it; returns the others."""
        unknown = []
        for row, pairs, known in operations:
            ids = [self.operation_ids.get(pair) for pair in pairs]
            key = None
            if None not in ids:
                key = self.operation_sets.keys.get(known.union(ids))
            if key is None:
                unknown.append((row, pairs, known))
            else:
                row.operation_set = key
                _point_to_root(row, self.operation_ids)
        return unknown

    def _point_to_operation_sets(self, operations: list[tuple]) -> None:
        """Each row (_TraceRow, its new operations, its stored ones) pointed to the set of all
        its operations, the catalogue's and the sets' missing rows created."""
        operation_ids = self._operation_ids({pair for _, pairs, _ in operations for pair in pairs})
        wanted = [
            (row, frozenset(known.union(operation_ids[pair] for pair in pairs)))
            for row, pairs, known in operations
        ]
        keys = self.operation_sets.key_of(members for _, members in wanted)
        for row, members in wanted:
            row.operation_set = keys[members]
            _point_to_root(row, operation_ids)

    def _new_part(
        self,
        row: _TraceRow,
        state: _Stored,
        prepared: EncodedTrace,
        traffic: dict[Key, Traffic],
    ) -> EncodedTrace | None:
        """What the prepared trace adds to the stored one (its new spans, to append as chunks,
        with their facts), the row updated for it, its hourly figures added to `traffic`; None
        when it adds nothing. Costs in proportion to the new part: the stored spans are known
        by their keys alone."""
        known = state.keys
        piece_keys = [read_keys(keys) for keys in prepared.chunk_keys]
        if not all(known.isdisjoint(keys) for keys in piece_keys):
            spans = [
                span for span in prepared.spans() if span_key(span.span_id, span.kind) not in known
            ]
            if spans:
                prepared = prepare_trace(
                    row.trace_id, spans, prepared.warnings, self.config, lay_out_chunks=False
                )
            else:
                prepared = EncodedTrace(
                    row.trace_id, prepared.facts, [], [], [], None, [], prepared.warnings
                )
            piece_keys = [read_keys(keys) for keys in prepared.chunk_keys]
        added = set().union(*piece_keys)

        def present(span_id: str) -> bool:
            return id_present(span_id, known) or id_present(span_id, added)

        warnings = with_absent_parents(row.warnings, present, storable(prepared.warnings))
        if not prepared.chunks and warnings == row.warnings:
            return None
        added_spans = sum(prepared.chunk_sizes)
        # The new spans' figures alone (stored ones were dropped above): each span counts once.
        assert row.pk is not None
        more = hourly_operations.piece_figures(row.pk, row.attributes, prepared, self.config)
        self.operations.add(more)
        if row.ordered and row.span_count + added_spans <= self.config.chunk_spans:
            # Still one chunk: written again whole, in start order, as if stored at once
            # (reading at most one chunk).
            stored = select_rows(TraceChunk, ("data",), trace=[row.pk])
            old = [s for (data,) in stored for s in codec.decode_spans(bytes(data), row.trace_id)]
            spans = old + prepared.spans()
            prepared = prepare_trace(row.trace_id, spans, warnings, self.config)
            if self.config.mapping is not None:
                before = contributions([Trace(row.trace_id, old)], self.config.mapping)
                _add(traffic, difference(prepared.traffic, before))
            _describe(row, prepared)
            row.root_pair = _root_operation(prepared.facts)
            state.next_seq = 0
            state.replaced = True
            return prepared
        row.warnings = warnings
        if prepared.chunks:
            _grow(row, prepared.facts)
            _add(traffic, prepared.traffic)  # the new spans' alone: see explorer.store.hourly
            # Appended in arrival order: laid out again when a page reads it.
            row.ordered, row.layout = False, None
        return prepared

    def _operation_ids(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Catalogue keys of these operations, adding those the catalogue lacks."""
        missing = sorted(pairs - self.operation_ids.keys())
        if missing:
            Operation.objects.bulk_create(
                [Operation(service=s, name=n) for s, n in missing], ignore_conflicts=True
            )
            services = sorted({s for s, _ in missing})
            for start in range(0, len(services), IN_SLICE):
                rows = Operation.objects.filter(service__in=services[start : start + IN_SLICE])
                for pk, service, name in rows.values_list("pk", "service", "name"):
                    self.operation_ids[(service, name)] = pk
        return self.operation_ids


@dataclass(slots=True)
class _Stored:
    """What merging needs to know of a stored trace, without reading its spans."""

    keys: set[int] = field(default_factory=set)  # span_key() of every stored span
    next_seq: int = 0
    attributes: set[tuple[str, str]] = field(default_factory=set)  # index rows (key, value)
    operations: frozenset[int] = frozenset()  # catalogue keys of its operations
    replaced: bool = False  # its chunks are written again from seq 0


@dataclass(slots=True)
class _Pending:
    """The rows a batch writes. Index rows are (_TraceRow, values...): new rows get their
    primary key only when inserted."""

    grown: list[_TraceRow] = field(default_factory=list)  # stored, with new chunks (and layout)
    kept_layout: list[_TraceRow] = field(default_factory=list)  # stored, summary changed only
    new_rows: list[_TraceRow] = field(default_factory=list)
    chunks: list[tuple] = field(default_factory=list)
    attributes: list[tuple] = field(default_factory=list)  # (row, key, value): coded when written
    operations: list[tuple] = field(default_factory=list)  # (row, (service, name)s, stored)

    def index(self, row: _TraceRow, prepared: EncodedTrace, state: _Stored) -> None:
        """The chunks, index attributes and operations of `prepared` that are not stored yet."""
        facts = prepared.facts
        parts = zip(prepared.chunks, prepared.chunk_sizes, prepared.chunk_keys, strict=True)
        several = state.next_seq > 0 or len(prepared.chunks) > 1  # else no keys: see TraceChunk
        for seq, (data, size, keys) in enumerate(parts, start=state.next_seq):
            self.chunks.append((row, seq, size, data, keys if several else None))
        for key, values in facts.business.items():
            indexed_key = storable_cut(key)
            for value in dict.fromkeys(storable_cut(v, INDEXED_VALUE_LENGTH) for v in values):
                if (indexed_key, value) not in state.attributes:
                    self.attributes.append((row, indexed_key, value))
        # The traces this one links to, so that StoreSource.linking_traces can answer.
        for target in prepared.links:
            value = storable_cut(target, INDEXED_VALUE_LENGTH)
            if (LINKED_TRACE_KEY, value) not in state.attributes:
                self.attributes.append((row, LINKED_TRACE_KEY, value))
        pairs = {
            (storable_cut(service), storable_cut(name))
            for service, names in facts.operations.items()
            for name in names
        }
        self.operations.append((row, pairs, state.operations))


@dataclass(slots=True)
class _Ahead:
    """The traces of a batch whose spans end ahead of the data clock (explorer.store.clock),
    and by how much per service."""

    clock_ns: int
    after_ns: int  # the clock and its tolerance
    by_service: dict[str, Lead] = field(default_factory=dict)
    traces: list[str] = field(default_factory=list)

    def note(self, row: _TraceRow, prepared: EncodedTrace) -> None:
        if prepared.facts.end_ns <= self.after_ns:
            return
        row.clock_ahead = True
        self.traces.append(prepared.trace_id)
        spans = prepared.spans()
        for service, lead in leads(spans, self.clock_ns).items():
            total = self.by_service.setdefault(service, Lead())
            total.spans += lead.spans
            total.largest_ns = max(total.largest_ns, lead.largest_ns)


def _add(traffic: dict[Key, Traffic], more: dict[Key, Traffic]) -> None:
    for key, value in more.items():
        found = traffic.get(key)
        if found is None:  # not setdefault: that would make a Traffic for every key
            found = traffic[key] = Traffic()
        found.merge(value)


def _stored_state(pks: list[int], traces: list[EncodedTrace]) -> dict[int, _Stored]:
    """What the stored traces (by key) already hold of what `traces` bring: their span keys and
    their index rows among those the new spans would add."""
    state = {pk: _Stored() for pk in pks}
    if not pks:
        return state
    _known_attributes(state, traces)
    for part in _slices(pks):
        unkeyed: set[tuple[int, int]] = set()
        for pk, seq, keys in select_rows(TraceChunk, ("trace", "seq", "keys"), trace=part):
            found = state[pk]
            found.next_seq = max(found.next_seq, seq + 1)
            if keys is None:  # a trace's only chunk, or stored before keys were kept
                unkeyed.add((pk, seq))
            else:
                found.keys.update(read_keys(bytes(keys)))
        if unkeyed:  # read once, in one query
            fields = ("trace", "seq", "data")
            for pk, seq, data in select_rows(TraceChunk, fields, trace=[pk for pk, _ in unkeyed]):
                if (pk, seq) in unkeyed:
                    # Span keys hash ids and kinds alone: no trace id is needed.
                    spans = codec.decode_spans(bytes(data), "")
                    state[pk].keys.update(read_keys(span_keys(spans)))
    return state


def _known_attributes(state: dict[int, _Stored], traces: list[EncodedTrace]) -> None:
    """The index rows (key, value) of the stored traces among those the batch would add: only
    those are read (through the key-value index), not every value a long trace collected."""
    wanted: dict[str, set[str]] = {}
    for prepared in traces:
        for key, values in prepared.facts.business.items():
            wanted.setdefault(storable_cut(key), set()).update(
                storable_cut(v, INDEXED_VALUE_LENGTH) for v in values
            )
        wanted.setdefault(LINKED_TRACE_KEY, set()).update(
            storable_cut(target, INDEXED_VALUE_LENGTH) for target in prepared.links
        )
    pks = list(state)
    values = sorted({value for found in wanted.values() for value in found})
    # Keys never written (no code) are in no row.
    keys = {code: key for key in sorted(wanted) if (code := code_of(key)) is not None}
    # One query for every key: rows of another key with a wanted value are left out below.
    for part in _slices(pks):
        for some in _slices(values):
            fields = ("trace", "key_code", "value")
            found = select_rows(TraceAttribute, fields, key_code=list(keys), value=some, trace=part)
            for pk, code, value in found:
                key = keys[code]
                if value in wanted[key]:
                    state[pk].attributes.add((key, value))


def _describe(row: StoredTrace | _TraceRow, prepared: EncodedTrace) -> None:
    """The summary of a trace stored whole."""
    facts = prepared.facts
    row.start_ns = facts.start_ns
    row.duration_ns = facts.end_ns - facts.start_ns
    row.span_count = facts.span_count
    row.error_count = facts.error_count
    row.attributes = storable({key: values[0] for key, values in facts.business.items()})
    row.warnings = storable(prepared.warnings)
    row.layout = prepared.layout
    # A trace of several chunks without a layout (a piece of a trace arriving in pieces) is
    # laid out when first read.
    row.ordered = prepared.layout is not None or len(prepared.chunks) < 2


def _root_operation(facts: TraceFacts) -> tuple[str, str]:
    """The trace's root operation as the catalogue keys operations (Pending.index)."""
    return storable_cut(facts.root_service), storable_cut(facts.root_name)


def _grow(row: _TraceRow, facts: TraceFacts) -> None:
    """The summary of a stored trace grown by spans with these facts. The root stays until
    the trace is laid out again (lay_out_stored), unless the new part starts earlier. Its
    services grow with its operation set."""
    end_ns = max(row.start_ns + row.duration_ns, facts.end_ns)
    if facts.start_ns < row.start_ns:
        row.start_ns = facts.start_ns
        row.root_pair = _root_operation(facts)
    row.duration_ns = end_ns - row.start_ns
    row.span_count += facts.span_count
    row.error_count += facts.error_count
    first = {key: values[0] for key, values in facts.business.items()}
    row.attributes = {**storable(first), **row.attributes}


def lay_out_stored(trace_id: str) -> bool:
    """Lay out again a trace whose spans were appended in pieces (StoredTrace.ordered false):
    its chunks rewritten in tree order with its layout, as if it had been stored whole.
    Returns whether it was done (False: already in order, or gone). Reads the whole trace,
    once, when a page first needs it."""
    with transaction.atomic():
        row = (
            StoredTrace.objects.select_for_update().filter(trace_id=trace_id, ordered=False).first()
        )
        if row is None:
            return False
        stored = TraceChunk.objects.filter(trace=row).order_by("seq").values_list("data", flat=True)
        spans = [span for data in stored for span in codec.decode_spans(bytes(data), trace_id)]
        prepared = prepare_trace(trace_id, spans, row.warnings, store_settings(traffic=False))
        del spans
        # Before any chunk row is locked: a retirement locks its dictionary, then chunks.
        chunks = dictionary.readable(prepared.chunks)
        _describe(row, prepared)
        service, name = _root_operation(prepared.facts)  # catalogued when its spans were stored
        row.root, _ = Operation.objects.get_or_create(service=service, name=name)
        row.save()
        TraceChunk.objects.filter(trace=row).delete()
        parts = zip(chunks, prepared.chunk_sizes, prepared.chunk_keys, strict=True)
        _insert(
            TraceChunk,
            ("trace", "seq", "span_count", "data", "keys"),
            [(row, seq, size, data, keys) for seq, (data, size, keys) in enumerate(parts)],
        )
    return True


def _insert(
    model: type[Model], fields: tuple[str, ...], rows: list[tuple], suffix: str = ""
) -> None:
    """Insert rows whose first value is their StoredTrace, with one executemany: several
    times faster than building a model instance per row for bulk_create. Plain INSERT with
    the model's own table and column names (and `suffix`), as SQLite and PostgreSQL take it."""
    if not rows:
        return
    sql = insert_sql(model, fields, suffix)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(row.pk, *values) for row, *values in rows])


def _slices(values: list) -> Iterator[list]:
    """`values` in parts of at most IN_SLICE, for `IN (...)` queries."""
    for start in range(0, len(values), IN_SLICE):
        yield values[start : start + IN_SLICE]


def _trace_pks(trace_ids: list[str]) -> dict[str, int]:
    """Primary keys of the stored traces among these ids."""
    found: dict[str, int] = {}
    for part in _slices(trace_ids):
        found.update(select_rows(StoredTrace, ("trace_id", "id"), trace_id=part))
    return found


@dataclass(slots=True)
class _TraceRow:
    """A StoredTrace row to insert or update: the model's fields as plain attributes (a model
    instance costs more to make and save than the database takes to write its row)."""

    trace_id: str
    pk: int | None = None
    start_ns: int = 0
    duration_ns: int = 0
    span_count: int = 0
    error_count: int = 0
    root: int | None = None  # its root operation's catalogue key
    attributes: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    layout: bytes | None = None
    arrived_ns: int | None = None
    ordered: bool = True
    clock_ahead: bool = False
    operation_set: int | None = None
    # Not a column: the root operation (service, name) to point `root` to, when it is new.
    root_pair: tuple[str, str] | None = None


@functools.cache
def _trace_fields() -> tuple[str, ...]:
    """StoredTrace's fields but its key, as _TraceRow names them."""
    return tuple(f.name for f in StoredTrace._meta.concrete_fields if not f.primary_key)


def _trace_values(rows: list[_TraceRow], names: tuple[str, ...]) -> list[list]:
    """The rows' values of these fields as the database takes them: JSON adapted to it, the
    business attributes and the trace id packed, the others (numbers, text, booleans, bytes)
    as they are, which every driver takes."""
    get = operator.attrgetter(*names)
    adapt_json = connection.ops.adapt_json_value
    json_at = [
        i
        for i, name in enumerate(names)
        if StoredTrace._meta.get_field(name).get_internal_type() == "JSONField"
    ]
    packed_at = names.index("attributes") if "attributes" in names else None
    id_at = names.index("trace_id") if "trace_id" in names else None
    # Equal lists (no warnings, mostly) and equal attributes (the traces of one order) come
    # again and again: each is adapted once.
    adapted: dict[tuple, object] = {}
    packed: dict[bytes, bytes] = {}
    values = []
    for row in rows:
        value = list(get(row))
        for i in json_at:
            item = value[i]
            if type(item) is list:
                key = tuple(item)  # of text: warnings
                found = adapted.get(key)
                if found is None:
                    found = adapted[key] = adapt_json(item, None)
                value[i] = found
            else:
                value[i] = adapt_json(item, None)
        if id_at is not None:
            value[id_at] = pack_trace_id(value[id_at])
        if packed_at is not None:
            document = orjson.dumps(value[packed_at])
            found = packed.get(document)
            if found is None:
                found = packed[document] = pack_keyed_document(document)
            value[packed_at] = found
        values.append(value)
    return values


def _stored_rows(pks: list[int]) -> list[_TraceRow]:
    """The stored rows of these keys but their layout (replaced, never read, when spans are
    added)."""
    names = tuple(name for name in _trace_fields() if name != "layout")
    rows = []
    for part in _slices(pks):
        for pk, *values in select_rows(StoredTrace, ("id", *names), id=part):
            rows.append(_TraceRow(pk=pk, **dict(zip(names, values, strict=True))))
    return rows


def _insert_traces(rows: list[_TraceRow]) -> None:
    """Insert new StoredTrace rows with one executemany and give them their primary keys
    (read back by trace id): bulk_create compiles every value of every row through the ORM,
    which costs more than the database's work here."""
    if not rows:
        return
    names = _trace_fields()
    with connection.cursor() as cursor:
        cursor.executemany(insert_sql(StoredTrace, names), _trace_values(rows, names))
    by_id = {row.trace_id: row for row in rows}
    for trace_id, pk in _trace_pks(list(by_id)).items():
        by_id[trace_id].pk = pk


def _point_to_root(row: _TraceRow, operation_ids: dict[tuple[str, str], int]) -> None:
    """Point the row to its new root operation, if it has one (one of the operations its
    spans brought: their keys are known)."""
    if row.root_pair is not None:
        row.root = operation_ids[row.root_pair]
        row.root_pair = None


def _set_operation_sets(rows: list[_TraceRow]) -> None:
    """Write the rows' operation sets and roots (found after the rows were written)."""
    table, (column, root, key) = quoted_names(StoredTrace, ("operation_set", "root", "id"))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {column} = %s, {root} = %s WHERE {key} = %s",  # noqa: S608
            [(row.operation_set, row.root, row.pk) for row in rows],
        )


def _update_traces(rows: list[_TraceRow], layout: bool) -> None:
    """Write stored rows back with one executemany; with their layout or without (the stored
    one stays)."""
    if not rows:
        return
    names = tuple(name for name in _trace_fields() if layout or name != "layout")
    table, columns = quoted_names(StoredTrace, (*names, "id"))
    assignments = ", ".join(f"{column} = %s" for column in columns[:-1])
    sql = f"UPDATE {table} SET {assignments} WHERE {columns[-1]} = %s"  # noqa: S608
    values = _trace_values(rows, names)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*value, row.pk] for value, row in zip(values, rows, strict=True)])


class PreparedWriter:
    """Writes traces prepared elsewhere (the receiver's writer processes) exactly as `ingest`
    writes its batches, inside the caller's transaction. Long-lived: it keeps the operation
    catalogue's keys, nothing that grows with what it writes."""

    def __init__(self) -> None:
        self._writer: _BatchWriter | None = None

    def write(self, traces: list[EncodedTrace], config: Settings, sender: str = INGEST) -> None:
        """Traces of several requests: one trace id may come more than once (a trace whose
        spans two requests carry), so each trace's n-th piece is written in the n-th group,
        merging with what the groups before stored. `config`: the settings they were prepared
        with (store_settings()); `sender`: who sent them, judged live by the data clock
        (explorer.store.clock)."""
        groups: list[list[EncodedTrace]] = []
        pieces: dict[str, int] = {}
        for trace in traces:
            seen = pieces.get(trace.trace_id, 0)
            pieces[trace.trace_id] = seen + 1
            if seen == len(groups):
                groups.append([])
            groups[seen].append(trace)
        if self._writer is None:
            self._writer = _BatchWriter(IngestReport(), config, live=True)
        self._writer.config = config  # what they were prepared with, for merged traces
        self._writer.sender = sender
        for group in groups:
            self._writer.write(Batch(traces=group))
        self._writer.report = IngestReport()
        self._writer.seen.clear()


def store_traces(
    traces: Iterable[Trace],
    *,
    source: str = "<input>",
    sender: str = INGEST,
    live: bool = False,
    arrived_ns: int | None = None,
) -> IngestReport:
    """Write traces already in memory (a test, a replay) exactly as `ingest` would; with
    `live`, judged by the data clock as the receiver's arrivals from `sender` are, arriving at
    `arrived_ns` (default: the wall clock)."""
    report = IngestReport()
    config = store_settings()
    writer = _BatchWriter(report, config, sender, live, arrived_ns)
    batcher = Batcher(config)
    with gc_paused():
        for trace in traces:
            ready = batcher.add(trace, source)
            if ready is not None:
                writer.write(ready)
        writer.write(batcher.take())
    return report


def ingest(
    paths: Iterable[str | Path],
    *,
    fmt: str | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Read every file under `paths` into the store. `progress` is called with the number of
    spans of each batch read; `workers` overrides EXPLORER_INGEST_WORKERS."""
    report = IngestReport()
    files: list[str] = []
    for item in expand_paths(paths):
        if isinstance(item, Rejection):
            report.rejected.append(item)
        else:
            files.append(str(item))
    report.files = len(files)
    if not files:
        return report
    config = store_settings()
    writer = _BatchWriter(report, config)
    workers = _workers() if workers is None else workers
    total = sum(os.path.getsize(f) for f in files)
    if workers < 2 or total < PARALLEL_MIN_BYTES:
        batches: Iterator[Batch] = (
            batch for f in files for batch in read_task(Task(f, fmt), config)
        )
    else:
        tasks = [task for f in files for task in plan(f, fmt, workers, MIN_RANGE_BYTES)]
        batches = _parallel(tasks, min(workers, len(tasks)), config, writer)
    with gc_paused():
        for batch in batches:
            writer.write(batch)
            if progress is not None:
                progress(batch.spans)
    return report


def _parallel(
    tasks: list[Task], workers: int, config: Settings, writer: _BatchWriter
) -> Iterator[Batch]:
    """Batches prepared by worker processes (spawned: they inherit no database connection),
    told of the dictionary `writer` comes to compress with (trained once the store holds
    enough chunks: the first ingest of a store)."""
    context = multiprocessing.get_context("spawn")
    queued = context.Queue()
    results = context.Queue(maxsize=QUEUED_BATCHES * workers)
    for task in tasks:
        queued.put(task)
    for _ in range(workers):
        queued.put(None)
    dictionaries = [context.Queue() for _ in range(workers)]

    def announce(found: codec.Dictionary) -> None:
        for told in dictionaries:
            told.put(found.data)

    writer.announce = announce
    processes = [
        context.Process(target=worker, args=(queued, results, config, told), daemon=True)
        for told in dictionaries
    ]
    for process in processes:
        process.start()
    try:
        running = workers
        while running:
            try:
                item = results.get(timeout=1)
            except queue.Empty:
                if any(p.is_alive() for p in processes):
                    continue
                break  # every worker is gone: those that crashed never said "done"
            if item == "done":
                running -= 1
            else:
                yield item
        crashed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
        if crashed:
            reason = f"a reading process stopped unexpectedly (exit codes {crashed})"
            yield Batch(rejected=[Rejection("<ingest>", "", reason)])
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
