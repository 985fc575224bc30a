"""A TraceSource over a list of Trace objects held in memory (uploads, tests of pure layers).

It answers exactly as the embedded store would for the same traces: traces with the same id
are merged, and summaries and search filters come from explorer.sources.summary.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from explorer.sources.base import (
    DependencyEdge,
    FindsBySearch,
    TraceNotFound,
    TraceQuery,
    TraceSummary,
)
from explorer.sources.summary import (
    TraceFacts,
    check_searchable,
    matches,
    merged_trace,
    newest_first,
    trace_facts,
)
from explorer.traces.model import Trace


class MemorySource(FindsBySearch):
    def __init__(
        self,
        traces: Iterable[Trace],
        name: str = "memory",
        business_keys: Iterable[str] | None = None,
    ) -> None:
        self.name = name
        if business_keys is None:
            business_keys = settings.EXPLORER_BUSINESS_ATTRIBUTES
        self.business_keys = list(business_keys)
        parts: dict[str, list[Trace]] = {}
        for trace in traces:
            if trace.spans:
                parts.setdefault(trace.trace_id, []).append(trace)
        self._traces = {tid: merged_trace(tid, group) for tid, group in parts.items()}
        self._facts: dict[str, TraceFacts] = {
            tid: trace_facts(t.spans, self.business_keys) for tid, t in self._traces.items()
        }
        self._linked_from: dict[str, list[str]] | None = None

    def get_trace(self, trace_id: str) -> Trace:
        try:
            return self._traces[trace_id]
        except KeyError:
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not here") from None

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        check_searchable(query, self.business_keys, self.name)
        found = [facts.summary(tid) for tid, facts in self._facts.items() if matches(facts, query)]
        return sorted(found, key=newest_first)[: query.limit]

    def services(self) -> list[str]:
        return sorted({s for facts in self._facts.values() for s in facts.operations})

    def operations(self, service: str) -> list[str]:
        return sorted(
            {name for facts in self._facts.values() for name in facts.operations.get(service, ())}
        )

    def dependencies(self, start_ns: int, end_ns: int) -> list[DependencyEdge] | None:
        return None

    def attribute_values(
        self,
        key: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 100_000,
    ) -> list[str]:
        window = TraceQuery(start_ns=start_ns, end_ns=end_ns)
        values = {
            value
            for facts in self._facts.values()
            if matches(facts, window)
            for value in facts.business.get(key, ())
        }
        return sorted(values)[:limit]

    def linking_traces(self, trace_id: str) -> list[str]:
        if self._linked_from is None:  # built on first use: most callers never ask
            self._linked_from = {}
            for tid, trace in self._traces.items():
                for target in {link.trace_id for s in trace.spans for link in s.links}:
                    if target != tid:
                        self._linked_from.setdefault(target, []).append(tid)
        return sorted(self._linked_from.get(trace_id, []))
