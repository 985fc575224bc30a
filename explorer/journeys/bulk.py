"""Every trace of a source read once, for assembling the journeys of many orders.

journey_for_order() asks the source for an order's traces, then for the traces linked to or
from each of them: tens of round trips per order, which dominate when every order is wanted.
TraceSet reads all traces in bulk (get_traces where the source has it), indexes them as the
embedded store does (order.id values of spans and resources; link targets) and answers the
same look-ups from memory, so journeys assembled from it are the ones the source would give.
Read from a source, it passes what it does not index (search, attribute values, look-ups by
other attributes) to that source and reads the traces found from memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from explorer.sources.base import (
    FindsJourneyTracesInBulk,
    ListsAttributeValues,
    ReadsTracesInBulk,
    SourceError,
    TraceNotFound,
    TraceQuery,
    TraceSource,
    TraceSummary,
)
from explorer.sources.summary import TraceFacts, newest_first, trace_facts
from explorer.traces.model import Trace, start_of
from explorer.traces.vocabulary import ORDER_KEY

# Read this many traces per request to the source.
READ_BATCH = 500
# Lists every trace of the source (TraceQuery needs a limit).
ALL_TRACES = 10**9


class TraceSet:
    """Traces held in memory, answering find_traces (by order.id), get_traces and
    linking_traces as a TraceSource would."""

    def __init__(
        self, traces: Iterable[Trace], name: str = "traces", source: TraceSource | None = None
    ) -> None:
        self.name = name
        self._source = source
        self._traces: dict[str, Trace] = {}
        self._facts: dict[str, TraceFacts] = {}
        self._by_order: dict[str, list[str]] = {}
        self._linked_from: dict[str, list[str]] = {}
        for trace in traces:
            if not trace.spans or trace.trace_id in self._traces:
                continue
            tid = trace.trace_id
            self._traces[tid] = trace
            spans = sorted(trace.spans, key=start_of)  # as trace_facts needs them
            facts = self._facts[tid] = trace_facts(spans, [ORDER_KEY])
            for order_id in facts.business.get(ORDER_KEY, ()):
                self._by_order.setdefault(order_id, []).append(tid)
            for target in {link.trace_id for s in trace.spans for link in s.links}:
                if target != tid:
                    self._linked_from.setdefault(target, []).append(tid)

    @classmethod
    def read(cls, source: TraceSource) -> TraceSet:
        """Every trace of the source, in batches of READ_BATCH."""
        if isinstance(source, FindsJourneyTracesInBulk):  # the ids alone, not 140,000 summaries
            ids = source.trace_ids()
        else:
            ids = [s.trace_id for s in source.search(TraceQuery(limit=ALL_TRACES))]
        traces: list[Trace] = []
        for first in range(0, len(ids), READ_BATCH):
            part = ids[first : first + READ_BATCH]
            if isinstance(source, ReadsTracesInBulk):
                traces.extend(source.get_traces(part))
                continue
            for trace_id in part:
                try:
                    traces.append(source.get_trace(trace_id))
                except TraceNotFound:
                    continue  # deleted meanwhile
        return cls(traces, source.name, source)

    @classmethod
    def read_for_orders(
        cls, source: FindsJourneyTracesInBulk, orders: list[str], max_link_depth: int
    ) -> TraceSet:
        """What journey_for_order() reads for these orders, read in bulk a level at a time:
        their traces, then the traces those link to and are linked from, up to
        max_link_depth levels (of every span's links: a few traces more than the orders
        need). Journeys of these orders assembled from it are the ones the source would
        give: every trace such an assembly asks for, and every trace linking to one whose
        links it asks for, is held."""
        held: dict[str, Trace] = {}
        level = source.traces_with_values(ORDER_KEY, orders)
        for depth in range(max_link_depth + 1):
            level = [t for t in dict.fromkeys(level) if t not in held]
            if not level:
                break
            fetched = [
                trace
                for first in range(0, len(level), READ_BATCH)
                for trace in cast(ReadsTracesInBulk, source).get_traces(
                    level[first : first + READ_BATCH]
                )
            ]
            held.update((trace.trace_id, trace) for trace in fetched)
            if depth == max_link_depth:
                break
            linking = source.linking_traces_of([trace.trace_id for trace in fetched])
            level = [link.trace_id for t in fetched for s in t.spans for link in s.links]
            level += [trace_id for found in linking.values() for trace_id in found]
        whole = cast(TraceSource, source)
        return cls(held.values(), whole.name, whole)

    @property
    def order_ids(self) -> list[str]:
        return sorted(self._by_order)

    def __len__(self) -> int:
        return len(self._traces)

    def get_trace(self, trace_id: str) -> Trace:
        try:
            return self._traces[trace_id]
        except KeyError:
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not here") from None

    def get_traces(self, trace_ids: list[str]) -> list[Trace]:
        return [self._traces[t] for t in trace_ids if t in self._traces]

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        return self._read_from().search(query)

    def attribute_values(
        self, key: str, start_ns: int | None = None, end_ns: int | None = None, limit: int = 100_000
    ) -> list[str]:
        source = self._read_from()
        if not isinstance(source, ListsAttributeValues):
            raise SourceError(f"{self.name}: cannot list attribute values")
        return source.attribute_values(key, start_ns, end_ns, limit=limit)

    def _read_from(self) -> TraceSource:
        if self._source is None:
            raise SourceError(f"{self.name}: traces given in memory cannot be searched")
        return self._source

    def find_traces(
        self,
        attribute: str,
        value: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 1000,
    ):
        if attribute != ORDER_KEY and self._source is not None:
            return self._source.find_traces(attribute, value, start_ns, end_ns, limit=limit)
        if attribute != ORDER_KEY:
            raise SourceError(f"{self.name}: only {ORDER_KEY} is indexed here, not {attribute}")
        found = []
        for tid in self._by_order.get(value, ()):
            facts = self._facts[tid]
            if (start_ns is None or facts.start_ns >= start_ns) and (
                end_ns is None or facts.start_ns < end_ns
            ):
                found.append(facts.summary(tid))
        return sorted(found, key=newest_first)[:limit]

    def linking_traces(self, trace_id: str) -> list[str]:
        return sorted(self._linked_from.get(trace_id, []))
