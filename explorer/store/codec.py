"""A compact binary encoding of a list of spans (one chunk of a stored trace).

Framework-free. Layout before compression (orjson): [version, tagged, resources, scopes,
spans] where resources and scopes are tables each span points into by index (a chunk of
10,000 spans usually has a handful of each), and a span is a flat list of its fields.

JSON has no bytes, no NaN/infinity and no integers beyond 64 bits, and cannot tell an
attribute's array from a tag, so when a chunk has other attribute values than strings, ints
within 64 bits, finite floats and bools ("tagged" is then true), every value that is not one
of those is written as a tagged list: ["b", base64], ["f", "nan"], ["i", "123..."],
["a", [values]] (array), ["m", {key: value}] (key-value list). A plain value is never a
list, so the tag is unambiguous.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterable

import orjson

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

VERSION = 1
# Level 1: most of zlib's size reduction on repetitive JSON at a fraction of the cost.
COMPRESSION_LEVEL = 1

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_KINDS = {k.value: k for k in SpanKind}
_STATUSES = {s.value: s for s in StatusCode}
_REFS = {r.value: r for r in RefType}


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


def _document(spans: list[Span], tag: Callable[[Attributes], Attributes] | None) -> list:
    """The spans as a JSON-ready list; `tag` converts attribute maps (None: keep as they are).
    Absent values are 0, never null: see encode_spans."""
    # Tables keyed by identity: hashing a dataclass per span costs more than an equal
    # resource (from another document) stored twice.
    resources = list({id(s.resource): s.resource for s in spans}.values())
    resource_index = {id(r): i for i, r in enumerate(resources)}
    scopes = list({id(s.scope): s.scope for s in spans}.values())
    scope_index = {id(c): i for i, c in enumerate(scopes)}
    rows = []
    for s in spans:
        attributes = s.attributes
        rows.append(
            [
                s.trace_id,
                s.span_id,
                s.parent_id or 0,
                s.name,
                s.kind,
                s.start_ns,
                s.end_ns,
                resource_index[id(s.resource)],
                (attributes if tag is None else tag(attributes)) if attributes else 0,
                [
                    [e.name, e.time_ns, e.attributes if tag is None else tag(e.attributes)]
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
    return [VERSION, tag is not None, resource_rows, [[c.name, c.version] for c in scopes], rows]


def encode_spans(spans: list[Span]) -> bytes:
    """Fast path: the attributes go to orjson untouched. orjson refuses bytes and integers
    beyond 64 bits (TypeError) but writes NaN and infinities as null; the document has no
    null of its own, so a "null" anywhere (or a string containing it) sends the spans down
    the slow path, which tags every attribute value."""
    try:
        raw = orjson.dumps(_document(spans, None))
    except TypeError:
        raw = b"null"
    if b"null" in raw:
        raw = orjson.dumps(_document(spans, _tag_attributes))
    return zlib.compress(raw, COMPRESSION_LEVEL)


def decode_spans(data: bytes, indices: Iterable[int] | None = None) -> list[Span]:
    """The spans of a chunk; with `indices`, only the spans at those positions of the chunk
    (in that order): a page showing 200 rows builds 200 spans, not 10,000."""
    try:
        version, tagged, resource_rows, scope_rows, rows = orjson.loads(zlib.decompress(data))
    except (zlib.error, orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CodecError(f"stored spans cannot be decoded: {exc}") from exc
    if version != VERSION:
        raise CodecError(f"stored spans have unknown encoding version {version!r}")
    untag = _untag_attributes if tagged else _same
    resources = [Resource(name, untag(attrs)) for name, attrs in resource_rows]
    scopes = [Scope(name, version) for name, version in scope_rows]
    if indices is not None:
        try:
            rows = [rows[i] for i in indices]
        except (IndexError, TypeError) as exc:
            raise CodecError(f"stored spans: no such position in the chunk ({exc})") from exc
    kinds, statuses, refs = _KINDS, _STATUSES, _REFS
    return [
        Span(
            trace_id,
            span_id,
            parent_id or None,
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


def _same(attributes: dict) -> Attributes:
    return attributes
