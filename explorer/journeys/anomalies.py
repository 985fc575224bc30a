"""Robust latency baselines per (container, operation), and the spans that depart from them.

A baseline is the median and the median absolute deviation (MAD) of span durations, plus the
error rate, over a trailing window. A span is atypical when its robust z-score
(duration - median) / (1.4826 * MAD) exceeds a threshold; 1.4826 makes the MAD comparable to a
standard deviation for normal data. Operations whose durations barely vary (MAD about 0) get a
floor on the spread, so a 1 % wobble is not a "1000 sigma" event. Build a Baseline once over
many spans and reuse it for every order.

Durations are grouped by (container, operation), the operation being the span name unless that
name is generic: an HTTP method alone ("HTTP POST", "GET"), a database operation or system
alone ("SELECT", "postgresql"), a messaging operation alone ("publish", "process"). A browser's
"HTTP POST" used for four different actions would otherwise be one bimodal group that flags
most clean orders. A generic name is replaced by a stable identity from the span's attributes:
the HTTP method with `http.route` (or `url.template`); the database operation
(`db.operation.name` or `db.operation`) with the collection (`db.collection.name`,
`db.sql.table`, `db.mongodb.collection`); the messaging operation with
`messaging.destination.name`. Without those attributes the name stays.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import median

from explorer.traces.model import Span, SpanKind

MAD_SCALE = 1.4826
DEFAULT_THRESHOLD = 5.0
# Fewer samples than this and the baseline says nothing: no span is judged against it.
MIN_SAMPLES = 20
# Floor of the spread: a fraction of the median, and an absolute minimum.
RELATIVE_SPREAD_FLOOR = 0.05
ABSOLUTE_SPREAD_FLOOR_NS = 100_000  # 0.1 ms


_HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"}
_GENERIC_NAMES = {
    "",
    "http",
    "http request",
    "http.request",
    "request",
    "query",
    "execute",
    "publish",
    "send",
    "receive",
    "process",
    "consume",
    "produce",
    "select",
    "insert",
    "update",
    "delete",
    "upsert",
    "find",
    "aggregate",
}


def _attribute(attributes: Mapping[str, object], *keys: str) -> str:
    for key in keys:
        value = attributes.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


# The attributes whose value makes a span name generic when it equals the name.
NAMING_ATTRIBUTES = frozenset(
    {
        "db.system",
        "db.system.name",
        "db.operation.name",
        "db.operation",
        "messaging.operation.name",
        "messaging.operation",
        "messaging.operation.type",
    }
)
# Every attribute operation_of() reads.
OPERATION_ATTRIBUTES = (
    *sorted(NAMING_ATTRIBUTES),
    "http.route",
    "url.template",
    "http.request.method",
    "http.method",
    "db.collection.name",
    "db.sql.table",
    "db.mongodb.collection",
    "messaging.destination.name",
    "messaging.destination",
)


def generic_name(name: str) -> bool:
    """Whether a span name is generic by itself, whatever the span's attributes."""
    name = name.strip()
    words = name.split()
    if name.lower() in _GENERIC_NAMES or name.upper() in _HTTP_METHODS:
        return True
    return len(words) == 2 and words[0].upper() == "HTTP" and words[1].upper() in _HTTP_METHODS


def _is_generic(name: str, attributes: Mapping[str, object]) -> bool:
    if generic_name(name):
        return True
    return name.strip() in {
        _attribute(attributes, "db.system", "db.system.name"),
        _attribute(attributes, "db.operation.name", "db.operation"),
        _attribute(
            attributes,
            "messaging.operation.name",
            "messaging.operation",
            "messaging.operation.type",
        ),
    } - {""}


def operation_of(span: Span) -> str:
    """The span's operation for baselines: its name, or a stable identity when the name is
    generic (see the module docstring). Remembered for the last few thousand names and
    attribute values: ingest asks it for every span."""
    values = tuple(map(span.attributes.get, OPERATION_ATTRIBUTES))
    try:
        return _operation(span.name, span.kind, values)
    except TypeError:  # a value that cannot be a key (a list): worked out afresh
        return _operation.__wrapped__(span.name, span.kind, values)


def forget_operation_names() -> None:
    """Empty the memo of operations: span names may carry personal data (a customer to forget)."""
    _operation.cache_clear()


@functools.lru_cache(maxsize=4096)
def _operation(name: str, kind: SpanKind, values: tuple) -> str:
    attributes = dict(zip(OPERATION_ATTRIBUTES, values, strict=True))
    if not _is_generic(name, attributes):
        return name
    route = _attribute(attributes, "http.route", "url.template")
    if route:
        method = _attribute(attributes, "http.request.method", "http.method") or (
            name.split()[-1] if name.strip() else ""
        )
        return f"{method.upper()} {route}".strip()
    db_operation = _attribute(attributes, "db.operation.name", "db.operation")
    collection = _attribute(
        attributes, "db.collection.name", "db.sql.table", "db.mongodb.collection"
    )
    if db_operation and collection:
        return f"{db_operation} {collection}"
    destination = _attribute(attributes, "messaging.destination.name", "messaging.destination")
    if destination:
        verb = _attribute(attributes, "messaging.operation.name", "messaging.operation") or (
            "publish" if kind == SpanKind.PRODUCER else "process"
        )
        return f"{destination} {verb}"
    return name


@dataclass(slots=True, frozen=True)
class OperationBaseline:
    container: str
    operation: str
    count: int
    median_ns: float
    mad_ns: float
    error_rate: float

    @property
    def spread_ns(self) -> float:
        return max(
            MAD_SCALE * self.mad_ns,
            RELATIVE_SPREAD_FLOOR * self.median_ns,
            ABSOLUTE_SPREAD_FLOOR_NS,
        )

    def score(self, duration_ns: int) -> float:
        """Robust z-score of a duration: how many spreads above the median."""
        return (duration_ns - self.median_ns) / self.spread_ns

    def as_list(self) -> list:
        return [
            self.container,
            self.operation,
            self.count,
            self.median_ns,
            self.mad_ns,
            self.error_rate,
        ]

    @classmethod
    def from_list(cls, row: list) -> OperationBaseline:
        container, operation, count, median_ns, mad_ns, error_rate = row
        return cls(
            str(container),
            str(operation),
            int(count),
            float(median_ns),
            float(mad_ns),
            float(error_rate),
        )


@dataclass(slots=True, frozen=True)
class Anomaly:
    """A span much slower than its operation's baseline."""

    container: str
    operation: str
    trace_id: str
    span_id: str
    start_ns: int
    duration_ns: int
    median_ns: float
    score: float

    def as_dict(self) -> dict:
        return {
            "container": self.container,
            "operation": self.operation,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "duration_ms": round(self.duration_ns / 1e6, 3),
            "median_ms": round(self.median_ns / 1e6, 3),
            "score": round(self.score, 1),
        }


@dataclass(slots=True, frozen=True)
class AtypicalService:
    """A container that behaves unlike its baseline in a recent window."""

    container: str
    spans: int
    slow_fraction: float
    error_rate: float
    baseline_error_rate: float
    reasons: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Baseline:
    stats: dict[tuple[str, str], OperationBaseline] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD
    min_samples: int = MIN_SAMPLES

    @classmethod
    def from_spans(
        cls,
        spans: Iterable[tuple[str, Span]],
        threshold: float = DEFAULT_THRESHOLD,
        min_samples: int = MIN_SAMPLES,
    ) -> Baseline:
        """A baseline over (container, span) pairs; durations below 0 (clock skew) count as 0."""
        durations: dict[tuple[str, str], list[int]] = defaultdict(list)
        errors: dict[tuple[str, str], int] = defaultdict(int)
        for container, span in spans:
            key = (container, operation_of(span))
            durations[key].append(max(span.duration_ns, 0))
            errors[key] += span.is_error
        stats = {}
        for key, values in durations.items():
            mid = median(values)
            mad = median(abs(v - mid) for v in values)
            stats[key] = OperationBaseline(
                key[0], key[1], len(values), mid, mad, errors[key] / len(values)
            )
        return cls(stats, threshold, min_samples)

    def as_dict(self) -> dict:
        """Plain JSON data; from_dict() gives back an equal baseline."""
        return {
            "threshold": self.threshold,
            "min_samples": self.min_samples,
            "stats": [found.as_list() for _, found in sorted(self.stats.items())],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Baseline:
        stats = [OperationBaseline.from_list(row) for row in data["stats"]]
        return cls(
            {(s.container, s.operation): s for s in stats},
            float(data["threshold"]),
            int(data["min_samples"]),
        )

    def lookup(self, container: str, operation: str) -> OperationBaseline | None:
        """The operation's stats, or None when there are too few samples to judge by."""
        found = self.stats.get((container, operation))
        return found if found is not None and found.count >= self.min_samples else None

    def score(self, container: str, span: Span) -> float | None:
        found = self.lookup(container, operation_of(span))
        return None if found is None else found.score(max(span.duration_ns, 0))

    def anomalies(self, spans: Iterable[tuple[str, Span]]) -> list[Anomaly]:
        """The atypically slow spans among these, most atypical first."""
        result = []
        for container, span in spans:
            operation = operation_of(span)
            found = self.lookup(container, operation)
            if found is None:
                continue
            value = found.score(max(span.duration_ns, 0))
            if value > self.threshold:
                result.append(
                    Anomaly(
                        container,
                        operation,
                        span.trace_id,
                        span.span_id,
                        span.start_ns,
                        span.duration_ns,
                        found.median_ns,
                        value,
                    )
                )
        result.sort(key=lambda a: (-a.score, a.start_ns))
        return result

    def atypical_services(
        self,
        recent: Iterable[tuple[str, Span]],
        min_spans: int = 5,
        slow_fraction: float = 0.2,
    ) -> list[AtypicalService]:
        """Containers whose recent spans are often atypically slow, or fail far more often
        than their baseline error rate (by more than three binomial standard deviations)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, judged, slow, err
        expected_errors: dict[str, float] = defaultdict(float)
        for container, span in recent:
            row = counts[container]
            row[0] += 1
            row[3] += span.is_error
            found = self.lookup(container, operation_of(span))
            if found is not None:
                row[1] += 1
                row[2] += found.score(max(span.duration_ns, 0)) > self.threshold
                expected_errors[container] += found.error_rate
        result = []
        for container, (n, judged, slow, errors) in sorted(counts.items()):
            if n < min_spans:
                continue
            reasons = []
            slow_share = slow / judged if judged else 0.0
            if judged >= min_spans and slow_share > slow_fraction:
                reasons.append(f"{slow} of {judged} recent spans atypically slow")
            base_rate = expected_errors[container] / judged if judged else 0.0
            error_rate = errors / n
            margin = 3 * math.sqrt(max(base_rate * (1 - base_rate), 0.01) / n)
            if errors and error_rate > base_rate + margin:
                reasons.append(f"error rate {error_rate:.0%} against a usual {base_rate:.0%}")
            if reasons:
                result.append(
                    AtypicalService(container, n, slow_share, error_rate, base_rate, reasons)
                )
        return result
