"""The system map's numbers, summed per hour at ingest (the HourlyTraffic table).

The same quantities as explorer.diagrams.overlay.system_map over traces: per element, the
requests it serves (its SERVER and CONSUMER spans) and the calls made to it; per relationship
(caller, callee) the calls of explorer.c4.mapping.interactions. Each counts in the hour its span
starts, so summing whole hours gives the figures computed over the traces of those hours:
calls and errors exactly, p95 to within one histogram bucket (a factor 2^(1/4), 19 %).

Spans merged into a stored trace add what the merged trace has that the stored one had not
(contributions(merged) - contributions(stored)), so a trace ingested in pieces ends with the
figures of the whole trace: a call whose client and server spans arrive apart counts once
both are there. That needs the stored spans, which ingest reads anyway while a trace is one
chunk (up to CHUNK_SPANS spans); pieces of a bigger trace add their own spans' contributions
alone, so a call split across such pieces may be missed. Elements come from the mapping at
ingest time: a changed mapping applies to spans ingested afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from explorer.c4.mapping import Mapping, interactions
from explorer.store.models import HourlyTraffic
from explorer.traces.model import Span, SpanKind, Trace

HOUR_NS = 3600 * 10**9
SERVED, CALLED, PAIR = "served", "called", "pair"
# Bucket 0: under 1 µs; bucket i: [2^((i-1)/4), 2^(i/4)) µs; the last one holds the rest.
BUCKETS_PER_DOUBLING = 4
LAST_BUCKET = 4 * 40  # 2^40 µs: about 12 days
_ENTRY_KINDS = (SpanKind.SERVER, SpanKind.CONSUMER)

Key = tuple[int, str, str, str]  # hour, kind, source, target

# Set by the explorer app (explorer.apps) to the mapping of the current configuration, which
# lives above the store; None (no aggregates) when the store is used without it.
mapping_provider: Callable[[], Mapping] | None = None


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


def record(deltas: dict[Key, Traffic]) -> None:
    """Add to the table, inside the caller's transaction (a concurrent writer inserting the
    same new row raises IntegrityError, which ingest answers by writing its batch again)."""
    if not deltas:
        return
    hours = sorted({key[0] for key in deltas})
    rows = {(r.hour, r.kind, r.source, r.target): r
            for r in HourlyTraffic.objects.filter(hour__in=hours).select_for_update()}
    changed, new = [], []
    for key, delta in deltas.items():
        row = rows.get(key)
        if row is None:
            new.append(_row(key, delta))
            continue
        traffic = _traffic(row)
        traffic.merge(delta)
        row.calls, row.errors, row.duration_ns = traffic.calls, traffic.errors, traffic.duration_ns
        row.buckets = _stored_buckets(traffic.buckets)
        changed.append(row)
    HourlyTraffic.objects.bulk_update(changed, ["calls", "errors", "duration_ns", "buckets"])
    HourlyTraffic.objects.bulk_create(new)


def _row(key: Key, traffic: Traffic) -> HourlyTraffic:
    hour, kind, source, target = key
    return HourlyTraffic(hour=hour, kind=kind, source=source, target=target,
                         calls=traffic.calls, errors=traffic.errors,
                         duration_ns=traffic.duration_ns,
                         buckets=_stored_buckets(traffic.buckets))


def _stored_buckets(buckets: dict[int, int]) -> dict[str, int]:
    return {str(index): count for index, count in sorted(buckets.items()) if count}


def _traffic(row: HourlyTraffic) -> Traffic:
    return Traffic(row.calls, row.errors, row.duration_ns,
                   {int(index): count for index, count in row.buckets.items()})


def window_traffic(start_ns: int, end_ns: int) -> tuple[int, dict[tuple[str, str, str], Traffic]]:
    """The traffic of the whole hours from the one holding start_ns up to end_ns, summed per
    (kind, source, target); and where those hours begin (what the figures cover)."""
    first = start_ns - start_ns % HOUR_NS
    totals: dict[tuple[str, str, str], Traffic] = {}
    rows = HourlyTraffic.objects.filter(hour__gte=first, hour__lt=end_ns)
    for row in rows.iterator():
        key = (row.kind, row.source, row.target)
        total = totals.get(key)
        if total is None:
            total = totals[key] = Traffic()
        total.merge(_traffic(row))
    return first, totals
