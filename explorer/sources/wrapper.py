"""A source that wraps another one (its cache, the receiver's index).

It answers through the source inside unless it overrides a method, and it has exactly the
capabilities (explorer.sources.base) of the source inside plus those it implements itself:
isinstance(wrapped, ReadsTracesInBulk) answers as for the source inside, and no other name
passes through, so a wrapper never shows more of the source inside than the interface.
"""

from __future__ import annotations

from explorer.sources.base import (
    CAPABILITY_METHODS,
    DependencyEdge,
    TraceQuery,
    TraceSource,
    TraceSummary,
)
from explorer.traces.model import Trace


class WrappedSource:
    def __init__(self, source: TraceSource) -> None:
        self.source = source
        self.name = source.name

    def get_trace(self, trace_id: str) -> Trace:
        return self.source.get_trace(trace_id)

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        return self.source.search(query)

    def find_traces(
        self,
        attribute: str,
        value: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int = 1000,
    ) -> list[TraceSummary]:
        return self.source.find_traces(attribute, value, start_ns, end_ns, limit)

    def services(self) -> list[str]:
        return self.source.services()

    def operations(self, service: str) -> list[str]:
        return self.source.operations(service)

    def dependencies(self, start_ns: int, end_ns: int) -> list[DependencyEdge] | None:
        return self.source.dependencies(start_ns, end_ns)

    def __getattr__(self, name: str):
        # Only for what the class lacks: the capability methods of the source inside.
        if name in CAPABILITY_METHODS:
            return getattr(self.source, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
