"""Reading trace files and preparing their traces for the store (framework-free).

Everything CPU-heavy of an ingest happens here (parsing, merging, summarising, encoding), so
`explorer.store.ingest` can run it in worker processes that never touch the database; the
database side only inserts what comes out. A big JSON-lines file is cut into ranges of whole
lines (Task) that several workers read at once.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import os
import queue
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from explorer.analysis.layout import lay_out
from explorer.c4.mapping import Mapping
from explorer.journeys.state_graph import Sla
from explorer.sources.summary import TraceFacts, merge_spans, trace_facts
from explorer.store import codec, hourly_figures
from explorer.store.traffic import Key, Traffic, contributions
from explorer.traces.decompress import Limits
from explorer.traces.gcpause import gc_paused
from explorer.traces.model import Span, Trace
from explorer.traces.normalise import recount_absent_parents
from explorer.traces.parsers import ParseProblem, ParseResult, iter_file, parse_bytes

ID_LENGTH = 255  # longest trace id, service or operation name the index tables hold
# Longer business-attribute values are indexed by their first INDEXED_VALUE_LENGTH characters
# (look-ups cut the asked value the same way).
INDEXED_VALUE_LENGTH = 200
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
READ_BLOCK = 1 << 24


# A file, line or trace the store refused: where and why (the parsers' own problem type).
Rejection = ParseProblem


@dataclass(slots=True)
class EncodedTrace:
    """A trace ready to insert: its facts and its spans encoded in chunks."""

    trace_id: str
    facts: TraceFacts
    chunks: list[bytes]  # the spans by start time, or in tree order when it has a layout
    chunk_sizes: list[int]
    chunk_keys: list[bytes]  # span_keys() of each chunk, to merge without reading it
    # explorer.analysis.layout.TraceLayout, encoded, for traces of several chunks
    layout: bytes | None
    links: list[str]  # other traces its spans link to
    warnings: list[str]
    traffic: dict[Key, Traffic] = field(default_factory=dict)  # its spans' system-map figures
    # its spans' figures per hour and operation (explorer.store.hourly_operations), packed
    operations: hourly_figures.Packed = b""

    def spans(self) -> list[Span]:
        """Its spans, decoded again from its chunks."""
        return [span for data in self.chunks for span in codec.decode_spans(data, self.trace_id)]


@dataclass(slots=True)
class Batch:
    traces: list[EncodedTrace] = field(default_factory=list)
    spans: int = 0  # spans read for it, duplicates included
    rejected: list[Rejection] = field(default_factory=list)
    # The figures of the traces `summed_ids`, summed in the worker process: the writer adds
    # them at once (none of them stored yet) or counts those traces again (see Batcher).
    summed: hourly_figures.Packed | None = None
    summed_ids: frozenset[str] = frozenset()


@dataclass(slots=True, frozen=True)
class Settings:
    """What a reader needs to know, passed explicitly so that worker processes need no
    Django settings."""

    business_keys: tuple[str, ...]
    batch_spans: int
    batch_traces: int
    chunk_spans: int
    limits: Limits = Limits()  # how far a gzip input may inflate
    mapping: Mapping | None = None  # to compute the system map's figures (explorer.store.hourly)
    sla: Sla | None = None  # to count breaches in the hourly figures (hourly_operations)
    # What chunks are compressed with (explorer.store.dictionary); None: plain zstd, which
    # the writer compresses again once the store has a dictionary.
    dictionary: codec.Dictionary | None = None


@dataclass(slots=True, frozen=True)
class Task:
    """A whole file (start None: read by iter_file, any format) or a range of whole lines of a
    JSON-lines file, from byte `start` to `end`, whose first line is number `first_line`."""

    path: str
    fmt: str | None = None
    start: int | None = None
    end: int | None = None
    first_line: int = 1


def span_key(span_id: str, kind: int) -> int:
    """A span's identity (id and kind, as merge_spans() has it) in 64 bits: a hash of the id
    whose lowest 3 bits are the kind, so that id_present() can ask for the id alone."""
    digest = hashlib.blake2b(span_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return (int.from_bytes(digest, "little", signed=True) & ~7) | kind


def span_keys(spans: Iterable[Span]) -> bytes:
    """span_key() of each span, as stored beside a chunk (TraceChunk.keys): little-endian."""
    return keys_bytes(span_key(s.span_id, s.kind) for s in spans)


def keys_bytes(keys: Iterable[int]) -> bytes:
    """Span keys as span_keys() stores them."""
    stored = array("q", keys)
    if sys.byteorder != "little":
        stored.byteswap()
    return stored.tobytes()


def read_keys(data: bytes) -> array:
    """The keys span_keys() stored."""
    keys = array("q")
    keys.frombytes(data)
    if sys.byteorder != "little":
        keys.byteswap()
    return keys


def id_present(span_id: str, keys: set[int]) -> bool:
    """Whether a span of this id (of any kind) has its key among `keys`."""
    key = span_key(span_id, 0)
    return any(key | kind in keys for kind in range(8))


def prepare_trace(
    trace_id: str,
    spans: Iterable[Span],
    warnings: list[str],
    config: Settings,
    lay_out_chunks: bool = True,
    counting: hourly_figures.Counting | None = None,
) -> EncodedTrace:
    """The trace ready to store; without `lay_out_chunks` a trace of several chunks gets no
    layout (a piece to append to a stored trace, which is laid out again when read). Its
    hourly figures are counted in `counting` when given (with other traces: `operations`
    stays empty), else packed in `operations`."""
    merged = merge_spans([spans])
    # Pieces of the trace may have reported parents that other pieces hold.
    warnings = recount_absent_parents(merged, warnings)
    facts = trace_facts(merged, config.business_keys)
    size = config.chunk_spans
    layout = None
    if len(merged) > size and lay_out_chunks:
        # A trace of several chunks is stored in tree order with its layout, so that a page
        # reads only the chunks of the rows it shows. One chunk is read whole anyway.
        merged, found = lay_out(Trace(trace_id, merged))
        layout = found.encode()
    parts = [merged[first : first + size] for first in range(0, len(merged), size)]
    linked = {link.trace_id for s in merged for link in s.links}
    linked.discard(trace_id)
    return EncodedTrace(
        trace_id=trace_id,
        facts=facts,
        chunks=[codec.encode_spans(part, trace_id, config.dictionary) for part in parts],
        chunk_sizes=[len(part) for part in parts],
        chunk_keys=[span_keys(part) for part in parts],
        layout=layout,
        links=sorted(linked),
        warnings=warnings,
        traffic=contributions([Trace(trace_id, merged)], config.mapping) if config.mapping else {},
        operations=_operations(trace_id, merged, facts.business, config, counting),
    )


def _operations(
    trace_id: str,
    spans: list[Span],
    business: dict[str, list[str]],
    config: Settings,
    counting: hourly_figures.Counting | None,
) -> hourly_figures.Packed:
    if config.mapping is None:
        return b""
    if counting is not None:
        counting.add(trace_id, spans, business)
        return b""
    return hourly_figures.packed_contributions(
        trace_id, spans, business, config.mapping, config.sla
    )


class Batcher:
    """Collects traces (merging those with the same id) and hands out prepared batches of
    about config.batch_spans spans."""

    def __init__(
        self,
        config: Settings,
        fresh: Callable[[], Settings] | None = None,
        sum_figures: bool = False,
    ) -> None:
        self.config = config
        self.fresh = fresh  # the settings to prepare the next batch with, when they can change
        # Whether the batch's hourly figures are summed here (Batch.summed) rather than sent
        # a trace at a time: ingest's worker processes, whose writer then adds a few rows a
        # batch instead of a dozen a trace.
        self.sum_figures = sum_figures and config.mapping is not None
        self.batch = Batch()
        self.pending: dict[str, tuple[list[Span], list[str]]] = {}
        self.pending_spans = 0
        # Traces met in several documents (lines) of this batch, or in the previous batch too,
        # arrive in pieces (a long trace as the Collector's file exporter writes it): their
        # piece is appended and laid out once read, not laid out for each batch.
        self.pieces: set[str] = set()
        self.previous: set[str] = set()

    def add(self, trace: Trace, file: str) -> Batch | None:
        self.batch.spans += len(trace.spans)
        if not trace.spans:
            return None
        if len(trace.trace_id) > ID_LENGTH:
            reason = f"trace id longer than {ID_LENGTH} characters"
            self.reject(Rejection(file, "", f"{trace.trace_id[:40]}...: {reason}"))
            return None
        if "\x00" in trace.trace_id:
            reason = "trace id holds a NUL character, which databases cannot store"
            self.reject(Rejection(file, "", f"{trace.trace_id[:40]!r}: {reason}"))
            return None
        entry = self.pending.get(trace.trace_id)
        if entry is None:
            entry = self.pending[trace.trace_id] = ([], [])
        else:
            self.pieces.add(trace.trace_id)
        entry[0].extend(trace.spans)
        entry[1].extend(w for w in trace.warnings if w not in entry[1])
        self.pending_spans += len(trace.spans)
        if (
            self.pending_spans >= self.config.batch_spans
            or len(self.pending) >= self.config.batch_traces
        ):
            return self.take()
        return None

    def reject(self, rejection: Rejection) -> None:
        self.batch.rejected.append(rejection)

    def take(self) -> Batch:
        if self.fresh is not None:
            self.config = self.fresh()
        batch = self.batch
        counting = None
        if self.sum_figures and self.config.mapping is not None:
            counting = hourly_figures.Counting(self.config.mapping, self.config.sla)
        summed: list[str] = []
        traces = batch.traces = []
        for trace_id, (spans, warnings) in self.pending.items():
            whole = trace_id not in self.pieces and trace_id not in self.previous
            # A trace in pieces may be stored already (its figures then merge with the stored
            # trace's): counted alone.
            if whole and counting is not None:
                summed.append(trace_id)
            traces.append(
                prepare_trace(
                    trace_id,
                    spans,
                    warnings,
                    self.config,
                    lay_out_chunks=whole,
                    counting=counting if whole else None,
                )
            )
        if counting is not None and summed:
            batch.summed = hourly_figures.packed(counting.figures())
            batch.summed_ids = frozenset(summed)
        self.previous, self.pieces = set(self.pending), set()
        self.batch, self.pending, self.pending_spans = Batch(), {}, 0
        return batch


def read_task(
    task: Task, config: Settings, fresh: Callable[[], Settings] | None = None
) -> Iterator[Batch]:
    """The prepared batches of a task; a problem becomes a rejection, never an exception.
    `fresh`: see Batcher."""
    batcher = Batcher(config, fresh, sum_figures=True)
    try:
        for where, result in _documents(task, config):
            for problem in result.errors:
                # A line is where iter_file too would place a problem of a JSON line.
                batcher.reject(Rejection(task.path, where or problem.position, problem.message))
            for trace in result.traces:
                ready = batcher.add(trace, task.path)
                if ready is not None:
                    yield ready
    except Exception as exc:  # a parser bug must not stop the other files
        batcher.reject(Rejection(task.path, "", f"cannot read the file: {exc!r}"))
    yield batcher.take()


def _documents(task: Task, config: Settings) -> Iterator[tuple[str, ParseResult]]:
    """(where, ParseResult) of every document of the task; `where` is the line for ranges
    (the parser's own positions already say it for whole files)."""
    if task.start is None:
        for result in iter_file(task.path, fmt=task.fmt, limits=config.limits):
            yield "", result
        return
    with open(task.path, "rb") as stream:
        stream.seek(task.start)
        position, number = task.start, task.first_line
        assert task.end is not None  # a range has both ends
        while position < task.end:
            line = stream.readline()
            if not line:
                break
            position += len(line)
            if line.strip():
                yield (
                    f"line {number}",
                    parse_bytes(line, fmt=task.fmt, source=task.path, limits=config.limits),
                )
            number += 1


def plan(path: str, fmt: str | None, parts: int, min_part: int) -> list[Task]:
    """One task for a file, or ranges of whole lines for a big JSON-lines file (by its name,
    and a first line that is a whole JSON object), so that `parts` workers share it."""
    size = os.path.getsize(path)
    if (
        parts < 2
        or size < 2 * min_part
        or fmt not in (None, "jsonl")
        or not path.lower().endswith(JSON_LINES_SUFFIXES)
    ):
        return [Task(path, fmt)]
    with open(path, "rb") as stream:
        first = stream.readline()
        try:
            if type(orjson.loads(first)) is not dict:
                return [Task(path, fmt)]
        except orjson.JSONDecodeError:
            return [Task(path, fmt)]
        # Cut after the first newline past every `step` bytes, counting lines on the way.
        step = max(min_part, size // (parts * 4))
        tasks, start, line = [], 0, 1
        while start < size:
            stream.seek(start + step)
            stream.readline()  # finish the line the cut falls in
            end = min(stream.tell(), size)
            tasks.append(Task(path, None, start, end, line))
            stream.seek(start)
            for offset in range(start, end, READ_BLOCK):
                line += stream.read(min(READ_BLOCK, end - offset)).count(b"\n")
            start = end
    return tasks


def worker(tasks, results, config: Settings, dictionaries=None) -> None:
    """A worker process: reads tasks until None, puts batches on `results`, then "done".
    `dictionaries`: a queue on which the writer puts the data of the compression dictionary
    it trained (or found) after the worker started, for the batches prepared from then on
    (else the writer would compress each of their chunks again itself)."""
    current = [config]

    def fresh() -> Settings:
        data = None
        try:
            while True:
                data = dictionaries.get_nowait()
        except queue.Empty:
            pass
        if data is not None:
            current[0] = dataclasses.replace(current[0], dictionary=codec.Dictionary(data))
        return current[0]

    try:
        # Batches of ~50,000 spans are a million live objects: the collector would only
        # waste time on them; whoever consumes a batch calls gc.collect(1) once done.
        with gc_paused():
            for task in iter(tasks.get, None):
                for batch in read_task(task, current[0], fresh if dictionaries else None):
                    results.put(batch)
                    gc.collect(1)
    finally:
        results.put("done")
