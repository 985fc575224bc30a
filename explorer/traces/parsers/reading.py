"""Format detection, documents and files: the implementation of parse_bytes and iter_file."""

from __future__ import annotations

import io
import itertools
import os
import zlib
from collections.abc import Iterator, Sequence

import orjson

from explorer.traces.decompress import DecompressionLimit, Limits, inflate, open_bounded
from explorer.traces.gcpause import gc_paused
from explorer.traces.normalise import normalise
from explorer.traces.parsers.common import (
    FORMATS,
    Collected,
    ParseProblem,
    ParseResult,
    describe,
)
from explorer.traces.parsers.jaeger_json import read_jaeger
from explorer.traces.parsers.otlp_json import RESOURCE_SPANS_KEYS, read_otlp
from explorer.traces.parsers.otlp_proto import NotOtlpProto, read_proto
from explorer.traces.parsers.zipkin_json import read_zipkin
from explorer.traces.problems import Message, code_and_params, message_of

GZIP_MAGIC = b"\x1f\x8b"
_WHITESPACE = b" \t\r\n"
DEFAULT_LIMITS = Limits()  # 1 GiB, 200 times the compressed size
_JAEGER_V3_WITHOUT_SPANS = ("services", "operations", "summaries")


class UnknownFormat(ValueError):
    pass


def parse_bytes(
    data: bytes | str,
    *,
    fmt: str | None = None,
    source: str = "<input>",
    limits: Limits = DEFAULT_LIMITS,
) -> ParseResult:
    """Gzip input is inflated within `limits` (a cap and a ratio); past them, an error."""
    with gc_paused():
        return _parse(data.encode() if isinstance(data, str) else data, fmt, source, limits)


def iter_file(
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    max_document: int | None = None,
) -> Iterator[ParseResult]:
    """Every document (or JSON line) of a file; a gzip file is inflated as it is read, within
    `limits` (past them, an error result and nothing more from the file). With
    `max_document`, a document or JSON line of more bytes (inflated) is not read into memory:
    an error result says where it is, and the lines after it are read on."""
    source = os.fspath(path)
    try:
        raw = open(source, "rb")  # noqa: SIM115 - closed below, also when the caller stops early
    except OSError as exc:
        yield _problem(
            source, "", Message(f"cannot read the file: {exc.strerror}", "unreadable_file")
        )
        return
    with raw:
        try:
            stream = _maybe_gunzip(raw, limits)
            yield from _iter_stream(stream, fmt, source, limits, max_document)
        except DecompressionLimit as exc:
            yield _problem(source, "", message_of(exc))
        except (OSError, EOFError, zlib.error) as exc:
            yield _problem(source, "", Message(f"cannot read the file: {exc}", "unreadable_file"))


def _maybe_gunzip(raw: io.BufferedReader, limits: Limits) -> io.BufferedReader:
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return open_bounded(raw, limits)
    return raw


class _TooLong(Exception):
    """A document or a line of more than max_document bytes."""


def _read_at_most(stream: io.BufferedReader, limit: int | None) -> bytes:
    """The rest of the stream, or _TooLong (having read limit + 1 bytes) past the limit."""
    data = stream.read(-1 if limit is None else limit + 1)
    if limit is not None and len(data) > limit:
        raise _TooLong
    return data


def _lines(stream: io.BufferedReader, limit: int | None) -> Iterator[bytes | None]:
    """The lines of the stream; None for a line of more than `limit` bytes, whose bytes are
    skipped, never held whole."""
    if limit is None:
        yield from stream
        return
    while line := stream.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(limit + 1)) and not rest.endswith(b"\n"):
            pass
        yield None


def _too_long(source: str, where: str, limit: int | None) -> ParseResult:
    return _problem(
        source,
        where,
        Message(
            f"one document of more than {limit} bytes: too large to read (split it into "
            "JSON lines, one export request or trace a line)",
            "document_too_large",
            limit=limit,
        ),
    )


def _iter_stream(
    stream: io.BufferedReader,
    fmt: str | None,
    source: str,
    limits: Limits,
    max_document: int | None,
) -> Iterator[ParseResult]:
    if fmt is not None and fmt not in FORMATS:
        yield _unknown_fmt(fmt, source)
        return
    try:
        if fmt not in (None, "jsonl"):
            data = _read_at_most(stream, max_document)
            yield parse_bytes(data, fmt=fmt, source=source, limits=limits)
            return
        head = stream.peek(1).lstrip(_WHITESPACE)[:1]
        if fmt is None and head not in (b"{", b""):  # an array, protobuf, junk
            yield parse_bytes(_read_at_most(stream, max_document), source=source, limits=limits)
            return
    except _TooLong:
        yield _too_long(source, "", max_document)
        return
    # Read the first two non-empty lines to tell JSON lines from one (pretty-printed) document.
    lines: list[tuple[int, bytes | None]] = []
    consumed: list[bytes] = []  # every line read so far, blank ones too, to keep byte offsets
    reader = _lines(stream, max_document)
    number = 0
    for number, line in enumerate(reader, 1):  # noqa: B007 - read on after the loop
        if line is not None:
            consumed.append(line)
        if line is None or line.strip():
            lines.append((number, line))
            if len(lines) == 2:
                break
    if fmt is None and not _is_json_lines(lines):
        room = None if max_document is None else max_document - sum(map(len, consumed))
        try:
            if any(line is None for _, line in lines) or (room is not None and room < 0):
                raise _TooLong
            consumed.append(_read_at_most(stream, room))
        except _TooLong:
            yield _too_long(source, "", max_document)
            return
        yield parse_bytes(b"".join(consumed), source=source, limits=limits)
        return
    del consumed
    if not lines:
        yield _problem(source, "", Message("empty file", "empty_input"))
        return
    for line_number, line in itertools.chain(lines, enumerate(reader, number + 1)):
        if line is None:
            yield _too_long(source, f"line {line_number}", max_document)
        elif line.strip():
            yield _parse_line(line, line_number, source)


def _is_json_lines(lines: Sequence[tuple[int, bytes | None]]) -> bool:
    """Two or more lines of which the first or the second is a whole JSON object."""
    if len(lines) < 2:
        return False
    return any(line is not None and _is_json_object(line) for _, line in lines)


def _is_json_object(line: bytes) -> bool:
    try:
        return type(orjson.loads(line)) is dict
    except orjson.JSONDecodeError:
        return False


def _parse_line(line: bytes, number: int, source: str) -> ParseResult:
    with gc_paused():
        return _parse_json(line, None, source, f"line {number}")


def _parse(
    data: bytes, fmt: str | None, source: str, limits: Limits = DEFAULT_LIMITS
) -> ParseResult:
    if fmt is not None and fmt not in FORMATS:
        return _unknown_fmt(fmt, source)
    if data[:2] == GZIP_MAGIC:
        try:
            data = inflate(data, limits)
        except DecompressionLimit as exc:
            return _problem(source, "", message_of(exc))
        except (OSError, EOFError, zlib.error) as exc:
            return _problem(source, "", Message(f"broken gzip data: {exc}", "broken_gzip"))
    stripped = data.lstrip(_WHITESPACE)
    if not stripped:
        return _problem(source, "", Message("empty input: no trace data", "empty_input"))
    if fmt == "otlp-proto":
        return _parse_proto(data, source)
    if fmt == "jsonl":
        return _parse_lines(data, source)
    if fmt is None and stripped[:1] not in b"{[":
        return _parse_not_json(data, stripped, source)
    result = _parse_json(data, fmt, source, "")
    if fmt is None and result.errors and not result.traces and _is_json_lines(_first_lines(data)):
        return _parse_lines(data, source)
    return result


def _first_lines(data: bytes) -> list[tuple[int, bytes]]:
    lines = []
    for number, line in enumerate(data.split(b"\n", 3)[:3], 1):
        if line.strip():
            lines.append((number, line))
    return lines[:2]


def _parse_lines(data: bytes, source: str) -> ParseResult:
    merged = ParseResult(format="jsonl")
    spans = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        collected, _, problem = _read_json(line, None)
        if problem is not None:
            merged.errors.append(_coded(source, f"line {number}", problem[1]))
            continue
        _add_problems(merged, collected, source, f"line {number}")
        spans.extend(collected.spans)
    _add_traces(merged, normalise(spans), source, "")
    return merged


def _parse_json(data: bytes, fmt: str | None, source: str, position: str) -> ParseResult:
    collected, detected, problem = _read_json(data, fmt)
    result = ParseResult(format=detected or "")
    if problem is not None:
        offset, message = problem
        where = position or (f"byte {offset}" if offset is not None else "")
        result.errors.append(_coded(source, where, message))
        return result
    _add_problems(result, collected, source, position)
    _add_traces(result, normalise(collected.spans), source, position)
    return result


def _read_json(
    data: bytes, fmt: str | None
) -> tuple[Collected, str | None, tuple[int | None, str] | None]:
    """Decode and read one JSON document: what was read, its format, or (byte offset, reason)
    when it cannot be read at all."""
    collected = Collected()
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if exc.pos >= len(data.rstrip()):
            truncated = Message("truncated JSON: the document ends too early", "truncated_json")
            return collected, None, (exc.pos, truncated)
        text = f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        invalid = Message(text, "invalid_json", line=exc.lineno, column=exc.colno)
        return collected, None, (exc.pos, invalid)
    try:
        detected = fmt or detect_json(document)
        _READERS[detected](document, collected)
    except UnknownFormat as exc:
        return collected, None, (None, Message(str(exc), "not_trace_data"))
    return collected, detected, None


def detect_json(document: object) -> str:
    """The format of a decoded JSON document, from its top-level shape."""
    if type(document) is dict:
        keys = document.keys()
        if _has_resource_spans(document) or "result" in keys or "trace" in keys:
            return "otlp-json"
        if "data" in keys or ("spans" in keys and ("traceID" in keys or "processes" in keys)):
            return "jaeger-json"
        if keys and all(key in _JAEGER_V3_WITHOUT_SPANS for key in keys):
            return "otlp-json"
        if _is_zipkin_span(document):
            return "zipkin-json"
        raise UnknownFormat(
            "unknown format: a JSON object with keys "
            f"{describe(sorted(keys)[:5])}, not OTLP, Jaeger or Zipkin trace data"
        )
    if type(document) is list:
        first = document[0] if document else None
        if first is None or (type(first) is dict and "traceId" in first and "id" in first):
            return "zipkin-json"
        if type(first) is dict and ("spanID" in first or "spans" in first):
            return "jaeger-json"
        if type(first) is dict and _has_resource_spans(first):
            return "otlp-json"
        raise UnknownFormat(f"unknown format: a JSON list starting with {describe(first)}")
    raise UnknownFormat(f"unknown format: a JSON {type(document).__name__}, not trace data")


def _is_zipkin_span(document: object) -> bool:
    return type(document) is dict and "traceId" in document and "id" in document


def _has_resource_spans(document: dict) -> bool:
    return any(key in document for key in RESOURCE_SPANS_KEYS)


def _read_otlp_any(document: object, out: Collected) -> None:
    """OTLP JSON and the wrappers around it: Jaeger API v3 `result`, Tempo v2 `trace`, lists."""
    if type(document) is list:
        if not all(type(item) is dict and _has_resource_spans(item) for item in document):
            raise UnknownFormat("not OTLP JSON: a list of objects without resourceSpans")
        for i, item in enumerate(document):
            read_otlp(item, out, f"[{i}].")
        return
    if type(document) is not dict:
        raise UnknownFormat(f"not OTLP JSON: a JSON {type(document).__name__}")
    for wrapper in ("result", "trace"):
        inner = document.get(wrapper)
        if type(inner) is dict:
            read_otlp(inner, out, f"{wrapper}.")
            return
    if _has_resource_spans(document):
        read_otlp(document, out)
        return
    if document and all(key in _JAEGER_V3_WITHOUT_SPANS for key in document):
        out.warnings.append(("", f"a Jaeger API v3 {'/'.join(document)} response: no spans"))
        return
    raise UnknownFormat("not OTLP JSON: no resourceSpans (or batches, result, trace) key")


def _read_jaeger_checked(document: object, out: Collected) -> None:
    if type(document) not in (dict, list):
        raise UnknownFormat(f"not Jaeger JSON: a JSON {type(document).__name__}")
    read_jaeger(document, out)


def _read_zipkin_checked(document: object, out: Collected) -> None:
    if not isinstance(document, list | dict) or (
        isinstance(document, dict) and not _is_zipkin_span(document)
    ):
        raise UnknownFormat("not Zipkin v2 JSON: expected a list of spans or one span")
    read_zipkin(document, out)


_READERS = {
    "otlp-json": _read_otlp_any,
    "jaeger-json": _read_jaeger_checked,
    "zipkin-json": _read_zipkin_checked,
}


def _parse_proto(data: bytes, source: str) -> ParseResult:
    collected = Collected()
    try:
        read_proto(data, collected)
    except NotOtlpProto as exc:
        return _problem(source, "", Message(str(exc), "not_trace_data"))
    result = ParseResult(format="otlp-proto")
    _add_problems(result, collected, source, "")
    _add_traces(result, normalise(collected.spans), source, "")
    return result


def _parse_not_json(data: bytes, stripped: bytes, source: str) -> ParseResult:
    result = _parse_proto(data, source)
    if not result.errors or result.traces:
        return result
    if _looks_like_text(stripped):
        start = stripped[:30].decode("utf-8", "replace")
        text = f"unknown format: text that is not JSON (starts {start!r})"
        return _problem(source, "", Message(text, "not_trace_data"))
    text = (
        "unknown format: binary data that is neither OTLP protobuf nor "
        f"gzip ({result.errors[0].message})"
    )
    return _problem(source, "", Message(text, "not_trace_data"))


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3  # only a character cut at the end of the sample
    return True


def _add_problems(result: ParseResult, collected: Collected, source: str, position: str) -> None:
    for where, message in collected.errors:
        result.errors.append(_coded(source, position, message, where))
    for where, message in collected.warnings:
        result.warnings.append(_coded(source, position, message, where))


def _add_traces(result: ParseResult, traces: list, source: str, position: str) -> None:
    result.traces.extend(traces)
    for trace in traces:
        for warning in trace.warnings:
            result.warnings.append(
                ParseProblem(source, position, f"trace {trace.trace_id}: {warning}")
            )


def _problem(source: str, position: str, message: str) -> ParseResult:
    return ParseResult(errors=[_coded(source, position, message)])


def _coded(source: str, position: str, message: str, where: str = "") -> ParseProblem:
    """The problem with its English text and, for other languages, its code and parameters
    (the place inside the document among them)."""
    code, params = code_and_params(message)
    if where:
        params["where"] = where
    text = f"{where}: {message}" if where else str(message)
    return ParseProblem(source, position, text, code, tuple(sorted(params.items())))


def _unknown_fmt(fmt: str, source: str) -> ParseResult:
    text = f"unknown format name {fmt!r}; known: {', '.join(FORMATS)}"
    return _problem(source, "", Message(text, "unknown_format_name", got=fmt))
