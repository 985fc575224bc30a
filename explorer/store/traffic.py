"""The system map's figures of some spans, per hour (what explorer.store.hourly keeps): pure,
so that ingest's worker processes compute them while preparing a trace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from explorer.c4.mapping import Mapping, interactions
from explorer.traces.model import Span, SpanKind, Trace

HOUR_NS = 3600 * 10**9
SERVED, CALLED, PAIR = "served", "called", "pair"
# Bucket 0: under 1 µs; bucket i: [2^((i-1)/4), 2^(i/4)) µs; the last one holds the rest.
BUCKETS_PER_DOUBLING = 4
LAST_BUCKET = 4 * 40  # 2^40 µs: about 12 days
_ENTRY_KINDS = (SpanKind.SERVER, SpanKind.CONSUMER)

Key = tuple[int, str, str, str]  # hour, kind, source, target


@dataclass(slots=True)
class Traffic:
    calls: int = 0
    errors: int = 0
    duration_ns: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, duration_ns: int, error: bool, sign: int = 1) -> None:
        self.calls += sign
        self.errors += sign * error
        self.duration_ns += sign * duration_ns
        index = bucket(duration_ns)
        self.buckets[index] = self.buckets.get(index, 0) + sign

    def merge(self, other: Traffic, sign: int = 1) -> None:
        self.calls += sign * other.calls
        self.errors += sign * other.errors
        self.duration_ns += sign * other.duration_ns
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + sign * count

    def p95_ms(self) -> float:
        """The upper bound of the bucket holding the 95th percentile, ranked as overlay's _p95
        ranks durations."""
        rank = min(self.calls - 1, int(0.95 * self.calls))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen > rank:
                return bucket_bound_ns(index) / 1e6
        return 0.0


def bucket(duration_ns: int) -> int:
    if duration_ns < 1000:
        return 0
    return min(LAST_BUCKET, 1 + math.floor(BUCKETS_PER_DOUBLING * math.log2(duration_ns / 1000)))


def bucket_bound_ns(index: int) -> float:
    return 1000 * 2 ** (index / BUCKETS_PER_DOUBLING)


def contributions(traces: Iterable[Trace], mapping: Mapping) -> dict[Key, Traffic]:
    """What these traces add to the table, keyed by hour, kind and elements."""
    out: dict[Key, Traffic] = {}

    def add(key: Key, span: Span) -> None:
        traffic = out.get(key)
        if traffic is None:
            traffic = out[key] = Traffic()
        traffic.add(span.duration_ns, span.is_error)

    for trace in traces:
        for span in trace.spans:
            if span.kind in _ENTRY_KINDS:
                element = mapping.service_element(span.resource)
                if element is not None:
                    add((_hour(span), SERVED, element, ""), span)
        for i in interactions(trace, mapping):
            hour = _hour(i.span)
            add((hour, PAIR, i.source, i.target), i.span)
            add((hour, CALLED, i.target, ""), i.span)
    return out


def difference(after: dict[Key, Traffic], before: dict[Key, Traffic]) -> dict[Key, Traffic]:
    out = {key: Traffic() for key in after.keys() | before.keys()}
    for key, traffic in after.items():
        out[key].merge(traffic)
    for key, traffic in before.items():
        out[key].merge(traffic, -1)
    return {key: t for key, t in out.items() if t.calls or t.duration_ns or any(t.buckets.values())}


def _hour(span: Span) -> int:
    return span.start_ns - span.start_ns % HOUR_NS
