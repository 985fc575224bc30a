"""The "now" an order is judged at: never the wall clock, so that results depend on the data.

One policy, Now: an explicit time when given, else the end of the newest trace in the source
(or window) whose clock was not ahead, else (an empty source) the newest span of the journeys
judged, else 0. Everything that judges at "now" takes a Now; explorer.orders.service.now()
builds the one with the configured clock tolerance (EXPLORER_CLOCK_TOLERANCE_SECONDS), which
pages, alerts, commands and the live worker use.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from explorer.journeys.journey import Journey, Window
from explorer.sources.base import JudgesClockSkew, TraceQuery, TraceSource

# The default of EXPLORER_CLOCK_TOLERANCE_SECONDS (explorer/settings.py reads it from here; the
# orders service reads the setting): how far ahead of the wall clock a trace of a source that
# sees no arrivals may start and still count.
CLOCK_TOLERANCE_S = 900.0


def latest_time_ns(
    source: TraceSource, window: Window = (None, None), clock_tolerance_s: float = CLOCK_TOLERANCE_S
) -> int | None:
    """The end of the newest trace in the source (or window): the analysis's 'now'. A trace
    whose spans ended ahead of the data clock does not count (docs/live.md#the-data-clock):
    the store leaves out the traces it flagged when they arrived (explorer.store.clock); a
    source that sees no arrivals (a remote backend) those starting more than
    `clock_tolerance_s` after the wall clock."""
    if isinstance(source, JudgesClockSkew):
        return source.newest_end_ns(*window)
    return newest_before_wall_clock(source, window, clock_tolerance_s)


def newest_before_wall_clock(
    source: TraceSource, window: Window = (None, None), clock_tolerance_s: float = CLOCK_TOLERANCE_S
) -> int | None:
    """The end of the newest trace in the source (or window) that starts before the wall
    clock plus `clock_tolerance_s`: "now" where no arrival is seen."""
    start_ns, end_ns = window
    future = time.time_ns() + int(clock_tolerance_s * 10**9)
    end_ns = future if end_ns is None else min(end_ns, future)
    found = source.search(TraceQuery(start_ns=start_ns, end_ns=end_ns, limit=1))
    if not found:
        return None
    return max(s.start_ns + s.duration_ns for s in found)


@dataclass(frozen=True, slots=True)
class Now:
    """The "now" policy: `at_ns` when given, else the end of the newest trace in the source
    (or window) whose clock was not ahead (latest_time_ns), else the newest span of the
    journeys judged, else 0."""

    at_ns: int | None = None
    clock_tolerance_s: float = CLOCK_TOLERANCE_S

    def in_source(self, source: TraceSource, window: Window = (None, None)) -> int | None:
        """The explicit time or the end of the newest trace; None for an empty source."""
        if self.at_ns is not None:
            return self.at_ns
        return latest_time_ns(source, window, self.clock_tolerance_s)

    def resolve(
        self, source: TraceSource, journeys: Iterable[Journey] = (), window: Window = (None, None)
    ) -> int:
        """in_source(), else the newest span of the journeys (0 without any)."""
        found = self.in_source(source, window)
        if found is not None:
            return found
        return max((s.end_ns for j in journeys for s in j.spans), default=0)


NEWEST_SPAN = Now()
