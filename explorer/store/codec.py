"""A compact binary encoding of a list of spans (one chunk of a stored trace).

Framework-free. A chunk is a document, orjson, compressed:
- version 2 (written today): b"\x02", the dictionary's id (4 bytes, big-endian; 0 for none)
  and a zstd frame without its magic number, compressed with that dictionary. A chunk
  of a stored trace is small (a trace has a handful of spans), and on its own compresses
  badly; with a dictionary trained on the store's own chunks (train_dictionary, kept in the
  store, explorer.store.dictionary) it takes about a quarter of what zlib made of it.
- version 1 (chunks written before): a zlib stream, whose first byte is never 2.

Document, version 3 (written today): [3, tagged, resources, scopes, base_ns, spans] where
resources and scopes are tables each span points into by index, and a span is a flat list of
its fields, the numbers that repeat or grow made small: its trace id 0 when it is the trace's
that the chunk is stored under (which the reader passes in: a trace id is random, and 32 hex
digits a chunk cost about 17 bytes compressed, 4 a span on the scale data), its parent the
position + 1 of the parent in the chunk when it is there, its start after base_ns (the
earliest start), its end after its start, and its events' times after its start. Version 2
documents ([2, tagged, resources, scopes, trace_id, base_ns, spans]: the chunk's trace id
written in it) and version 1 documents ([1, tagged, resources, scopes, spans], every field as
it is) still decode.

JSON has no bytes, no NaN/infinity and no integers beyond 64 bits, and cannot tell an
attribute's array from a tag, so when a chunk has other attribute values than strings, ints
within 64 bits, finite floats and bools ("tagged" is then true), every value that is not one
of those is written as a tagged list: ["b", base64], ["f", "nan"], ["i", "123..."],
["a", [values]] (array), ["m", {key: value}] (key-value list). A plain value is never a
list, so the tag is unambiguous.
"""

from __future__ import annotations

import base64
import struct
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
import zstandard

from explorer.traces.model import (
    Attributes,
    AttributeValue,
    Event,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    StatusCode,
)

VERSION = 3  # of the document (the chunk's own first byte says zlib or zstd)
# zstd level 9 with a dictionary for a chunk of a few spans: 48.7 bytes a span on the scale
# data against 58 at level 3 and 204 with zlib level 1, and still less CPU a chunk than zlib
# level 1 (16 µs against 21). A bigger document gains less from the level and costs more for
# it (bench_core's 41-span chunks: 13.9 bytes a span at level 9 and 1.6 µs a span, 16.7 and
# 0.25 at level 3, zlib 0.95): level 3 from SMALL_DOCUMENT bytes on.
ZSTD_LEVEL = 9
BIG_LEVEL = 3
SMALL_DOCUMENT = 8 << 10
DICTIONARY_BYTES = 64 << 10  # as small as does as well on the simulated data (32-256 KiB)
# Training wants at least this many chunks' documents (fewer make a poorer dictionary), and
# reads at most TRAINING_BYTES of them (zstd's advice: about 100 times the dictionary; more
# costs seconds of CPU on big chunks and gains nothing).
MIN_TRAINING_SAMPLES = 2_000
TRAINING_BYTES = 100 * DICTIONARY_BYTES

_ZSTD = 2  # the first byte of a version 2 chunk; zlib's first byte is 0x?8, never 2
_HEADER = struct.Struct(">BI")  # _ZSTD, the dictionary's id (0: none)
_PARAMETERS = {
    level: zstandard.ZstdCompressionParameters.from_level(
        level,
        format=zstandard.FORMAT_ZSTD1_MAGICLESS,  # the header says what follows: 4 bytes saved
        write_content_size=True,
        write_checksum=False,
        write_dict_id=False,  # the header names it
    )
    for level in (ZSTD_LEVEL, BIG_LEVEL)
}
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_LENGTHS = {1: 5, 2: 7, 3: 6}  # a document's items, by its version
_KINDS = {k.value: k for k in SpanKind}
_STATUSES = {s.value: s for s in StatusCode}
_REFS = {r.value: r for r in RefType}


@dataclass(frozen=True, slots=True)
class Dictionary:
    """A zstd dictionary trained on chunks' documents (train_dictionary). Chunks name it by
    its id, zstd's own (a hash of its content): equal dictionaries have equal ids, whichever
    database they come from, so a process may cache them by id."""

    data: bytes
    key: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Once: reading a 64 KiB dictionary for its id costs more than compressing a chunk.
        object.__setattr__(self, "key", _remember_dictionary(self.data))


class CodecError(ValueError):
    """Stored bytes that cannot be decoded (corrupt or from an unknown version)."""


def _encode_value(value: AttributeValue) -> object:
    t = type(value)
    if (
        t is str
        or t is bool
        or (t is int and _INT_MIN <= value <= _INT_MAX)
        or (t is float and value - value == 0)  # false for NaN and infinities
    ):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return ["b", base64.b64encode(bytes(value)).decode("ascii")]
    if isinstance(value, float):
        return ["f", repr(value)]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, list | tuple):
        return ["a", [_encode_value(v) for v in value]]
    if isinstance(value, dict):
        return ["m", {str(k): _encode_value(v) for k, v in value.items()}]
    if value is None:
        return ["n", None]
    raise TypeError(f"attribute value of unsupported type {type(value).__name__}")


def _decode_value(value: object) -> AttributeValue:
    if type(value) is not list:
        return value
    tag, payload = value
    if tag == "b":
        return base64.b64decode(payload)
    if tag == "f":
        return float(payload)
    if tag == "i":
        return int(payload)
    if tag == "a":
        return [_decode_value(v) for v in payload]
    if tag == "m":
        return {k: _decode_value(v) for k, v in payload.items()}
    if tag == "n":
        return None
    raise CodecError(f"unknown attribute tag {tag!r}")


def _tag_attributes(attributes: Attributes) -> Attributes:
    return {k: _encode_value(v) for k, v in attributes.items()}


def _untag_attributes(attributes: dict) -> Attributes:
    return {k: _decode_value(v) for k, v in attributes.items()}


def _document(
    spans: list[Span], trace_id: str, tag: Callable[[Attributes], Attributes] | None
) -> list:
    """The spans as a JSON-ready document of today's version, stored under `trace_id`; `tag`
    converts attribute maps (None: keep as they are). Absent values are 0, never null: see
    encode_spans."""
    # Tables keyed by identity: hashing a dataclass per span costs more than an equal
    # resource (from another document) stored twice.
    resources = list({id(s.resource): s.resource for s in spans}.values())
    resource_index = {id(r): i for i, r in enumerate(resources)}
    scopes = list({id(s.scope): s.scope for s in spans}.values())
    scope_index = {id(c): i for i, c in enumerate(scopes)}
    base_ns = min(s.start_ns for s in spans) if spans else 0
    # The first span of each id: a parent is written as its position + 1 when in the chunk.
    positions: dict[str, int] = {}
    for position, s in enumerate(spans, start=1):
        positions.setdefault(s.span_id, position)
    rows = []
    for s in spans:
        attributes = s.attributes
        start_ns = s.start_ns
        parent = s.parent_id
        rows.append(
            [
                0 if s.trace_id == trace_id else s.trace_id,
                s.span_id,
                0 if parent is None else positions.get(parent) or parent,
                s.name,
                s.kind,
                start_ns - base_ns,
                s.end_ns - start_ns,
                resource_index[id(s.resource)],
                (attributes if tag is None else tag(attributes)) if attributes else 0,
                [
                    [
                        e.name,
                        e.time_ns - start_ns,
                        e.attributes if tag is None else tag(e.attributes),
                    ]
                    for e in s.events
                ]
                if s.events
                else 0,
                [
                    [k.trace_id, k.span_id, k.attributes if tag is None else tag(k.attributes)]
                    for k in s.links
                ]
                if s.links
                else 0,
                s.status_code,
                s.status_message,
                scope_index[id(s.scope)],
                s.parent_ref,
            ]
        )
    resource_rows = [
        [r.service_name, r.attributes if tag is None else tag(r.attributes)] for r in resources
    ]
    scope_rows = [[c.name, c.version] for c in scopes]
    return [VERSION, tag is not None, resource_rows, scope_rows, base_ns, rows]


def document_bytes(spans: list[Span], trace_id: str) -> bytes:
    """The document of spans to store under `trace_id` (a span of another trace id keeps its
    own; "" keeps every span's), uncompressed. Fast path: the attributes go to orjson untouched.
    orjson refuses bytes and integers beyond 64 bits (TypeError) but writes NaN and
    infinities as null; the document has no null of its own, so a "null" anywhere (or a
    string containing it) sends the spans down the slow path, which tags every attribute
    value."""
    try:
        raw = orjson.dumps(_document(spans, trace_id, None))
    except TypeError:
        raw = b"null"
    if b"null" in raw:
        raw = orjson.dumps(_document(spans, trace_id, _tag_attributes))
    return raw


def encode_spans(spans: list[Span], trace_id: str, dictionary: Dictionary | None = None) -> bytes:
    """A chunk of these spans, to store under `trace_id` (document_bytes), compressed with
    `dictionary` if given."""
    return compress(document_bytes(spans, trace_id), dictionary)


def compress(document: bytes, dictionary: Dictionary | None) -> bytes:
    """A document as a version 2 chunk."""
    key = 0 if dictionary is None else dictionary.key
    level = ZSTD_LEVEL if len(document) < SMALL_DOCUMENT else BIG_LEVEL
    return _HEADER.pack(_ZSTD, key) + _compressor(dictionary, level).compress(document)


def dictionary_key(data: bytes) -> int | None:
    """The id of the dictionary a chunk was compressed with: 0 for none, None for a version 1
    (zlib) chunk."""
    if data[:1] != b"\x02":
        return None
    if len(data) < _HEADER.size:
        raise CodecError("stored spans cannot be decoded: the chunk is cut short")
    return _HEADER.unpack_from(data)[1]


def document(data: bytes) -> bytes:
    """A chunk's document, uncompressed (of version 1 or 2, as it was written)."""
    try:
        key = dictionary_key(data)
        if key is None:
            return zlib.decompress(data)
        return _decompressor(key).decompress(data[_HEADER.size :])
    except (zlib.error, zstandard.ZstdError) as exc:
        raise CodecError(f"stored spans cannot be decoded: {exc}") from exc


def train_dictionary(documents: list[bytes]) -> Dictionary | None:
    """A dictionary trained on chunks' documents (document_bytes, document); None when they
    are too few (MIN_TRAINING_SAMPLES) or zstd cannot make one of them."""
    if len(documents) < MIN_TRAINING_SAMPLES:
        return None
    samples: list[bytes | bytearray | memoryview] = []
    total = 0
    for document in documents:
        samples.append(document)
        total += len(document)
        if total >= TRAINING_BYTES:
            break
    try:
        trained = zstandard.train_dictionary(DICTIONARY_BYTES, samples, level=ZSTD_LEVEL)
    except zstandard.ZstdError:
        return None
    return Dictionary(trained.as_bytes())


# Dictionaries by id (Dictionary.key): their bytes, shared by the process's threads. A zstd
# context (compressor, decompressor, and the digested dictionary inside it) must not be used
# by two threads at once: a threaded web server decoding two traces together corrupted the
# output and crashed the process. So each thread makes its own, once, from the shared bytes.
# `_load` finds a dictionary the process has not met (set_dictionary_loader).
_dictionaries: dict[int, bytes] = {}
_contexts = threading.local()
_load: list[Callable[[int], bytes | None]] = []


def set_dictionary_loader(load: Callable[[int], bytes | None]) -> None:
    """Where decoding finds a dictionary by id (explorer.store.dictionary: in the store)."""
    _load[:] = [load]


def forget_dictionaries() -> None:
    """Forget the dictionaries met, as a new process would start (tests: decoding then finds
    them through the loader, in the store)."""
    global _contexts
    _dictionaries.clear()
    _contexts = threading.local()  # every thread's contexts go with it


def known_dictionary(key: int) -> bytes | None:
    """The dictionary of this id if this process has met it."""
    return _dictionaries.get(key)


def _remember_dictionary(data: bytes) -> int:
    key = zstandard.ZstdCompressionDict(data).dict_id()
    _dictionaries.setdefault(key, data)
    return key


class _ThreadContexts:
    """One thread's zstd contexts, by dictionary id (and level, for compressing)."""

    def __init__(self) -> None:
        self.dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}
        self.compressors: dict[tuple[int, int], zstandard.ZstdCompressor] = {}
        self.decompressors: dict[int, zstandard.ZstdDecompressor] = {}

    def dictionary(self, key: int, data: bytes) -> zstandard.ZstdCompressionDict:
        found = self.dictionaries.get(key)
        if found is None:
            found = self.dictionaries[key] = zstandard.ZstdCompressionDict(data)
        return found


def _thread_contexts() -> _ThreadContexts:
    local = _contexts
    found: _ThreadContexts | None = getattr(local, "contexts", None)
    if found is None:
        found = local.contexts = _ThreadContexts()
    return found


def _compressor(dictionary: Dictionary | None, level: int) -> zstandard.ZstdCompressor:
    contexts = _thread_contexts()
    key = (0 if dictionary is None else dictionary.key, level)
    found = contexts.compressors.get(key)
    if found is None:
        trained = None
        if dictionary is not None:  # a process that wrote with it knows it
            _dictionaries.setdefault(dictionary.key, dictionary.data)
            trained = contexts.dictionary(dictionary.key, dictionary.data)
        parameters = _PARAMETERS[level]
        found = zstandard.ZstdCompressor(compression_params=parameters, dict_data=trained)
        contexts.compressors[key] = found
    return found


def _decompressor(key: int) -> zstandard.ZstdDecompressor:
    contexts = _thread_contexts()
    found = contexts.decompressors.get(key)
    if found is not None:
        return found
    trained = None
    if key:
        data = _dictionaries.get(key)
        if data is None and _load:
            data = _load[0](key)
            if data is not None and _remember_dictionary(data) != key:
                data = None
        if data is None:
            raise CodecError(f"stored spans need compression dictionary {key}, which is not known")
        trained = contexts.dictionary(key, data)
    found = zstandard.ZstdDecompressor(dict_data=trained, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
    contexts.decompressors[key] = found
    return found


def decode_spans(data: bytes, trace_id: str, indices: Iterable[int] | None = None) -> list[Span]:
    """The spans of a chunk (of any version) stored under `trace_id` (the trace id of the
    spans whose document does not write it); with `indices`, only the spans at those
    positions of the chunk (in that order): a page showing 200 rows builds 200 spans, not
    10,000."""
    try:
        decoded = orjson.loads(document(data))
        version, tagged, resource_rows, scope_rows = decoded[:4]
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CodecError(f"stored spans cannot be decoded: {exc}") from exc
    if _LENGTHS.get(version) != len(decoded):
        raise CodecError(f"stored spans have unknown encoding version {version!r}")
    untag = _untag_attributes if tagged else _same
    resources = [Resource(name, untag(attrs)) for name, attrs in resource_rows]
    scopes = [Scope(name, version) for name, version in scope_rows]
    rows = decoded[-1]
    if version == 3:
        rows = _version_1_rows(trace_id, decoded[4], rows, indices)
    elif version == 2:
        rows = _version_1_rows(decoded[4], decoded[5], rows, indices)
    elif indices is not None:
        rows = _pick(rows, indices)
    kinds, statuses, refs = _KINDS, _STATUSES, _REFS
    try:
        return [
            Span(
                trace_id,
                span_id,
                None if parent_id == 0 else parent_id,  # version 1 wrote "" as 0 too
                name,
                kinds[kind],
                start_ns,
                end_ns,
                resources[resource],
                untag(attributes) if attributes else {},
                [Event(n, t, untag(a)) for n, t, a in events] if events else [],
                [Link(t, i, untag(a)) for t, i, a in links] if links else [],
                statuses[status_code],
                status_message,
                scopes[scope],
                refs[parent_ref],
            )
            for (
                trace_id,
                span_id,
                parent_id,
                name,
                kind,
                start_ns,
                end_ns,
                resource,
                attributes,
                events,
                links,
                status_code,
                status_message,
                scope,
                parent_ref,
            ) in rows
        ]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CodecError(f"stored spans cannot be decoded: {exc!r}") from exc


def _pick(rows: list, indices: Iterable[int]) -> list:
    try:
        return [rows[i] for i in indices]
    except (IndexError, TypeError) as exc:
        raise CodecError(f"stored spans: no such position in the chunk ({exc})") from exc


def _version_1_rows(trace_id: str, base_ns: int, rows: list, indices: Iterable[int] | None) -> list:
    """Rows of a version 2 or 3 document (those at `indices`) with their fields as version 1 has
    them: ids written out, times absolute."""
    picked = rows if indices is None else _pick(rows, indices)
    # Rows are changed in place, once: a position asked for twice is one list.
    unique = picked if indices is None else list({id(row): row for row in picked}.values())
    try:
        for row in unique:
            if row[0] == 0:
                row[0] = trace_id
            parent = row[2]
            if type(parent) is int and parent:
                row[2] = rows[parent - 1][1]
            start_ns = row[5] = row[5] + base_ns
            row[6] += start_ns
            if row[9]:
                for event in row[9]:
                    event[1] += start_ns
    except (IndexError, TypeError) as exc:
        raise CodecError(f"stored spans cannot be decoded: {exc!r}") from exc
    return picked


def _same(attributes: dict) -> Attributes:
    return attributes
