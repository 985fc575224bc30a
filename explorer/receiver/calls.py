"""The system map's hourly figures (explorer.store.traffic) in the receiver's index mode,
with a trace's calls paired across the requests that bring its pieces.

A call between elements needs two spans (a client span and its server child, a server span
and its parent, a consumer and its producer parent), which arrive from different services in
different requests. Per indexed trace the index keeps, in the order of its span keys
(IndexedTrace.keys), each span's parent as an 8-byte id hash (span_key(parent, 0): a span's
own key without its kind bits) and its element as a 1-byte number into the trace's own list
of elements: 9 bytes a span. A span whose call still waits for its partner is kept as
pending with what the call counts (its hour, duration and error: 16 bytes) until the
partner arrives (for ever for a client span to a peer that sends no spans and that no peer
rule names). Off unless settings.EXPLORER_RECEIVER_INDEX_TRAFFIC: it costs the receiver
about 40 % more CPU a span (docs/receiver.md).

So when a piece arrives, its spans pair with those already seen, and spans seen before pair
with the new ones; each call is counted once, with the figures of the span
explorer.c4.mapping.interactions counts it on, into the hour that span starts in.

Nothing here holds an id: hashes, element ids of the mapping, numbers.

Where this differs from interactions() over the whole trace (the store's figures): a client
span with two or more server or consumer children of mapped elements pairs with the first
to arrive (the store: the first in the trace's order, of another resource than its own), and
a consumer's links to spans of its own trace are not followed (the simulation's and most
instrumentations' links point to other traces, which no path follows). Spans indexed before
this record existed pair with nothing.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from explorer.c4.mapping import Mapping
from explorer.store.prepare import span_key
from explorer.store.traffic import CALLED, HOUR_NS, PAIR, SERVED, Key, Traffic
from explorer.store.varint import put_varint, read_varint
from explorer.traces.model import SpanKind

_SERVER, _CLIENT, _PRODUCER, _CONSUMER = (
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
)
_ENTRIES = (_SERVER, _CONSUMER)
_CALLERS = (_CLIENT, _PRODUCER)
_PEERED = (_CLIENT, _PRODUCER, _CONSUMER)  # what peer rules name the other end of
_MAX_ELEMENTS = 255  # a trace's elements beyond these count as unmapped (1 byte a span)
_MAX_NS = 2**62 - 1  # a pending duration as kept (a hostile span may claim 292 years)


# A span waiting for its partner: what its call counts (the start of the hour its start is
# in, ns; its duration, ns; whether it is an error). A plain tuple: made for most client spans.
Pending = tuple[int, int, bool]


@dataclass(slots=True)
class Calls:
    """What pairing keeps of one trace, span i being the i-th of its keys."""

    elements: list[str] = field(default_factory=list)
    parents: array = field(default_factory=lambda: array("q"))  # id hash of the parent; 0: none
    owns: bytearray = field(default_factory=bytearray)  # 1 + index into elements; 0: unmapped
    pending: dict[int, Pending] = field(default_factory=dict)

    def number(self, element: str | None) -> int:
        if element is None:
            return 0
        try:
            return self.elements.index(element) + 1
        except ValueError:
            if len(self.elements) >= _MAX_ELEMENTS:
                return 0
            self.elements.append(element)
            return len(self.elements)


def pair(
    calls: Calls, keys: Sequence[int], spans: Sequence, mapping: Mapping
) -> dict[Key, Traffic]:
    """Add `spans` (new to the trace; their keys already at the end of `keys`, in this order)
    to `calls`, and return what they add to the hourly traffic: their own served requests, the
    calls they make or receive whose partner is here, and the calls of earlier spans that were
    waiting for them."""
    out: dict[Key, Traffic] = {}
    first = len(calls.parents)
    # Their id hashes, from their keys: a parent among them is not hashed again.
    hashes = {span.span_id: keys[first + offset] & ~7 for offset, span in enumerate(spans)}
    numbers: dict[str | None, int] = {None: 0}
    for index, span in enumerate(spans, first):
        own = mapping.service_element(span.resource)
        parent_id = span.parent_id
        parent = (hashes.get(parent_id) or span_key(parent_id, 0)) if parent_id else 0
        calls.parents.append(parent)
        number = numbers.get(own)
        if number is None:
            number = numbers[own] = calls.number(own)
        calls.owns.append(number)
        if own is None:
            continue
        kind = span.kind
        hour = span.start_ns - span.start_ns % HOUR_NS
        duration_ns = span.end_ns - span.start_ns
        if kind in _ENTRIES:
            _add(out, (hour, SERVED, own, ""), duration_ns, span.is_error)
        peer = mapping.peer_element(span) if kind in _PEERED else None
        if peer is not None:
            if peer != own:
                caller, callee = (peer, own) if kind == _CONSUMER else (own, peer)
                _call(out, hour, caller, callee, duration_ns, span.is_error)
        elif kind in _CALLERS or (kind in _ENTRIES and parent):
            # its partner: a child (a client span), else its parent (a server or consumer)
            calls.pending[index] = (hour, duration_ns, span.is_error)
    if calls.pending:
        _resolve(calls, keys, out)
    return out


def _resolve(calls: Calls, keys: Sequence[int], out: dict[Key, Traffic]) -> None:
    """Count and drop the pending spans whose partner is now here. The look-ups are built
    when first needed: most pending spans are client spans whose callee sends no spans (a
    database), found in no span's parent at once."""
    parents: set[int] | None = None
    children: dict[int, list[int]] | None = None
    by_hash: dict[int, int] | None = None
    owns = calls.owns
    for i in sorted(calls.pending):
        kind = keys[i] & 7
        if kind in _CALLERS:
            if parents is None:
                parents = set(calls.parents)
            if keys[i] & ~7 not in parents:
                continue
            if children is None:
                children = {}
                for j, parent in enumerate(calls.parents):
                    children.setdefault(parent, []).append(j)
            found = next(
                (j for j in children[keys[i] & ~7] if keys[j] & 7 in _ENTRIES and owns[j]), None
            )
            if found is None:
                continue
            caller, callee = owns[i], owns[found]
        else:
            if by_hash is None:
                by_hash = {key & ~7: j for j, key in enumerate(keys)}  # the last, as by_id
            parent = by_hash.get(calls.parents[i])
            if parent is None:
                continue
            caller, callee = owns[parent], owns[i]
            parent_kind = keys[parent] & 7
            if parent_kind in _CALLERS if kind == _SERVER else parent_kind != _PRODUCER:
                caller = 0  # a client span counts the call; a consumer's parent must produce
        hour, duration_ns, error = calls.pending.pop(i)
        if caller and callee and caller != callee:
            source, target = calls.elements[caller - 1], calls.elements[callee - 1]
            _call(out, hour, source, target, duration_ns, error)


def _call(
    out: dict[Key, Traffic], hour: int, caller: str, callee: str, duration_ns: int, error: bool
) -> None:
    _add(out, (hour, PAIR, caller, callee), duration_ns, error)
    _add(out, (hour, CALLED, callee, ""), duration_ns, error)


def _add(out: dict[Key, Traffic], key: Key, duration_ns: int, error: bool) -> None:
    traffic = out.get(key)
    if traffic is None:
        traffic = out[key] = Traffic()
    traffic.add(duration_ns, error)


def encode(calls: Calls) -> bytes:
    """As IndexedTrace.calls keeps it: the elements (count, then each as length and UTF-8),
    the spans covered (count), their parents (8 bytes each, little-endian) and element
    numbers (1 byte each), the pending spans (their count, then their indexes and hour
    numbers as 4-byte and their duration * 2 + error as 8-byte numbers, little-endian: 16
    bytes a pending span, packed by `array`)."""
    out = bytearray()
    put_varint(out, len(calls.elements))
    for element in calls.elements:
        text = element.encode("utf-8", "surrogatepass")
        put_varint(out, len(text))
        out += text
    waiting = sorted(calls.pending.items())
    put_varint(out, len(calls.parents))
    out += _little(calls.parents)
    out += calls.owns
    put_varint(out, len(waiting))
    out += _little(array("I", [i for i, _ in waiting]))
    out += _little(array("I", [hour // HOUR_NS for _, (hour, _d, _e) in waiting]))
    out += _little(array("q", [min(max(0, d), _MAX_NS) * 2 + e for _, (_h, d, e) in waiting]))
    return bytes(out)


def decode(data: bytes, spans: int) -> Calls:
    """What encode() kept of a trace of `spans` spans. Spans it does not cover (indexed
    before it existed, or while EXPLORER_RECEIVER_INDEX_TRAFFIC was off) have no parent and
    no element; a record that cannot be read counts as none (a write never fails on it)."""
    try:
        calls = _decoded(memoryview(data)) if data else Calls()
    except (IndexError, ValueError, UnicodeDecodeError):
        calls = Calls()
    if len(calls.parents) > spans:
        calls = Calls()
    missing = spans - len(calls.parents)
    calls.parents.extend([0] * missing)
    calls.owns.extend(bytes(missing))
    return calls


def _decoded(view: memoryview) -> Calls:
    calls = Calls()
    count, at = read_varint(view, 0)
    for _ in range(count):
        length, at = read_varint(view, at)
        calls.elements.append(bytes(view[at : at + length]).decode("utf-8", "surrogatepass"))
        at += length
    covered, at = read_varint(view, at)
    numbers = []
    for typecode, size, count in (("q", 8, covered), ("B", 1, covered)):
        numbers.append(_read_little(view, at, typecode, count))
        at += size * count
    calls.parents, calls.owns = numbers[0], bytearray(numbers[1])
    count, at = read_varint(view, at)
    unpacked = []
    for typecode, size in (("I", 4), ("I", 4), ("q", 8)):
        unpacked.append(_read_little(view, at, typecode, count))
        at += size * count
    for i, hour, figure in zip(*unpacked, strict=True):
        if i < covered:
            calls.pending[i] = (hour * HOUR_NS, figure >> 1, bool(figure & 1))
    return calls


def _read_little(view: memoryview, at: int, typecode: str, count: int) -> array:
    numbers = array(typecode)
    part = view[at : at + numbers.itemsize * count]
    if len(part) != numbers.itemsize * count:
        raise ValueError("a record cut short")
    numbers.frombytes(part)
    if sys.byteorder != "little":
        numbers.byteswap()
    return numbers


def _little(numbers: array) -> bytes:
    if sys.byteorder != "little":
        numbers = array(numbers.typecode, numbers)
        numbers.byteswap()
    return numbers.tobytes()
