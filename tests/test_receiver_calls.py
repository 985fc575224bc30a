"""Calls paired across pieces (explorer.receiver.calls): every simulated trace, cut into
pieces sent in a random order (a piece twice), gives the system map's hourly figures the
store computes over the whole trace (explorer.store.traffic.contributions), and its record
survives encode/decode between pieces; nothing is paired unless
EXPLORER_RECEIVER_INDEX_TRAFFIC is on. No database but for the test that reads the store's
settings from it (about 2 s in all)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from explorer.receiver import index
from explorer.receiver.calls import Calls, decode, encode, pair
from explorer.receiver.facts import index_facts
from explorer.store.ingest import store_settings
from explorer.store.prepare import span_key
from explorer.store.traffic import Key, Traffic, contributions
from explorer.traces.model import SpanKind, Trace
from tests.simulation_support import simulated


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    """The simulation's traces, and each again with its spans' attributes left out: no peer
    rule names the other end of a call then, so the client span pairs with its server child
    (and a server span under an internal one with that span's element)."""
    found = simulated(orders=30, days=2, seed=29).traces()
    bare = []
    for trace in found:
        spans = [replace(s, attributes={}) for s in trace.spans]
        for s in spans[1::3]:  # some internal spans between the calls
            if s.kind == SpanKind.CLIENT:
                s.kind = SpanKind.INTERNAL
        bare.append(Trace(trace.trace_id, spans))
    return found + bare


def _sum(into: dict[Key, Traffic], more: dict[Key, Traffic]) -> None:
    for key, traffic in more.items():
        into.setdefault(key, Traffic()).merge(traffic)


def _pieces(trace: Trace, rng: random.Random) -> list[list]:
    spans = list(trace.spans)
    rng.shuffle(spans)
    cuts = sorted(rng.sample(range(1, len(spans)), min(len(spans) - 1, rng.randint(0, 4))))
    pieces = [spans[a:b] for a, b in zip([0, *cuts], [*cuts, len(spans)], strict=True)]
    if pieces and rng.random() < 0.3:
        pieces.append(list(rng.choice(pieces)))  # a resent batch
    return pieces


def _received(trace: Trace, pieces: list[list], mapping) -> dict[Key, Traffic]:
    """As the index writer runs it: fresh spans only, the record stored between pieces."""
    totals: dict[Key, Traffic] = {}
    stored, keys = b"", []
    for piece in pieces:
        calls = decode(stored, len(keys))
        fresh = [s for s in piece if span_key(s.span_id, s.kind) not in set(keys)]
        keys += [span_key(s.span_id, s.kind) for s in fresh]
        _sum(totals, pair(calls, keys, fresh, mapping))
        stored = encode(calls)
    return totals


def _nonzero(totals: dict[Key, Traffic]) -> dict:
    return {k: (t.calls, t.errors, t.duration_ns, t.buckets) for k, t in totals.items() if t.calls}


def test_pieces_in_any_order_give_the_whole_trace_figures(traces, mapping):
    rng = random.Random(29)
    expected: dict[Key, Traffic] = {}
    received: dict[Key, Traffic] = {}
    for trace in traces:
        _sum(expected, contributions([trace], mapping))
        _sum(received, _received(trace, _pieces(trace, rng), mapping))
    assert any(key[1] == "pair" for key in expected)  # calls between elements to pair
    assert _nonzero(received) == _nonzero(expected)


def test_a_call_split_across_pieces_counts_once_when_both_are_here(traces, mapping):
    bare = traces[len(traces) // 2 :]  # calls paired by their spans, not by peer rules
    trace = max(bare, key=lambda t: len(contributions([t], mapping)))
    whole = _nonzero(contributions([trace], mapping))
    one_by_one = [[s] for s in reversed(trace.spans)]
    assert _nonzero(_received(trace, one_by_one + one_by_one, mapping)) == whole


def test_the_record_costs_nine_bytes_a_span_plus_the_waiting_ones(traces, mapping):
    for trace in traces[:20]:
        calls = Calls()
        keys = [span_key(s.span_id, s.kind) for s in trace.spans]
        pair(calls, keys, trace.spans, mapping)
        data = encode(calls)
        assert decode(data, len(keys)) == calls
        names = sum(1 + len(e) for e in calls.elements)
        counts = 3  # of elements, spans and waiting spans, as short varints here
        assert len(data) <= counts + names + 9 * len(keys) + 16 * len(calls.pending)


def test_off_by_default_nothing_is_paired(settings, db, traces, mapping):
    config = replace(store_settings(traffic=False), mapping=mapping)
    found = index_facts(traces[:3], ("order.id",))
    settings.EXPLORER_RECEIVER_INDEX_TRAFFIC = False
    pieces = index.pieces_of(found, config)
    assert not pieces.paired and {p.row.calls for p in pieces} == {b""}
    settings.EXPLORER_RECEIVER_INDEX_TRAFFIC = True
    pieces = index.pieces_of(found, config)
    assert pieces.paired and all(p.row.calls for p in pieces)


def test_a_record_covering_fewer_spans_or_none_pairs_with_what_it_covers(traces, mapping):
    trace = traces[-1]
    keys = [span_key(s.span_id, s.kind) for s in trace.spans]
    calls = Calls()
    pair(calls, keys[:2], trace.spans[:2], mapping)
    data = encode(calls)
    later = decode(data, len(keys))  # spans merged while pairing was off: unknown
    assert list(later.parents[:2]) == list(calls.parents) and not any(later.parents[2:])
    assert len(later.owns) == len(keys) and later.pending == calls.pending
    for broken in (data[: len(data) // 2], b"\xff" * 9, data + b"\x00" * 3):
        found = decode(broken, len(keys))
        assert len(found.parents) == len(found.owns) == len(keys)
    assert decode(data, 1) == decode(b"", 1)  # covers more spans than the trace has: none
