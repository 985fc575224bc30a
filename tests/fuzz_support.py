"""Fuzz cases for the OTLP receiver (tests/test_fuzz_receiver.py): valid OTLP requests built
with the opentelemetry-proto messages (protobuf) and as OTLP JSON, then mutated, one kind of
mutation per case, and sent over HTTP or raw sockets.

Case `i` of a run is made from its own generator, random.Random(f"{seed}:{i}"), so a run is
replayed by its seed (FUZZ_SEED) and a single case by its number (FUZZ_CASES=i), whatever
order the client threads send them in. Each kind names the statuses a correct receiver may
answer it with: a bad span gives 200 with partial success, or 400; never 500.
"""

from __future__ import annotations

import base64
import functools
import gzip
import http.client
import json
import os
import random
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.receiver_support import ROOT, TOKEN

PROTO = "application/x-protobuf"
JSON = "application/json"
AUTH = f"Bearer {TOKEN}"

# Plain values: the orders the fuzz keeps coming back to (so the worker has journeys to judge).
ORDER_IDS = [f"A-{100001 + n}" for n in range(20)]
CUSTOMER_IDS = [f"C-{n:05d}" for n in range(10)]
SERVICES = ["shop-api", "crm-api", "mes-api", "mes"]
# The states of the shipped state graph, as hostile spans may name them.
STATES = [
    state["name"]
    for state in json.loads((ROOT / "explorer" / "alexandrite" / "states.json").read_text())[
        "states"
    ]
]
SPAN_NAMES = ["POST /api/orders", "publish order.created", "UPDATE mes.orders", "take order"]

# What str.splitlines() splits on: each is a line break to someone (logs, CSV, e-mail headers).
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028"]
# Hostile strings without a line break: control characters, bidi overrides, markup, paths,
# format strings, lookalikes, very long and empty values.
HOSTILE = [
    "",
    " ",
    "\x00",
    "A-1\x00\x00",
    "\x01\x02\x03\x07\x08\x1b[31mred\x1b[0m",
    "\x7f\x80\x9f",
    "\t",
    "A-\u202eevil\u202c",
    "\u202d\u2066\u2067\u2068\u2069\u200e\u200f",
    "\ufeffA-100001",
    "\u200b\u200c\u200d\u2060",
    "A\u0301\u0301\u0301\u0301",
    "\ud7ff\ue000\uffff\U0010ffff",
    "😀👨‍👩‍👧‍👦",
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "{{ 7*7 }}{% debug %}",
    "%s%s%s%n%x",
    "../../../etc/passwd",
    "/orders/A-1/",
    "%2F%2e%2e%00",
    "?q=1&status=stuck#x",
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "null",
    "NaN",
    "-0",
    "Ａ－１００００１",
    "a" * 300,
    "Ω" * 5000,
    "x" * 70_000,
]


# --- Valid requests ----------------------------------------------------------------------


class Strings:
    """Where a request's strings come from: plain values, or (for the fields in `hostile`)
    hostile ones, whole or spliced into a plain value."""

    def __init__(
        self, rng: random.Random, hostile: set[str], pool: list[str], plain_share: float = 0.3
    ) -> None:
        self.rng = rng
        self.hostile = hostile
        self.pool = pool
        self.plain_share = plain_share

    def pick(self, where: str, plain: str) -> str:
        if where not in self.hostile or self.rng.random() < self.plain_share:
            return plain
        evil = self.rng.choice(self.pool)
        if where == "attr_key" and not evil:
            # OTLP JSON leaves an empty string out, and a KeyValue without its "key" is not
            # one: the protobuf form alone could carry it.
            evil = "\x00"
        if self.rng.random() < 0.5:
            return evil
        if where in ID_FIELDS:  # a bounded set of orders and customers: pages for each
            return f"{plain[:3]}{evil}"
        cut = self.rng.randrange(len(plain) + 1)
        return plain[:cut] + evil + plain[cut:]


def any_value(rng: random.Random, strings: Strings, depth: int = 0) -> common_pb2.AnyValue:
    """A random AnyValue of any type, arrays and key-value lists a few levels deep."""
    kind = rng.choice(["string", "bool", "int", "double", "bytes", "array", "kvlist"])
    if depth >= 3 and kind in ("array", "kvlist"):
        kind = "string"
    if kind == "string":
        return common_pb2.AnyValue(string_value=strings.pick("attr_value", "value"))
    if kind == "bool":
        return common_pb2.AnyValue(bool_value=rng.random() < 0.5)
    if kind == "int":
        return common_pb2.AnyValue(
            int_value=rng.choice([0, 1, -1, 2**63 - 1, -(2**63), rng.randrange(-(10**6), 10**6)])
        )
    if kind == "double":
        return common_pb2.AnyValue(
            double_value=rng.choice(
                [0.0, -0.0, 1.5, 1e308, -1e308, 5e-324, float("inf"), float("-inf"), float("nan")]
            )
        )
    if kind == "bytes":
        return common_pb2.AnyValue(bytes_value=rng.randbytes(rng.randrange(0, 40)))
    values = [any_value(rng, strings, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == "array":
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=values))
    pairs = [
        common_pb2.KeyValue(key=strings.pick("attr_key", f"k{n}"), value=value)
        for n, value in enumerate(values)
    ]
    return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=pairs))


def kv(key: str, value: common_pb2.AnyValue) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=value)


def text(value: str) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(string_value=value)


@dataclass
class Built:
    """A valid request, with the trace ids its spans carry (hex)."""

    message: trace_service_pb2.ExportTraceServiceRequest
    trace_ids: list[str]


def build_request(rng: random.Random, now_ns: int, strings: Strings, failed: bool = False) -> Built:
    """One or two traces of an order (resource per service, spans with business attributes,
    state-change events and extra attributes of every type)."""
    resource_spans = []
    trace_ids = []
    for _ in range(rng.randrange(1, 3)):
        trace_id = rng.randbytes(16)
        trace_ids.append(trace_id.hex())
        order = strings.pick("order_id", rng.choice(ORDER_IDS))
        customer = strings.pick("customer_id", rng.choice(CUSTOMER_IDS))
        start = now_ns - rng.randrange(0, 3 * 3600) * 10**9
        root_id = rng.randbytes(8)
        for service_number, service in enumerate(rng.sample(SERVICES, rng.randrange(1, 3))):
            spans = []
            for n in range(rng.randrange(1, 4)):
                span_id = root_id if service_number == 0 and n == 0 else rng.randbytes(8)
                begin = start + rng.randrange(0, 10**9)
                attributes = [
                    kv(strings.pick("business_key", "order.id"), text(order)),
                    kv("customer.id", text(customer)),
                    kv("customer.type", text(strings.pick("attr_value", "retail"))),
                ] + [
                    kv(strings.pick("attr_key", f"attr.{k}"), any_value(rng, strings))
                    for k in range(rng.randrange(0, 5))
                ]
                events = [
                    trace_pb2.Span.Event(
                        time_unix_nano=begin + 1000,
                        name=strings.pick("event_name", "order.state_changed"),
                        attributes=[
                            kv(
                                strings.pick("attr_key", "order.state.new"),
                                text(strings.pick("attr_value", rng.choice(STATES))),
                            )
                        ],
                    )
                    for _ in range(rng.randrange(0, 3))
                ]
                spans.append(
                    trace_pb2.Span(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=b"" if span_id == root_id else root_id,
                        name=strings.pick("span_name", rng.choice(SPAN_NAMES)),
                        kind=rng.randrange(0, 6),
                        start_time_unix_nano=begin,
                        end_time_unix_nano=begin + rng.randrange(1, 10**9),
                        attributes=attributes,
                        events=events,
                        status=trace_pb2.Status(
                            code=2 if failed else rng.choice([0, 0, 1, 2]),
                            message=strings.pick("status_message", ""),
                        ),
                    )
                )
            resource = resource_pb2.Resource(
                attributes=[
                    kv("service.name", text(strings.pick("service_name", service))),
                    kv(strings.pick("attr_key", "host.name"), text("host-1")),
                ]
            )
            scope = common_pb2.InstrumentationScope(
                name=strings.pick("scope_name", "io.opentelemetry"), version="1.0"
            )
            resource_spans.append(
                trace_pb2.ResourceSpans(
                    resource=resource,
                    scope_spans=[trace_pb2.ScopeSpans(scope=scope, spans=spans)],
                )
            )
    message = trace_service_pb2.ExportTraceServiceRequest(resource_spans=resource_spans)
    return Built(message, trace_ids)


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def to_json(message, rng: random.Random | None = None) -> dict:
    """The message as OTLP JSON: camelCase, ids in hex, enums as numbers (or names)."""
    document = json_format.MessageToDict(
        message, use_integers_for_enums=rng is None or rng.random() < 0.7
    )

    def hex_ids(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_FIELDS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hex_ids(value)
        elif isinstance(node, list):
            for item in node:
                hex_ids(item)

    hex_ids(document)
    return document


def json_bytes(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


# --- Raw protobuf (what the message classes refuse to build) -------------------------------


def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def delimited(field_number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(field_number << 3 | 2) + varint(len(payload)) + payload


def nested_value(depth: int, kvlist: bool) -> bytes:
    """An AnyValue `depth` arrays (or key-value lists) deep, as bytes."""
    value = delimited(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        if kvlist:  # AnyValue.kvlist_value = KeyValueList{values: KeyValue{key, value}}
            value = delimited(6, delimited(1, delimited(1, b"k") + delimited(2, value)))
        else:  # AnyValue.array_value = ArrayValue{values: AnyValue}
            value = delimited(5, delimited(1, value))
    return value


def request_with_span_bytes(span: trace_pb2.Span, extra: bytes, service: str) -> bytes:
    """An ExportTraceServiceRequest of one span, the span's bytes followed by `extra` (its
    fields, e.g. an attribute no message class would build)."""
    resource = resource_pb2.Resource(attributes=[kv("service.name", text(service))])
    scope_spans = delimited(2, span.SerializeToString() + extra)
    resource_spans = delimited(1, resource.SerializeToString()) + delimited(2, scope_spans)
    return delimited(1, resource_spans)


# --- Cases -------------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    kind: str
    body: bytes = b""
    content_type: str | None = PROTO
    encoding: str | None = None
    allowed: frozenset[int] = frozenset({200})
    raw: bytes | None = None  # a whole HTTP request, sent over a socket as it is
    trace_ids: tuple[str, ...] = ()  # all stored when answered 200 without rejected spans
    whole: bool = False  # valid: no span may be rejected
    may_close: bool = False  # the request is incomplete: closing without an answer is right
    note: str = ""

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": AUTH}
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        if self.encoding is not None:
            headers["Content-Encoding"] = self.encoding
        return headers

    def describe(self, limit: int = 160) -> str:
        data = self.raw if self.raw is not None else self.body
        return (
            f"case {self.index} [{self.kind}] {self.note} content-type={self.content_type!r} "
            f"encoding={self.encoding!r} {len(data)} bytes: {data[:limit]!r}"
        )


@dataclass
class Context:
    rng: random.Random
    now_ns: int
    index: int

    def built(
        self, hostile: set[str] | frozenset[str] = frozenset(), pool: list[str] = HOSTILE
    ) -> Built:
        return build_request(self.rng, self.now_ns, Strings(self.rng, set(hostile), pool))

    def case(self, kind: str, **kwargs) -> Case:
        return Case(self.index, kind, **kwargs)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def encoded(ctx: Context, built: Built) -> tuple[bytes, str]:
    """The request as protobuf or JSON, at random."""
    if ctx.rng.random() < 0.5:
        return built.message.SerializeToString(), PROTO
    return json_bytes(to_json(built.message, ctx.rng)), JSON


HOSTILE_FIELDS = {
    "attr_value",
    "attr_key",
    "span_name",
    "event_name",
    "service_name",
    "scope_name",
    "status_message",
}
ID_FIELDS = {"order_id", "customer_id"}
OK_OR_BAD = frozenset({200, 400})


def k_valid(ctx: Context) -> Case:
    built = ctx.built()
    body, content_type = encoded(ctx, built)
    return ctx.case(
        "valid",
        body=body,
        content_type=content_type,
        trace_ids=tuple(built.trace_ids),
        whole=True,
    )


def k_valid_gzip(ctx: Context) -> Case:
    built = ctx.built()
    body, content_type = encoded(ctx, built)
    encoding = ctx.rng.choice(["gzip", "gzip", "deflate", "GZIP"])
    data = gz(body) if encoding.lower() == "gzip" else zlib.compress(body)
    return ctx.case(
        "valid-compressed",
        body=data,
        content_type=content_type,
        encoding=encoding,
        trace_ids=tuple(built.trace_ids),
        whole=True,
    )


def k_gzip_members(ctx: Context) -> Case:
    """Two requests (or the same twice) in two gzip members: protobuf messages concatenate
    into one, so the inflated body is valid protobuf."""
    first, second = ctx.built(), ctx.built()
    if ctx.rng.random() < 0.3:
        second = first
    body = gz(first.message.SerializeToString()) + gz(second.message.SerializeToString())
    return ctx.case(
        "gzip-members",
        body=body,
        encoding="gzip",
        trace_ids=tuple(first.trace_ids + second.trace_ids),
        whole=True,
    )


@functools.lru_cache(maxsize=4)
def big_member(variant: int) -> tuple[bytes, int]:
    """(gzip member, its inflated size): a request of one span with 20 attributes of 60,000
    random hex characters, 1.2 MB in all (made once per variant: it takes a tenth of a
    second)."""
    rng = random.Random(variant)
    padding = trace_pb2.Span(
        trace_id=rng.randbytes(16),
        span_id=rng.randbytes(8),
        name="padding",
        start_time_unix_nano=1_700_000_000 * 10**9,
        end_time_unix_nano=1_700_000_000 * 10**9 + 1,
        attributes=[kv(f"pad.{n}", text(rng.randbytes(30_000).hex())) for n in range(20)],
    )
    big = request_with_span_bytes(padding, b"", "shop-api")
    return gz(big), len(big)


def k_gzip_members_big(ctx: Context) -> Case:
    """Two gzip members, the first inflating past 1 MiB (under the receiver's limits)."""
    built = ctx.built()
    first, inflated = big_member(ctx.rng.randrange(4))
    return ctx.case(
        "gzip-members-big",
        body=first + gz(built.message.SerializeToString()),
        encoding="gzip",
        allowed=frozenset({200, 400, 413}),
        note=f"first member inflates to {inflated} bytes",
    )


def k_hostile_strings(ctx: Context) -> Case:
    built = ctx.built(HOSTILE_FIELDS, HOSTILE + LINE_BREAKS)
    body, content_type = encoded(ctx, built)
    return ctx.case(
        "hostile-strings", body=body, content_type=content_type, trace_ids=tuple(built.trace_ids)
    )


def k_hostile_ids(ctx: Context) -> Case:
    built = ctx.built(ID_FIELDS)
    body, content_type = encoded(ctx, built)
    return ctx.case(
        "hostile-ids", body=body, content_type=content_type, trace_ids=tuple(built.trace_ids)
    )


def k_line_breaks_in_ids(ctx: Context) -> Case:
    built = ctx.built(ID_FIELDS, LINE_BREAKS)
    body, content_type = encoded(ctx, built)
    return ctx.case(
        "line-breaks-in-ids", body=body, content_type=content_type, trace_ids=tuple(built.trace_ids)
    )


def _timestamps(ctx: Context, kind: str, choices: list[int]) -> Case:
    built = ctx.built()
    for resource_spans in built.message.resource_spans:
        for span in resource_spans.scope_spans[0].spans:
            span.start_time_unix_nano = ctx.rng.choice(choices)
            span.end_time_unix_nano = ctx.rng.choice(choices + [span.start_time_unix_nano])
            for event in span.events:
                event.time_unix_nano = ctx.rng.choice(choices)
    body, content_type = encoded(ctx, built)
    return ctx.case(
        kind,
        body=body,
        content_type=content_type,
        allowed=OK_OR_BAD,
        trace_ids=tuple(built.trace_ids),
    )


def k_timestamps(ctx: Context) -> Case:
    """Spans at the wall clock's now, far in the future (2100, 2262) or past (1970), ending
    before they start."""
    now = time.time_ns()
    choices = [now, now + 1, now - 1, 2**63 - 1, 0, 1, 10**9, 4102444800 * 10**9]
    return _timestamps(ctx, "timestamps", choices)


def k_timestamps_u64(ctx: Context) -> Case:
    """Times past the signed 64-bit range (fixed64 in protobuf, up to 2**64 - 1)."""
    choices = [2**63, 2**63 + 1, 2**64 - 1, 10**19, ctx.now_ns]
    return _timestamps(ctx, "timestamps-u64", choices)


def k_id_lengths(ctx: Context) -> Case:
    built = ctx.built()
    lengths = [0, 1, 4, 7, 9, 15, 17, 32, 64, 300]
    for resource_spans in built.message.resource_spans:
        for span in resource_spans.scope_spans[0].spans:
            which = ctx.rng.choice(["trace_id", "span_id", "parent_span_id"])
            setattr(span, which, ctx.rng.randbytes(ctx.rng.choice(lengths)))
    body, content_type = encoded(ctx, built)
    return ctx.case("id-lengths", body=body, content_type=content_type, allowed=OK_OR_BAD)


def k_deep_nesting(ctx: Context) -> Case:
    """An attribute 300 arrays or key-value lists deep."""
    depth = ctx.rng.choice([64, 100, 101, 300])
    kvlist = ctx.rng.random() < 0.5
    span = trace_pb2.Span(
        trace_id=ctx.rng.randbytes(16),
        span_id=ctx.rng.randbytes(8),
        name="deep",
        start_time_unix_nano=ctx.now_ns,
        end_time_unix_nano=ctx.now_ns + 1000,
        attributes=[kv("order.id", text(ctx.rng.choice(ORDER_IDS)))],
    )
    if ctx.rng.random() < 0.5:
        attribute = delimited(9, delimited(1, b"deep") + delimited(2, nested_value(depth, kvlist)))
        body = request_with_span_bytes(span, attribute, "shop-api")
        content_type = PROTO
    else:
        document = to_json(
            trace_service_pb2.ExportTraceServiceRequest(
                resource_spans=[
                    trace_pb2.ResourceSpans(
                        resource=resource_pb2.Resource(
                            attributes=[kv("service.name", text("shop-api"))]
                        ),
                        scope_spans=[trace_pb2.ScopeSpans(spans=[span])],
                    )
                ]
            )
        )
        document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
            {"key": "deep", "value": "@@DEEP@@"}
        )
        # As text: json.dumps itself recurses too deep for it.
        opening, closing = (
            ('{"kvlistValue": {"values": [{"key": "k", "value": ', "}]}}")
            if kvlist
            else ('{"arrayValue": {"values": [', "]}}")
        )
        value = opening * depth + '{"stringValue": "leaf"}' + closing * depth
        body = json_bytes(document).replace(b'"@@DEEP@@"', value.encode())
        content_type = JSON
    return ctx.case(
        "deep-nesting",
        body=body,
        content_type=content_type,
        allowed=OK_OR_BAD,
        note=f"{depth} {'kvlist' if kvlist else 'array'} levels",
    )


HUGE_NUMBERS = [
    "9" * 400,
    "-" + "9" * 400,
    "18446744073709551616",
    "-1",
    "1e400",
    "-1e400",
    "1.5",
    "0x10",
    '"' + "9" * 400 + '"',
    '"-1"',
    '"NaN"',
    '"Infinity"',
    "null",
    "true",
    "[]",
    "{}",
]


def _json_with_number(ctx: Context, fields: list[str]) -> Case:
    """A JSON request with one number field of a span replaced by a huge, negative or
    ill-typed value (JSON text, so that the encoder does not normalise it)."""
    built = ctx.built()
    document = to_json(built.message, ctx.rng)
    marker = "@@NUMBER@@"
    spans = [
        span for rs in document["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]
    ]
    span = ctx.rng.choice(spans)
    where = ctx.rng.choice(fields)
    if where == "intValue":
        span.setdefault("attributes", []).append({"key": "n", "value": {"intValue": marker}})
    elif where == "doubleValue":
        span.setdefault("attributes", []).append({"key": "d", "value": {"doubleValue": marker}})
    elif where == "event":
        span["events"] = [{"name": "order.state_changed", "timeUnixNano": marker}]
    elif where == "kind":
        span["kind"] = marker
    elif where == "code":
        span["status"] = {"code": marker}
    else:
        span[where] = marker
    number = ctx.rng.choice(HUGE_NUMBERS)
    body = json_bytes(document).replace(f'"{marker}"'.encode(), number.encode())
    return ctx.case(
        "huge-times" if fields == TIME_FIELDS else "huge-numbers",
        body=body,
        content_type=JSON,
        allowed=OK_OR_BAD,
        note=f"{where}={number[:12]} ({len(number)} characters)",
    )


TIME_FIELDS = ["startTimeUnixNano", "endTimeUnixNano", "event"]


def k_huge_times(ctx: Context) -> Case:
    return _json_with_number(ctx, TIME_FIELDS)


def k_huge_numbers(ctx: Context) -> Case:
    return _json_with_number(
        ctx, ["intValue", "doubleValue", "kind", "code", "droppedAttributesCount"]
    )


def k_long_strings(ctx: Context) -> Case:
    """Names and values of 60 KiB to 1 MiB, and thousands of attributes."""
    built = ctx.built()
    size = ctx.rng.choice([60_000, 65_537, 200_000, 1_000_000])
    span = built.message.resource_spans[0].scope_spans[0].spans[0]
    where = ctx.rng.choice(["name", "value", "key", "many", "event", "service"])
    if where == "name":
        span.name = "n" * size
    elif where == "value":
        span.attributes.append(kv("long", text("v" * size)))
    elif where == "key":
        span.attributes.append(kv("k" * size, text("v")))
    elif where == "event":
        span.events.append(trace_pb2.Span.Event(name="e" * size, time_unix_nano=ctx.now_ns))
    elif where == "service":
        resource = built.message.resource_spans[0].resource
        resource.attributes[0].value.string_value = "s" * size
    else:
        span.attributes.extend(kv(f"a{n}", text("x")) for n in range(size // 100))
    body, content_type = encoded(ctx, built)
    return ctx.case(
        "long-strings",
        body=body,
        content_type=content_type,
        allowed=frozenset({200, 400, 413}),
        note=f"{where} {size}",
        trace_ids=tuple(built.trace_ids),
    )


def _invalid_utf8(ctx: Context) -> bytes:
    return ctx.rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"])


def k_invalid_utf8(ctx: Context) -> Case:
    """Invalid UTF-8 in a string field: put in place of a marker of the same length, so that
    protobuf lengths stay right."""
    built = ctx.built()
    span = built.message.resource_spans[0].scope_spans[0].spans[0]
    marker = "@@UTF8@@"
    where = ctx.rng.choice(["name", "value", "key", "order"])
    if where == "name":
        span.name = marker
    elif where == "value":
        span.attributes.append(kv("bad", text(marker)))
    elif where == "key":
        span.attributes.append(kv(marker, text("bad")))
    else:
        span.attributes[0].value.string_value = marker
    body, content_type = encoded(ctx, built)
    bad = _invalid_utf8(ctx)
    body = body.replace(marker.encode(), (bad * len(marker))[: len(marker)], 1)
    return ctx.case(
        "invalid-utf8",
        body=body,
        content_type=content_type,
        allowed=OK_OR_BAD,
        note=f"{where} {bad!r}",
    )


def _flipped(rng: random.Random, data: bytes, flips: int) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def k_bit_flips(ctx: Context) -> Case:
    built = ctx.built()
    body, content_type = encoded(ctx, built)
    encoding = None
    if ctx.rng.random() < 0.3:
        body, encoding = gz(body), "gzip"
    flips = ctx.rng.choice([1, 2, 8, 64])
    return ctx.case(
        "bit-flips",
        body=_flipped(ctx.rng, body, flips),
        content_type=content_type,
        encoding=encoding,
        allowed=frozenset({200, 400, 413}),
        note=f"{flips} flips",
    )


def k_truncated(ctx: Context) -> Case:
    built = ctx.built()
    body, content_type = encoded(ctx, built)
    encoding = None
    if ctx.rng.random() < 0.3:
        body, encoding = gz(body), "gzip"
    cut = ctx.rng.randrange(len(body))
    return ctx.case(
        "truncated",
        body=body[:cut],
        content_type=content_type,
        encoding=encoding,
        allowed=OK_OR_BAD,
        note=f"cut at {cut} of {len(body)}",
    )


def k_gzip_garbage(ctx: Context) -> Case:
    garbage = ctx.rng.randbytes(ctx.rng.randrange(0, 5000))
    return ctx.case(
        "gzip-garbage",
        body=gz(garbage),
        content_type=ctx.rng.choice([PROTO, JSON]),
        encoding="gzip",
        allowed=OK_OR_BAD,
    )


@functools.lru_cache(maxsize=16)
def bomb(size: int, fill: bytes, layers: int, deflate: bool) -> bytes:
    """`size` bytes of `fill` compressed (made once: it takes up to half a second)."""
    data = fill * size
    for _ in range(layers):
        data = zlib.compress(data, 9) if deflate else gz(data)
    return data


def k_gzip_bomb(ctx: Context) -> Case:
    """A few KiB that inflate to 10-100 MiB; or gzip inside gzip."""
    size = ctx.rng.choice([10, 50, 100]) << 20
    layers = 2 if ctx.rng.random() < 0.3 else 1
    deflate = layers == 1 and ctx.rng.random() < 0.3
    body = bomb(size, ctx.rng.choice([b"\x00", b" "]), layers, deflate)
    return ctx.case(
        "gzip-bomb",
        body=body,
        content_type=ctx.rng.choice([PROTO, JSON]),
        encoding="deflate" if deflate else "gzip",
        allowed=frozenset({400, 413}),
        note=f"{len(body)} bytes inflating to {size} ({layers} layers)",
    )


def k_double_gzip(ctx: Context) -> Case:
    built = ctx.built()
    body, content_type = encoded(ctx, built)
    return ctx.case(
        "double-gzip",
        body=gz(gz(body)),
        content_type=content_type,
        encoding="gzip",
        allowed=frozenset({400}),
    )


def k_wrong_encoding(ctx: Context) -> Case:
    built = ctx.built()
    body, content_type = encoded(ctx, built)
    choice = ctx.rng.choice(["gzip-plain", "deflate-gzip", "identity-gzip", "other"])
    if choice == "gzip-plain":  # says gzip, is not
        return ctx.case(
            "wrong-encoding",
            body=body,
            content_type=content_type,
            encoding="gzip",
            allowed=frozenset({400}),
            note=choice,
        )
    if choice == "deflate-gzip":  # says deflate, is gzip (inflate's header detection may read it)
        return ctx.case(
            "wrong-encoding",
            body=gz(body),
            content_type=content_type,
            encoding="deflate",
            allowed=OK_OR_BAD,
            note=choice,
        )
    if choice == "identity-gzip":  # says nothing, is gzip
        return ctx.case(
            "wrong-encoding",
            body=gz(body),
            content_type=content_type,
            encoding=ctx.rng.choice([None, "identity"]),
            allowed=frozenset({200, 400, 413}),
            note=choice,
        )
    encoding = ctx.rng.choice(["br", "zstd", "x-gzip, gzip", "gzip;q=1", "\x00", "compress", "é"])
    return ctx.case(
        "wrong-encoding",
        body=body,
        content_type=content_type,
        encoding=encoding,
        allowed=frozenset({400, 415}),
        note=f"encoding {encoding!r}",
    )


def k_wrong_content_type(ctx: Context) -> Case:
    built = ctx.built()
    proto = built.message.SerializeToString()
    document = json_bytes(to_json(built.message))
    choice = ctx.rng.choice(["none", "other", "json-proto", "proto-json", "params"])
    if choice == "none":
        return ctx.case(
            "wrong-content-type", body=proto, content_type=None, allowed=frozenset({415})
        )
    if choice == "other":
        content_type = ctx.rng.choice(["text/plain", "application/xml", "multipart/form-data", "*"])
        return ctx.case(
            "wrong-content-type",
            body=proto,
            content_type=content_type,
            allowed=frozenset({415}),
            note=content_type,
        )
    if choice == "json-proto":  # says JSON, is protobuf
        return ctx.case("wrong-content-type", body=proto, content_type=JSON, allowed=OK_OR_BAD)
    if choice == "proto-json":  # says protobuf, is JSON
        return ctx.case("wrong-content-type", body=document, content_type=PROTO, allowed=OK_OR_BAD)
    return ctx.case(
        "wrong-content-type",
        body=document,
        content_type="Application/JSON; charset=utf-8; x=\x7f",
        allowed=frozenset({200, 400, 415}),
        note="with parameters",
    )


def k_json_shapes(ctx: Context) -> Case:
    """Valid JSON of the wrong shape: wrong types, nulls, snake_case, other top levels."""
    built = ctx.built()
    document = to_json(built.message, ctx.rng)
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    choice = ctx.rng.choice(
        [
            "resourceSpans-object",
            "spans-string",
            "attributes-object",
            "nulls",
            "snake",
            "array",
            "value-types",
            "empty-object",
            "deep-json",
            "key-types",
        ]
    )
    body: bytes
    if choice == "resourceSpans-object":
        document["resourceSpans"] = document["resourceSpans"][0]
    elif choice == "spans-string":
        document["resourceSpans"][0]["scopeSpans"][0]["spans"] = "spans"
    elif choice == "attributes-object":
        span["attributes"] = {"order.id": "A-100001"}
    elif choice == "nulls":
        for key in list(span):
            if ctx.rng.random() < 0.5:
                span[key] = None
    elif choice == "snake":
        span["trace_id"] = span.pop("traceId")
        span["start_time_unix_nano"] = span.pop("startTimeUnixNano")
    elif choice == "array":
        document = [document]  # type: ignore[assignment]
    elif choice == "value-types":
        span["attributes"] = [
            {"key": "a", "value": ctx.rng.choice([None, 1, "s", [], {"stringValue": 1}])},
            {"key": 5, "value": {"stringValue": "x"}},
            {"value": {"boolValue": "yes"}},
            {"key": "b", "value": {"bytesValue": "not base64!"}},
            {"key": "c", "value": {"arrayValue": {"values": {"x": 1}}}},
            {"key": "d", "value": {"kvlistValue": {"values": [1, 2]}}},
            {"key": "e", "value": {"intValue": "12abc"}},
        ][: ctx.rng.randrange(1, 8)]
    elif choice == "empty-object":
        document = {}
    elif choice == "key-types":
        span["traceId"] = ctx.rng.choice([12, None, ["a"], "zz" * 16, "AAAA", "\x00" * 32])
    if choice == "deep-json":
        depth = ctx.rng.choice([300, 5000, 100_000])
        body = b'{"resourceSpans": ' + b"[" * depth + b"]" * depth + b"}"
    else:
        body = json_bytes(document)
    return ctx.case("json-shapes", body=body, content_type=JSON, allowed=OK_OR_BAD, note=choice)


def k_empty(ctx: Context) -> Case:
    content_type = ctx.rng.choice([PROTO, JSON])
    encoding = ctx.rng.choice([None, "gzip"])
    body = ctx.rng.choice([b"", b" ", b"\x00", b"{}", b"\n"])
    return ctx.case(
        "empty",
        body=body,
        content_type=content_type,
        encoding=encoding,
        allowed=OK_OR_BAD,
        note=repr(body),
    )


def k_raw_http(ctx: Context) -> Case:
    """Over a raw socket: Content-Length larger than the body (the client then stops
    sending), smaller, missing, or not a number; chunked."""
    built = ctx.built()
    body = built.message.SerializeToString()
    choice = ctx.rng.choice(["longer", "shorter", "missing", "nan", "negative", "chunked"])
    length = {
        "longer": str(len(body) + ctx.rng.randrange(1, 1000)),
        "shorter": str(max(0, len(body) - ctx.rng.randrange(1, 50))),
        "missing": None,
        "nan": "12abc",
        "negative": "-5",
        "chunked": None,
    }[choice]
    lines = [
        "POST /v1/traces HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: {AUTH}",
        f"Content-Type: {PROTO}",
        "Connection: close",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    payload = body
    if choice == "chunked":
        lines.append("Transfer-Encoding: chunked")
        payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    return ctx.case(
        "raw-http",
        body=body,
        raw=raw,
        allowed=frozenset({200, 400, 411}),
        note=f"Content-Length {choice}: {length}",
        may_close=choice == "longer",
    )


EVERY_FIELD = "every-field"


def every_field_cases(now_ns: int) -> list[Case]:
    """One request per hostile string, in every string field of every span but the service
    name (whole, or after a plain id's first characters), the spans failed so that pages show
    their status messages too: sent before the random cases, their traces' pages visited
    first."""
    cases = []
    for number, evil in enumerate(HOSTILE):
        rng = random.Random(f"{EVERY_FIELD}:{number}")
        # Plain service names: spans on the model's containers, their messages on diagrams.
        fields = (HOSTILE_FIELDS - {"service_name"}) | ID_FIELDS
        strings = Strings(rng, fields, [evil], plain_share=0.0)
        built = build_request(rng, now_ns, strings, failed=True)
        cases.append(
            Case(
                -1 - number,
                EVERY_FIELD,
                body=built.message.SerializeToString(),
                trace_ids=tuple(built.trace_ids),
                note=f"{evil[:20]!r}",
            )
        )
    return cases


# name -> (weight, maker). The weights favour the kinds that reach deepest (whole requests).
KINDS: dict[str, tuple[int, Callable[[Context], Case]]] = {
    "valid": (6, k_valid),
    "valid-compressed": (3, k_valid_gzip),
    "gzip-members": (2, k_gzip_members),
    "gzip-members-big": (1, k_gzip_members_big),
    "hostile-strings": (8, k_hostile_strings),
    "hostile-ids": (5, k_hostile_ids),
    "line-breaks-in-ids": (2, k_line_breaks_in_ids),
    "timestamps": (3, k_timestamps),
    "timestamps-u64": (1, k_timestamps_u64),
    "id-lengths": (3, k_id_lengths),
    "deep-nesting": (2, k_deep_nesting),
    "huge-times": (2, k_huge_times),
    "huge-numbers": (3, k_huge_numbers),
    "long-strings": (2, k_long_strings),
    "invalid-utf8": (3, k_invalid_utf8),
    "bit-flips": (8, k_bit_flips),
    "truncated": (5, k_truncated),
    "gzip-garbage": (2, k_gzip_garbage),
    "gzip-bomb": (1, k_gzip_bomb),
    "double-gzip": (1, k_double_gzip),
    "wrong-encoding": (2, k_wrong_encoding),
    "wrong-content-type": (2, k_wrong_content_type),
    "json-shapes": (4, k_json_shapes),
    "empty": (1, k_empty),
    "raw-http": (2, k_raw_http),
}
# The kinds that found the failures known before the fixes of issue 26 (FUZZ_SKIP=known).
KNOWN_BAD = {"gzip-members-big", "line-breaks-in-ids", "huge-times"}


def skipped_kinds(value: str) -> set[str]:
    """FUZZ_SKIP: kind names, comma-separated; "known" stands for KNOWN_BAD."""
    names = {name.strip() for name in value.split(",") if name.strip()}
    if "known" in names:
        names = (names - {"known"}) | KNOWN_BAD
    unknown = names - set(KINDS) - {EVERY_FIELD}
    if unknown:
        raise ValueError(f"FUZZ_SKIP names unknown kinds {sorted(unknown)}; kinds: {sorted(KINDS)}")
    return names


def make_case(seed: int, index: int, now_ns: int) -> Case:
    """Case `index` of the run of `seed`: the same bytes every time (but for the kind that
    takes the wall clock)."""
    rng = random.Random(f"{seed}:{index}")
    names = list(KINDS)
    kind = rng.choices(names, weights=[KINDS[name][0] for name in names])[0]
    return KINDS[kind][1](Context(rng, now_ns, index))


# --- Sending -----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer (timeout, connection closed)
    seconds: float
    error: str = ""
    rejected: int = 0
    message: str = ""

    def hung(self, case: Case) -> bool:
        """No answer, and no closed connection for a request that allows one."""
        return self.status is None and not (case.may_close and self.error.startswith("closed"))


def partial_success(body: bytes, content_type: str) -> tuple[int, str]:
    """(rejected spans, message) of a 200 answer."""
    if content_type.startswith(JSON):
        found = json.loads(body or b"{}").get("partialSuccess", {})
        return int(found.get("rejectedSpans", 0)), found.get("errorMessage", "")
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
    return response.partial_success.rejected_spans, response.partial_success.error_message


class Sender:
    """One client connection (kept alive between requests, as exporters do)."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def send(self, case: Case) -> Answer:
        started = time.monotonic()
        try:
            if case.raw is not None:
                status, body, content_type = self._raw(case)
            else:
                reused = self.connection is not None
                try:
                    status, body, content_type = self._http(case)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    if not reused:
                        raise
                    # A kept-alive connection the server had closed meanwhile: a new one.
                    self.close()
                    status, body, content_type = self._http(case)
        except TimeoutError as exc:
            self.close()
            return Answer(None, time.monotonic() - started, f"timeout: {exc}")
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Answer(None, time.monotonic() - started, f"closed: {type(exc).__name__}: {exc}")
        answer = Answer(status, time.monotonic() - started)
        if status == 200:
            try:
                answer.rejected, answer.message = partial_success(body, content_type)
            except (ValueError, TypeError) as exc:
                answer.error = f"unreadable 200 answer {body[:100]!r}: {exc}"
        else:
            answer.message = body[:300].decode("utf-8", "replace")
        return answer

    def _http(self, case: Case) -> tuple[int, bytes, str]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=self.timeout
            )
        self.connection.request("POST", "/v1/traces", case.body, case.headers())
        response = self.connection.getresponse()
        body = response.read()
        if response.will_close:
            self.close()
        return response.status, body, response.getheader("Content-Type", "")

    def _raw(self, case: Case) -> tuple[int, bytes, str]:
        assert case.raw is not None
        with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as sock:
            sock.sendall(case.raw)
            sock.shutdown(socket.SHUT_WR)  # nothing more comes: a longer length reads to the end
            response = http.client.HTTPResponse(sock)
            response.begin()
            return response.status, response.read(), response.getheader("Content-Type", "")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# --- The receiver's processes --------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants alive now."""
    found = [pid]
    for parent in found:
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as listed:
                    found += [int(child) for child in listed.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def peak_rss_bytes(pid: int) -> tuple[str, int] | None:
    """(command line, VmHWM in bytes) of a process, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return command.strip()[:120], int(line.split()[1]) * 1024
    return None


@dataclass
class PeakMemory:
    """The highest VmHWM seen of each process of a tree, sampled while it runs."""

    peaks: dict[int, tuple[str, int]] = field(default_factory=dict)

    def sample(self, root: int) -> None:
        for pid in process_tree(root):
            found = peak_rss_bytes(pid)
            if found and found[1] >= self.peaks.get(pid, ("", 0))[1]:
                self.peaks[pid] = found


def save_case(folder: Path, case: Case, answer: Answer | None, why: str) -> Path:
    """The case's request in a file of its own (body, or the raw request), with a
    description beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"case-{case.index}-{case.kind}.bin"
    path.write_bytes(case.raw if case.raw is not None else case.body)
    path.with_suffix(".txt").write_text(
        f"{why}\n{case.describe(400)}\nheaders: {case.headers()}\nanswer: {answer}\n"
    )
    return path
