"""How long the store keeps what (EXPLORER_RETENTION_*, docs/store.md#retention): read by
explorer/settings.py, so it imports nothing of Django; applied by explorer.orders.retention."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DAY_NS = 86_400 * 10**9


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    trace_days: float = 30.0  # traces of orders that went well, and of no order
    problem_days: float = 180.0  # traces of lost, stuck, ... orders (explorer.orders.retention)
    status_days: float = 730.0  # order status rows, hourly figures, records of removals
    interval_s: float = 600.0  # how often the live worker prunes (0: never)
    batch: int = 300  # traces removed per transaction

    def __post_init__(self) -> None:
        if not 0 < self.trace_days <= self.problem_days <= self.status_days:
            raise ValueError(
                "EXPLORER_RETENTION_TRACE_DAYS, _PROBLEM_DAYS and _STATUS_DAYS must be above 0 "
                f"and each at most the next: {self.trace_days:g}, {self.problem_days:g}, "
                f"{self.status_days:g}"
            )
        if self.interval_s < 0:
            raise ValueError(
                f"EXPLORER_RETENTION_INTERVAL_SECONDS must be 0 or more: {self.interval_s:g}"
            )
        if self.batch < 1:
            raise ValueError(f"EXPLORER_RETENTION_BATCH must be 1 or more: {self.batch}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> RetentionPolicy:
        """The policy the EXPLORER_RETENTION_* variables set (ValueError naming a bad one)."""
        values: dict = {}
        for field, name, kind in (
            ("trace_days", "TRACE_DAYS", float),
            ("problem_days", "PROBLEM_DAYS", float),
            ("status_days", "STATUS_DAYS", float),
            ("interval_s", "INTERVAL_SECONDS", float),
            ("batch", "BATCH", int),
        ):
            text = environ.get(f"EXPLORER_RETENTION_{name}", "").strip()
            if text:
                try:
                    values[field] = kind(text)
                except ValueError:
                    raise ValueError(
                        f"EXPLORER_RETENTION_{name} must be a number: {text!r}"
                    ) from None
        return cls(**values)

    def cutoffs(self, now_ns: int) -> tuple[int, int, int]:
        """The times before which traces, problem orders' traces and status rows go."""
        return tuple(now_ns - int(days * DAY_NS) for days in self._days())  # type: ignore[return-value]

    def _days(self) -> tuple[float, float, float]:
        return self.trace_days, self.problem_days, self.status_days
