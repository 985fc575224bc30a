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

import gc
import glob
import multiprocessing
import os
import queue
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from explorer.sources.summary import merge_spans
from explorer.store import codec
from explorer.store.models import (
    ID_LENGTH,
    INDEXED_VALUE_LENGTH,
    Operation,
    StoredTrace,
    TraceAttribute,
    TraceChunk,
    TraceOperation,
    storable,
)
from explorer.store.prepare import (
    Batch,
    Batcher,
    EncodedTrace,
    Rejection,
    Settings,
    Task,
    plan,
    prepare_trace,
    read_task,
    worker,
)
from explorer.traces.decompress import Limits
from explorer.traces.gcpause import gc_paused
from explorer.traces.model import Trace

__all__ = ["IngestReport", "Rejection", "expand_paths", "ingest", "store_traces"]

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


def _config() -> Settings:
    return Settings(
        business_keys=tuple(settings.EXPLORER_BUSINESS_ATTRIBUTES),
        batch_spans=BATCH_SPANS,
        batch_traces=BATCH_TRACES,
        chunk_spans=CHUNK_SPANS,
        limits=Limits(settings.EXPLORER_INFLATE_MAX_BYTES, settings.EXPLORER_INFLATE_MAX_RATIO),
    )


def _workers() -> int:
    configured = os.environ.get("EXPLORER_INGEST_WORKERS", "")
    return int(configured) if configured.strip().isdigit() else (os.cpu_count() or 1)


def _cut(text: str, length: int = ID_LENGTH) -> str:
    return storable(text[:length])


class _Writer:
    """Writes prepared batches, merging traces that are already stored."""

    def __init__(self, report: IngestReport, config: Settings) -> None:
        self.report = report
        self.config = config
        # Keys of the traces seen, to count each once: the only memory that grows with the
        # input, a few dozen bytes a trace.
        self.seen: set[int] = set()
        # (service, span name) -> key in the operation catalogue (small: kept whole).
        self.operation_ids: dict[tuple[str, str], int] = {}

    def write(self, batch: Batch) -> None:
        self.report.spans += batch.spans
        self.report.rejected.extend(batch.rejected)
        if batch.traces:
            try:
                with transaction.atomic():
                    stored = self._write(batch.traces)
            except IntegrityError:
                # Another writer (an upload, a second ingest) stored one of these traces or
                # operations first (PostgreSQL; SQLite's IMMEDIATE transactions take turns).
                # Once more: they are now found and merged with.
                self.operation_ids.clear()  # keys added by the rolled-back transaction
                with transaction.atomic():
                    stored = self._write(batch.traces)
            self.seen.update(stored)
            self.report.traces = len(self.seen)
        # The cyclic collector is off while ingesting (gc_paused): the young objects
        # of this batch are checked once here, not over and over while it was built.
        gc.collect(1)

    def _write(self, traces: list[EncodedTrace]) -> list[int]:
        """Store a batch; returns the keys of its traces (new, merged or already there)."""
        ids = [t.trace_id for t in traces]
        existing: dict[str, StoredTrace] = {}
        for start in range(0, len(ids), IN_SLICE):
            for stored_row in StoredTrace.objects.filter(
                trace_id__in=ids[start : start + IN_SLICE]
            ).only("id", "trace_id", "span_count", "warnings"):
                existing[stored_row.trace_id] = stored_row
        stored = self._stored_chunks([row.pk for row in existing.values()])

        rewritten: list[StoredTrace] = []
        new_rows: list[StoredTrace] = []
        # Index rows as (StoredTrace, values...): new rows get their primary key only when
        # bulk_create has inserted them.
        chunks: list[tuple] = []
        attributes: list[tuple] = []
        trace_operations: list[tuple] = []
        for prepared in traces:
            row = existing.get(prepared.trace_id)
            if row is None:
                row = StoredTrace(trace_id=prepared.trace_id)
                new_rows.append(row)
            else:
                merged = self._merged(row, stored[row.pk], prepared)
                if merged is None:
                    continue  # nothing new: ingesting the same spans again changes nothing
                prepared = merged
                rewritten.append(row)
            facts = prepared.facts
            row.start_ns = facts.start_ns
            row.end_ns = facts.end_ns
            row.duration_ns = facts.end_ns - facts.start_ns
            row.span_count = facts.span_count
            row.error_count = facts.error_count
            row.root_service = _cut(facts.root_service)
            row.root_name = storable(facts.root_name)
            row.services = storable(sorted(facts.operations))
            row.attributes = storable({key: values[0] for key, values in facts.business.items()})
            row.warnings = storable(prepared.warnings)
            row.layout = prepared.layout
            sizes = prepared.chunk_sizes
            for seq, (data, size) in enumerate(zip(prepared.chunks, sizes, strict=True)):
                chunks.append((row, seq, size, data))
            for key, values in facts.business.items():
                for value in dict.fromkeys(_cut(v, INDEXED_VALUE_LENGTH) for v in values):
                    attributes.append((row, _cut(key), value))
            # The traces this one links to, so that StoreSource.linking_traces can answer.
            for target in prepared.links:
                attributes.append((row, LINKED_TRACE_KEY, _cut(target, INDEXED_VALUE_LENGTH)))
            pairs = {
                (_cut(service), _cut(name))
                for service, names in facts.operations.items()
                for name in names
            }
            trace_operations.extend((row, pair) for pair in pairs)

        pks = [row.pk for row in rewritten]
        for start in range(0, len(pks), IN_SLICE):
            part = pks[start : start + IN_SLICE]
            for model in (TraceChunk, TraceAttribute, TraceOperation):
                model.objects.filter(trace_id__in=part).delete()
        for row in rewritten:
            row.save()
        StoredTrace.objects.bulk_create(new_rows)
        _insert(TraceChunk, ("trace", "seq", "span_count", "data"), chunks)
        _insert(TraceAttribute, ("trace", "key", "value"), attributes)
        operation_ids = self._operation_ids({pair for _, pair in trace_operations})
        _insert(
            TraceOperation, ("trace", "operation"),
            [(row, operation_ids[p]) for row, p in trace_operations]
        )
        return [row.pk for row in [*existing.values(), *new_rows]]

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

    def _merged(
        self, row: StoredTrace, stored: list[bytes], prepared: EncodedTrace
    ) -> EncodedTrace | None:
        """The stored trace merged with the new one, or None when that adds nothing."""
        parts = [codec.decode_spans(data) for data in [*stored, *prepared.chunks]]
        spans = merge_spans(parts)
        warnings = row.warnings + [
            w for w in storable(prepared.warnings) if w not in row.warnings
        ]
        if len(spans) == row.span_count and warnings == row.warnings:
            return None
        return prepare_trace(row.trace_id, spans, warnings, self.config)

    @staticmethod
    def _stored_chunks(pks: list[int]) -> dict[int, list[bytes]]:
        stored: dict[int, list[bytes]] = {pk: [] for pk in pks}
        for start in range(0, len(pks), IN_SLICE):
            for pk, data in (
                TraceChunk.objects.filter(trace_id__in=pks[start : start + IN_SLICE])
                .order_by("trace_id", "seq")
                .values_list("trace_id", "data")
            ):
                stored[pk].append(bytes(data))
        return stored


def _insert(model: type[Model], fields: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows whose first value is their StoredTrace, with one executemany: several
    times faster than building a model instance per row for bulk_create. Plain INSERT with
    the model's own table and column names, so any database Django supports takes it."""
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column)  # type: ignore[union-attr,arg-type]
                        for name in fields)  # concrete columns only
    marks = ", ".join(["%s"] * len(fields))
    table = quote(model._meta.db_table)
    # Names come from the model, every value is a parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(row.pk, *values) for row, *values in rows])


def store_traces(traces: Iterable[Trace], *, source: str = "<input>") -> IngestReport:
    """Write traces already in memory (an upload, a test) exactly as `ingest` would."""
    report = IngestReport()
    config = _config()
    writer = _Writer(report, config)
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
    config = _config()
    writer = _Writer(report, config)
    files: list[str] = []
    for item in expand_paths(paths):
        if isinstance(item, Rejection):
            report.rejected.append(item)
        else:
            files.append(str(item))
    report.files = len(files)
    workers = _workers() if workers is None else workers
    total = sum(os.path.getsize(f) for f in files)
    if workers < 2 or total < PARALLEL_MIN_BYTES:
        batches: Iterator[Batch] = (batch for f in files
                                    for batch in read_task(Task(f, fmt), config))
    else:
        tasks = [task for f in files for task in plan(f, fmt, workers, MIN_RANGE_BYTES)]
        batches = _parallel(tasks, min(workers, len(tasks)), config)
    with gc_paused():
        for batch in batches:
            writer.write(batch)
            if progress is not None:
                progress(batch.spans)
    return report


def _parallel(tasks: list[Task], workers: int, config: Settings) -> Iterator[Batch]:
    """Batches prepared by worker processes (spawned: they inherit no database connection)."""
    context = multiprocessing.get_context("spawn")
    queued = context.Queue()
    results = context.Queue(maxsize=QUEUED_BATCHES * workers)
    for task in tasks:
        queued.put(task)
    for _ in range(workers):
        queued.put(None)
    processes = [
        context.Process(target=worker, args=(queued, results, config), daemon=True)
        for _ in range(workers)
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
