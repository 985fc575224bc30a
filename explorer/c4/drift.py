"""Where the running system and the C4 model disagree, over a set of traces and a time window.

- undocumented: element -> element interactions seen in traces that no model relationship
  describes;
- unobserved: model relationships no trace shows (relationships of people are listed apart as
  unobservable: people emit no telemetry);
- unmapped services: services whose spans map to no element, with name-based suggestions.

A model relationship also documents the reverse direction when it is bidirectional or one of its
ends is a queue (consumers are drawn both ways), and a direct A -> C relationship documents
messages from A through a queue to C.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from explorer.c4.mapping import Mapping, interactions, suggest_elements
from explorer.c4.model import Model
from explorer.traces.model import Trace


@dataclass
class Observed:
    """Element -> element interactions seen in a window, and the services mapping missed."""

    pairs: dict[tuple[str, str], dict] = field(default_factory=dict)
    unmapped: Counter = field(default_factory=Counter)


def observe(
    traces: Iterable[Trace],
    mapping: Mapping,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Observed:
    seen = Observed()

    def in_window(t: int) -> bool:
        return (start_ns is None or t >= start_ns) and (end_ns is None or t < end_ns)

    for trace in traces:
        for span in trace.spans:
            if in_window(span.start_ns) and mapping.service_element(span.resource) is None:
                seen.unmapped[span.service] += 1
        for i in interactions(trace, mapping):
            if not in_window(i.span.start_ns):
                continue
            entry = seen.pairs.get((i.source, i.target))
            if entry is None:
                entry = seen.pairs[(i.source, i.target)] = {
                    "count": 0,
                    "errors": 0,
                    "example": {
                        "trace_id": trace.trace_id,
                        "span_id": i.span.span_id,
                        "name": i.span.name,
                    },
                }
            entry["count"] += 1
            entry["errors"] += i.span.is_error
    return seen


class Documentation:
    """Answers "does the model describe source -> target?" with the relaxations above."""

    def __init__(self, model: Model, observed: Iterable[tuple[str, str]] = ()):
        self.model = model
        self.direct: set[tuple[str, str]] = set()
        for r in model.relationships:
            self.direct.add((r.source, r.target))
            if r.bidirectional or self.is_queue(r.source) or self.is_queue(r.target):
                self.direct.add((r.target, r.source))
        # Observed message flows through each queue: who publishes, who consumes.
        self.producers: dict[str, set[str]] = defaultdict(set)
        self.consumers: dict[str, set[str]] = defaultdict(set)
        for source, target in observed:
            if self.is_queue(target):
                self.producers[target].add(source)
            elif self.is_queue(source):
                self.consumers[source].add(target)

    def is_queue(self, element_id: str) -> bool:
        element = self.model.elements.get(element_id)
        return element is not None and element.kind == "queue"

    def documents(self, source: str, target: str) -> bool:
        if (source, target) in self.direct:
            return True
        if self.is_queue(target):  # A -> Q documented by A -> C for a consumer C of Q
            return any((source, c) in self.direct for c in self.consumers[target])
        if self.is_queue(source):  # Q -> C documented by A -> C for a producer A of Q
            return any((p, target) in self.direct for p in self.producers[source])
        return False

    def observed(self, source: str, target: str, pairs) -> bool:
        """Whether a model relationship shows in the observed pairs (through a queue too)."""
        candidates = [(source, target)]
        if (target, source) in self.direct:
            candidates.append((target, source))
        if any(p in pairs for p in candidates):
            return True
        return any(
            source in self.producers[q] and target in self.consumers[q] for q in self.producers
        )


def drift(
    model: Model,
    mapping: Mapping,
    traces: Iterable[Trace],
    start_ns: int | None = None,
    end_ns: int | None = None,
    language: str | None = None,
) -> dict:
    """The drift report: {"undocumented", "unobserved", "unobservable", "unmapped_services"},
    the model's names and descriptions in `language` where the model has them."""
    return drift_of(model, observe(traces, mapping, start_ns, end_ns), language)


def drift_of(model: Model, seen: Observed, language: str | None = None) -> dict:
    """The drift report of what was observed (over traces, or from hourly figures: an
    undocumented pair's "example" may then be None)."""
    docs = Documentation(model, seen.pairs)

    def name(element_id: str) -> str:
        element = model.elements.get(element_id)
        return element.text("name", language) if element else element_id

    undocumented = [
        {"source": s, "target": t, "source_name": name(s), "target_name": name(t), **info}
        for (s, t), info in seen.pairs.items()
        if not docs.documents(s, t)
    ]
    undocumented.sort(key=lambda d: (-d["count"], d["source"], d["target"]))
    unobserved, unobservable = [], []
    for r in model.relationships:
        item = {
            "source": r.source,
            "target": r.target,
            "source_name": name(r.source),
            "target_name": name(r.target),
            "description": r.text("description", language),
            "technology": r.technology,
        }
        ends = (model.elements[r.source].kind, model.elements[r.target].kind)
        if "person" in ends:
            unobservable.append(item)
        elif not docs.observed(r.source, r.target, seen.pairs):
            unobserved.append(item)
    unmapped = [
        {"service": service, "spans": count, "suggestions": suggest_elements(service, model)}
        for service, count in sorted(seen.unmapped.items())
    ]
    return {
        "undocumented": undocumented,
        "unobserved": unobserved,
        "unobservable": unobservable,
        "unmapped_services": unmapped,
    }
