"""What the receiver's index mode keeps of a request's spans (IndexFacts), found two ways.

index_facts() reduces the explorer's spans, as the parsers make them (any format; the
general path). index_facts_of() reads an OTLP protobuf body's message straight, for the few
fields the index keeps: building the explorer's spans is most of what the general path costs.
Whatever the general path would repair or report (an empty id, an unknown kind or status
code, the same span id twice, a cycle of parents, an attribute over the size limit) makes
index_facts_of() return None, and the request takes the general path: both give the same
facts (tests/test_receiver_facts.py). Framework-free.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from explorer.journeys.anomalies import NAMING_ATTRIBUTES, generic_name
from explorer.sources.summary import TraceFacts, as_text, trace_facts
from explorer.store.prepare import keys_bytes, span_key, span_keys
from explorer.traces.model import Resource, Span, SpanKind, StatusCode, Trace, start_of
from explorer.traces.parsers.common import MAX_TIME_NS, BadInput
from explorer.traces.parsers.otlp_json import UNKNOWN_SERVICE
from explorer.traces.parsers.otlp_proto import any_value, attributes

_KINDS = {kind.value: kind for kind in SpanKind}
_STATUS_CODES = {code.value: code for code in StatusCode}
_ERROR = StatusCode.ERROR.value
_start = itemgetter(0)
_new = tuple.__new__  # a NamedTuple made without its Python-level __new__


@dataclass(slots=True, frozen=True)
class IndexFacts:
    """What the index keeps of one trace's spans in a request."""

    trace_id: str
    facts: TraceFacts
    has_root: bool  # whether the trace's root span is among these spans
    links: set[str]  # the other traces these spans link to
    keys: bytes  # span_keys() of these spans
    error_keys: frozenset[int]  # span_key() of those that are errors
    # The spans, with what explorer.store.hourly_figures.contributions() reads of them (the
    # general path's Span, or the fast path's _Span), for the hourly figures.
    spans: Sequence = field(default=(), compare=False, repr=False)


def index_facts(traces: list[Trace], keys: tuple[str, ...]) -> list[IndexFacts]:
    """Per trace id (pieces of one trace merged): its facts, whether its root is here, and the
    other traces it links to."""
    spans_of: dict[str, list[Span]] = {}
    for trace in traces:
        spans_of.setdefault(trace.trace_id, []).extend(trace.spans)
    found = []
    for trace_id, spans in spans_of.items():
        spans.sort(key=start_of)
        links = {link.trace_id for s in spans for link in s.links} - {trace_id}
        has_root = any(s.parent_id is None for s in spans)
        errors = frozenset(span_key(s.span_id, s.kind) for s in spans if s.is_error)
        facts = trace_facts(spans, keys)
        found.append(IndexFacts(trace_id, facts, has_root, links, span_keys(spans), errors, spans))
    return found


class _Span(NamedTuple):
    """What the index needs of one span, and what the hourly figures read of it (the fields
    of explorer.traces.model.Span that contributions() reads, under their names)."""

    start_ns: int
    end_ns: int
    span_id: str
    parent_id: str | None
    key: int  # span_key(span_id, kind)
    is_error: bool
    name: str
    service: str
    business: dict[str, str | None] | None  # the span's business attributes, as text
    resource_business: dict[str, str]  # its resource's business attributes (one dict each)
    links: list[bytes]  # trace ids the span links to
    kind: SpanKind
    status_code: StatusCode
    resource: Resource
    # Its attributes when operation_of() may need them (a generic name, or an attribute that
    # may name its operation), else none: reading them costs three times what the rest does.
    attributes: dict[str, object]


def index_facts_of(
    data: bytes,
    business_keys: tuple[str, ...],
    max_attribute_bytes: int,
    peer_keys: tuple[str, ...] = (),
) -> list[IndexFacts] | None:
    """IndexFacts per trace id of an OTLP protobuf body, as
    decoding.index_facts(decode(data)) has them; None when the body needs the general path.
    `peer_keys`: the mapping's (Mapping.peer_keys), so that a span the peer rules may name
    the other end of has its attributes (explorer.receiver.calls)."""
    message = TracesData()
    try:
        message.ParseFromString(data)
    except (DecodeError, RecursionError):
        return None
    if len(UnknownFieldSet(message)) or not message.resource_spans:
        return None
    # No value can be larger than the body; otherwise a span or resource larger than the
    # limit may hold one, and the general path says which.
    limit = max_attribute_bytes if len(data) > max_attribute_bytes else None
    try:
        spans_of = _spans_of(message, business_keys, limit, peer_keys)
    except BadInput:  # a value nested too deeply: the general path says which span
        return None
    if spans_of is None:
        return None
    facts = []
    for trace_id, spans in spans_of.items():
        found = _trace(trace_id.hex(), spans)
        if found is None:
            return None
        facts.append(found)
    return facts


def _spans_of(
    message: TracesData,
    business_keys: tuple[str, ...],
    limit: int | None,
    peer_keys: tuple[str, ...] = (),
) -> dict[bytes, list[_Span]] | None:
    """The message's spans by trace id, or None when the general path must read them."""
    wanted = frozenset(business_keys)
    has_business_key = _business_key_pattern(business_keys).search
    has_naming_key = _business_key_pattern(_NAMING_KEYS).search
    has_peer_key = _business_key_pattern(peer_keys).search
    spans_of: dict[bytes, list[_Span]] = {}
    for group in message.resource_spans:
        if limit is not None and group.resource.ByteSize() > limit:
            return None
        resource = attributes(group.resource.attributes)
        service = resource.get("service.name")
        if not (isinstance(service, str) and service):
            service = UNKNOWN_SERVICE
        texts = {key: as_text(resource[key]) for key in business_keys if key in resource}
        resource_business = {key: text for key, text in texts.items() if text is not None}
        whose = Resource(service, resource)  # as the parsers make it
        for scoped in group.scope_spans:
            for raw in scoped.spans:
                serialized = raw.SerializeToString()
                if limit is not None and len(serialized) > limit:
                    return None
                # Reading every attribute costs three times what serialising the span does:
                # only a span that has a business key somewhere in it is read for them.
                business = _business(raw, wanted) if has_business_key(serialized) else None
                name = raw.name
                repeated = _as_value(name)
                naming = (
                    repeated is None
                    or (serialized.count(repeated) > 1 and has_naming_key(serialized) is not None)
                    or (raw.kind in _PEERED and has_peer_key(serialized) is not None)
                )
                span = _read(raw, name, whose, business, resource_business, naming)
                if span is None:
                    return None
                found = spans_of.get(raw.trace_id)
                if found is None:
                    found = spans_of[raw.trace_id] = []
                found.append(span)
    return spans_of


def _read(
    raw,
    name: str,
    resource: Resource,
    business: dict | None,
    resource_business: dict[str, str],
    naming: bool,
) -> _Span | None:
    """The span, or None when the general path must read it; `naming`: its attributes are
    read, for operation_of() or the peer rules (explorer.receiver.calls)."""
    span_id, kind, code = raw.span_id, raw.kind, raw.status.code
    kind_is, status_is = _KINDS.get(kind), _STATUS_CODES.get(code)
    if not raw.trace_id or not span_id or kind_is is None or status_is is None:
        return None
    links = []
    for link in raw.links or ():
        if not link.trace_id or not link.span_id:
            return None
        links.append(link.trace_id)
    hex_id = span_id.hex()
    start, end = raw.start_time_unix_nano, raw.end_time_unix_nano
    if start > MAX_TIME_NS or end > MAX_TIME_NS:
        return None
    fields = (
        start,
        end if end >= start else start,  # normalise's repair: the end set to the start
        hex_id,
        raw.parent_span_id.hex() or None,
        span_key(hex_id, kind),
        code == _ERROR,
        name,
        resource.service_name,
        business,
        resource_business,
        links,
        kind_is,
        status_is,
        resource,
        attributes(raw.attributes) if naming else _NO_ATTRIBUTES,
    )
    return _new(_Span, fields)


# The kinds whose other end peer rules may name (OTLP's numbers: client, producer, consumer).
_PEERED = frozenset((3, 4, 5))
# Never written: contributions() only reads a span's attributes.
_NO_ATTRIBUTES: dict[str, object] = {}
_NAMING_KEYS = tuple(sorted(NAMING_ATTRIBUTES))


# What str() of an attribute value that is not text may read as (a number, a boolean, None,
# a list or a dict, bytes), or nothing.
_LITERAL = re.compile(r"[-+0-9.eE]*|-?inf|nan|True|False|None|[\[{].*|b['\"].*", re.DOTALL)


@lru_cache(maxsize=4096)
def _as_value(name: str) -> bytes | None:
    """The bytes an attribute repeating this span name holds, if operation_of() needs the
    span's attributes only when one of its naming attributes does so; None when it needs them
    anyway (a generic name) or the name may repeat a value that is not text (explorer.journeys
    .anomalies). A span whose name's bytes are in it once has no attribute repeating it."""
    stripped = name.strip()
    if generic_name(stripped) or _LITERAL.fullmatch(stripped):
        return None
    return stripped.encode("utf-8", "surrogatepass")


def _business(raw, wanted: frozenset[str]) -> dict[str, str | None] | None:
    """The span's business attributes as text (None: a value that is not indexed)."""
    found = None
    for pair in raw.attributes:
        if pair.key in wanted:
            value = any_value(pair.value)
            if value is not None:  # the last value of a repeated key, as attributes() has it
                found = found or {}
                found[pair.key] = as_text(value)
    return found


def _trace(trace_id: str, spans: list[_Span]) -> IndexFacts | None:
    """The IndexFacts of one trace's spans, or None for the general path. One loop: this
    runs for every span."""
    ids = {s.span_id for s in spans}
    if len(ids) != len(spans):
        return None  # the same span id twice: normalise keeps one, and warns
    spans.sort(key=_start)
    has_root, root, end_ns, error_count = False, None, spans[0].end_ns, 0
    keys, errors, links = [], [], set()
    operations: dict[str, set[str]] = {}
    texts: dict[str, list[str]] = {}
    resources = {}
    for span in spans:
        parent = span.parent_id
        if parent is None:
            has_root = True
        if root is None and (parent is None or parent not in ids):
            root = span
        if span.end_ns > end_ns:
            end_ns = span.end_ns
        keys.append(span.key)
        if span.is_error:
            error_count += 1
            errors.append(span.key)
        names = operations.get(span.service)
        if names is None:
            names = operations[span.service] = set()
        names.add(span.name)
        if span.business:
            for key, text in span.business.items():
                if text is not None:
                    texts.setdefault(key, []).append(text)
        if span.links:
            links.update(span.links)
        resources[id(span.resource_business)] = span.resource_business
    # A cycle of parents could change the root (normalise breaks it), unless the first span
    # is the root and has no parent.
    unsure = root is None or not (has_root and root is spans[0])
    if unsure and _has_cycle({s.span_id: s.parent_id for s in spans}):
        return None
    root = root or spans[0]
    for resource_business in resources.values():
        for key, text in resource_business.items():
            texts.setdefault(key, []).append(text)
    facts = TraceFacts(
        start_ns=spans[0].start_ns,
        end_ns=end_ns,
        span_count=len(spans),
        error_count=error_count,
        root_service=root.service,
        root_name=root.name,
        operations=operations,
        business={key: list(dict.fromkeys(found)) for key, found in texts.items()},
    )
    linked = {link.hex() for link in links} - {trace_id}
    return IndexFacts(trace_id, facts, has_root, linked, keys_bytes(keys), frozenset(errors), spans)


@lru_cache(maxsize=8)  # one per value of EXPLORER_BUSINESS_ATTRIBUTES
def _business_key_pattern(business_keys: tuple[str, ...]) -> re.Pattern[bytes]:
    """Finds a business key as it starts a serialised KeyValue: field 1's tag, the key's
    length, its bytes (a match may be elsewhere: the attributes are then read to be sure)."""
    starts = [b"\n" + _varint(len(key.encode())) + key.encode() for key in business_keys]
    return re.compile(b"|".join(re.escape(start) for start in starts) or b"(?!)")


def _varint(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _has_cycle(parent_of: dict[str, str | None]) -> bool:
    reaches_root: set[str] = set()
    for span_id in parent_of:
        walked: set[str] = set()
        current: str | None = span_id
        while current is not None and current in parent_of and current not in reaches_root:
            if current in walked:
                return True
            walked.add(current)
            current = parent_of[current]
        reaches_root |= walked
    return False
