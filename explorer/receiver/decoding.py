"""From an OTLP request body to what the writer stores, with the project's own parsers (no
second parser). Framework-free: the receiver runs decode_request() in decoder processes
(explorer.receiver.decoders), so the work that holds the GIL is spread over the cores.

Limits are checked here: the body (compressed or not) and what it inflates to stay under
max_bytes (explorer.traces.decompress stops inflating at the limit); a span with an attribute
value over max_attribute_bytes is rejected alone, with a message naming it (partial success).
The decoded traces are then prepared for the mode: encoded for the store as `ingest` prepares
them (full), or reduced to the facts the index keeps (index).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from explorer.receiver.auth import Refused
from explorer.receiver.facts import IndexFacts, index_facts, index_facts_of
from explorer.store.prepare import Batcher, EncodedTrace
from explorer.store.prepare import Settings as StoreSettings
from explorer.traces.decompress import DecompressionLimit, Limits, inflate, is_gzip
from explorer.traces.model import Span, Trace
from explorer.traces.parsers import parse_bytes

# Content types OTLP/HTTP defines, and the parser format of each.
CONTENT_TYPES = {
    "application/x-protobuf": "otlp-proto",
    "application/protobuf": "otlp-proto",
    "application/json": "otlp-json",
}
# At most this many problems are quoted in a partial-success message.
QUOTED_PROBLEMS = 3


@dataclass(slots=True, frozen=True)
class DecodeConfig:
    """What decoding a request needs; picklable, for the decoder processes."""

    mode: str  # "full" or "index"
    max_bytes: int
    max_attribute_bytes: int
    store: StoreSettings  # business keys, chunking and the mapping, as `ingest` has them
    # Index mode: the calls are paired (explorer.receiver.calls), whose peer rules read the
    # attributes of some spans that the fast path would not read otherwise.
    calls: bool = False


@dataclass(slots=True, frozen=True)
class Stored:
    """What a request's writer did: spans committed, spans rejected and why."""

    spans: int
    rejected: int
    message: str


@dataclass(slots=True)
class Decoded:
    traces: list[Trace] = field(default_factory=list)  # emptied once prepared
    # Prepared for the writer of the mode: encoded for the store (full), or the index's facts.
    encoded: list[EncodedTrace] = field(default_factory=list)
    facts: list[IndexFacts] = field(default_factory=list)
    spans: int = 0  # spans accepted
    rejected: int = 0  # spans (or unreadable parts) rejected
    problems: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The partial-success message: the first problems, and how many more there are."""
        shown = "; ".join(self.problems[:QUOTED_PROBLEMS])
        more = len(self.problems) - QUOTED_PROBLEMS
        return f"{shown}; and {more} more" if more > 0 else shown


def format_of(content_type: str | None) -> str:
    """The parser format for a Content-Type header, or Refused(415)."""
    media = (content_type or "").split(";")[0].strip().lower()
    fmt = CONTENT_TYPES.get(media)
    if fmt is None:
        accepted = ", ".join(sorted(CONTENT_TYPES))
        raise Refused(
            415, f"unsupported content type {media or '(none)'!r}; send one of {accepted}"
        )
    return fmt


def inflated(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """The body without its Content-Encoding (gzip or deflate, inflated up to max_bytes)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise Refused(415, f"unsupported content encoding {encoding!r}; send gzip or none")
    try:
        data = inflate(body, Limits(max_bytes=max_bytes))
    except DecompressionLimit as exc:
        raise Refused(413, f"request body: {exc} (EXPLORER_RECEIVER_MAX_BYTES)") from exc
    except zlib.error as exc:
        raise Refused(400, f"request body is not valid {encoding} data: {exc}") from exc
    if is_gzip(data):
        # The parsers would inflate it once more, without our limits.
        raise Refused(400, "request body is compressed twice")
    return data


def decode_request(
    body: bytes, encoding: str | None, fmt: str, config: DecodeConfig, source: str
) -> Decoded:
    """A request's body decoded and prepared for the writer of config.mode; Refused (400,
    413, 415) when none of it can be."""
    data = inflated(body, encoding, config.max_bytes)
    if config.mode == "index" and fmt == "otlp-proto" and data.strip():
        keys, limit = config.store.business_keys, config.max_attribute_bytes
        mapping = config.store.mapping
        peer_keys = mapping.peer_keys() if config.calls and mapping is not None else ()
        found = index_facts_of(data, keys, limit, peer_keys)
        if found is not None:
            return Decoded(facts=found, spans=sum(f.facts.span_count for f in found))
    decoded = decode(data, fmt, config.max_attribute_bytes, source)
    if config.mode == "index":
        decoded.facts = index_facts(decoded.traces, config.store.business_keys)
    else:
        batcher = Batcher(config.store)
        for trace in decoded.traces:
            batcher.add(trace, source)
        batch = batcher.take()
        # Traces the store refuses (an id too long, a NUL in it): their spans are rejected.
        for rejection in batch.rejected:
            decoded.problems.append(f"{rejection.message}; its spans rejected")
        refused = {t.trace_id for t in decoded.traces} - {t.trace_id for t in batch.traces}
        refused_spans = sum(len(t.spans) for t in decoded.traces if t.trace_id in refused)
        decoded.rejected += refused_spans
        decoded.spans -= refused_spans
        decoded.encoded = batch.traces
    decoded.traces = []
    return decoded


def decode(data: bytes, fmt: str, max_attribute_bytes: int, source: str) -> Decoded:
    """The traces of an uncompressed OTLP body; Refused(400) when nothing of it decodes."""
    if not data.strip():
        return Decoded()  # an empty request is a valid one, with no spans
    result = parse_bytes(data, fmt=fmt, source=source)
    decoded = Decoded(problems=[str(p) for p in result.errors], rejected=len(result.errors))
    if result.errors and not result.traces:
        raise Refused(400, f"request body does not decode as OTLP ({fmt}): {decoded.message}")
    # No attribute can be larger than the whole body.
    checked = None if len(data) <= max_attribute_bytes else _Checker(max_attribute_bytes, decoded)
    for trace in result.traces:
        kept = trace.spans if checked is None else [s for s in trace.spans if checked.fits(s)]
        if kept:
            trace.spans = kept
            decoded.traces.append(trace)
            decoded.spans += len(kept)
    return decoded


class _Checker:
    """Finds spans with an attribute value over the limit (each resource checked once)."""

    def __init__(self, limit: int, decoded: Decoded) -> None:
        self.limit = limit
        self.decoded = decoded
        # id(resource) -> (its key over the limit, that value's size) or None
        self.resources: dict[int, tuple[str, int] | None] = {}

    def fits(self, span: Span) -> bool:
        resource = span.resource
        if id(resource) not in self.resources:
            self.resources[id(resource)] = self._over(resource.attributes)
        where, found = "resource", self.resources[id(resource)]
        if found is None:
            where, found = "span", self._over(span.attributes)
        if found is None and (span.events or span.links):
            places = [(f"event {e.name[:100]!r}", e.attributes) for e in span.events]
            places += [("link", link.attributes) for link in span.links]
            for place, attributes in places:
                where, found = place, self._over(attributes)
                if found is not None:
                    break
        if found is None:
            return True
        key, size = found
        self.decoded.rejected += 1
        self.decoded.problems.append(
            f"span {span.span_id} of trace {span.trace_id}: {where} attribute {key[:100]!r} "
            f"holds {size} bytes, more than the limit of {self.limit} "
            "(EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES); span rejected"
        )
        return False

    def _over(self, attributes: dict) -> tuple[str, int] | None:
        limit = self.limit
        for key, value in attributes.items():
            kind = type(value)
            size = len(value) if kind is str or kind is bytes else _size(value)
            if size > limit:
                return key, size
        return None


def _size(value: object) -> int:
    if isinstance(value, str):
        return len(value)  # characters: a fast lower bound of the UTF-8 size
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, list):
        return sum(_size(v) for v in value)
    if isinstance(value, dict):
        return sum(len(k) + _size(v) for k, v in value.items())
    return 8
