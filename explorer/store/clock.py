"""The data clock: spans that end ahead of it are clock skew, never "now" (docs/live.md).

The explorer's "now" is the end of the newest trace stored (explorer.journeys.now
.latest_time_ns), never the wall clock: the demo's data lies in 2025 and runs an hour a minute.
One span stamped with the wall clock, by a sender with a wrong clock or by any token holder,
would move it for every page and every alert rule. So each trace is judged as it is written:

- **ahead of the wall clock** (every writer: `ingest`, `store_traces`, the receiver): spans
  that end more than the tolerance after the moment they arrive cannot be right;
- **ahead of the other senders** (live writers: the receiver): each live arrival is a
  reading of the data clock (ClockReading: wall-clock arrival, newest end it brought that
  was not ahead, see reading()). The
  clock is the
  Theil-Sen line through the readings of the last EXPLORER_CLOCK_WINDOW_SECONDS (the median
  of the pairwise slopes, then the median intercept): it runs at the senders' pace, an hour a
  minute in the demo as well as in real time, and readings fewer than about a quarter of them
  cannot move it. Spans that end more than the tolerance after the line at their arrival are
  ahead. With fewer than MIN_READINGS readings in the window only the wall clock judges.

A trace with spans ahead is stored as it came (nothing is lost; its page shows it) but flagged
(StoredTrace.clock_ahead), so it never becomes "now"; each service whose spans were ahead is
counted per sender (ClockSkew: spans, the largest lead, when last seen) and logged. Readings
include flagged arrivals: when the senders' clock really jumps (the data set goes on after a
pause), the line follows once their arrivals are a good part of the window. `ingest` makes
no readings: a file of 14 days read in seconds says nothing about the clock.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from explorer.store.models import ClockReading, ClockSkew, insert_sql, quoted_names, storable_cut
from explorer.traces.model import Span

log = logging.getLogger("explorer.clock")

# Fewer readings than this in the window: too few to tell a clock from an outlier.
MIN_READINGS = 5
# The newest readings the line is fitted to (pairs: this squared over two).
READINGS = 40
# A writer fits the line again at most this often (arrival time): between fits it is
# extrapolated, which the line is made for. Readings older than twice the window are then
# deleted.
REFIT_NS = 10**9
# Sender of the writes of `ingest` and store_traces().
INGEST = "ingest"


@dataclass(frozen=True, slots=True)
class Line:
    """data time = at_ns + slope * (wall - wall_ns)."""

    wall_ns: int
    at_ns: float
    slope: float

    def at(self, wall_ns: int) -> int:
        return int(self.at_ns + self.slope * (wall_ns - self.wall_ns))


def fit_line(readings: Sequence[tuple[int, int]]) -> Line | None:
    """The Theil-Sen line through (wall ns, data ns) readings; None for fewer than
    MIN_READINGS of distinct wall times. A slope below zero (data going back) counts as 0."""
    points = sorted(dict(readings).items())
    if len(points) < MIN_READINGS:
        return None
    origin = points[-1][0]  # times relative to the newest: no precision lost on 1e18
    slopes = [
        (e2 - e1) / (a2 - a1) for i, (a1, e1) in enumerate(points) for a2, e2 in points[i + 1 :]
    ]
    slope = max(statistics.median(slopes), 0.0)
    at = statistics.median(e - slope * (a - origin) for a, e in points)
    return Line(origin, at, slope)


def _window_ns() -> int:
    return int(settings.EXPLORER_CLOCK_WINDOW_SECONDS * 10**9)


def readings(before_ns: int) -> list[tuple[int, int]]:
    """(arrival, newest end) of the newest READINGS live arrivals within
    EXPLORER_CLOCK_WINDOW_SECONDS before `before_ns`."""
    rows = (
        ClockReading.objects.filter(arrived_ns__gte=before_ns - _window_ns())
        .filter(arrived_ns__lte=before_ns)
        .order_by("-arrived_ns")
        .values_list("arrived_ns", "end_ns")[:READINGS]
    )
    return list(rows)


def tolerance_ns() -> int:
    return int(settings.EXPLORER_CLOCK_TOLERANCE_SECONDS * 10**9)


class DataClock:
    """The data clock one writer judges its arrivals by (kept between its batches). `live`:
    judged against the other senders' recent arrivals too, not only the wall clock, and each
    arrival noted as a reading."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self._line: Line | None = None
        self._fitted_at: int | None = None

    def at(self, arrived_ns: int) -> int:
        """What the data clock says at this arrival (wall clock ns)."""
        if not self.live:
            return arrived_ns
        if self._fitted_at is None or abs(arrived_ns - self._fitted_at) >= REFIT_NS:
            ClockReading.objects.filter(arrived_ns__lt=arrived_ns - 2 * _window_ns()).delete()
            self._line = fit_line(readings(arrived_ns))
            self._fitted_at = arrived_ns
        if self._line is None:
            return arrived_ns
        return min(arrived_ns, self._line.at(arrived_ns))

    def note(self, arrived_ns: int, end_ns: int) -> None:
        """A live arrival (inside its writer's transaction): a reading of the clock, whether
        it was ahead or not."""
        if self.live:
            ClockReading.objects.create(arrived_ns=arrived_ns, end_ns=end_ns)


def reading(ends: Sequence[int], ahead_after: int) -> int:
    """An arrival's reading of the clock from the ends of its traces: the newest not ahead
    (after `ahead_after`), so that one service ahead in every batch of a Collector does not
    tilt the line; the newest of all when every one is ahead (every sender jumped: the line
    follows)."""
    return max((end for end in ends if end <= ahead_after), default=max(ends))


@dataclass(slots=True)
class Lead:
    """How far ahead of the clock one service's spans of an arrival ended."""

    spans: int = 0
    largest_ns: int = 0


def leads(spans: Iterable[Span], clock_ns: int) -> dict[str, Lead]:
    """service -> its spans that end more than the tolerance after `clock_ns`."""
    limit = clock_ns + tolerance_ns()
    found: dict[str, Lead] = defaultdict(Lead)
    for span in spans:
        if span.end_ns > limit:
            lead = found[span.service]
            lead.spans += 1
            lead.largest_ns = max(lead.largest_ns, span.end_ns - clock_ns)
    return dict(found)


def record(sender: str, found: dict[str, Lead], where: str) -> None:
    """Count these services' spans ahead for the sender (inside the writer's transaction)
    and log them. `where`: the trace, for the log."""
    if not found:
        return
    for service, lead in sorted(found.items()):
        log.warning(
            "clock skew: %d spans of service %r from %s end %.0f s ahead of the data clock "
            "(%s); not taken for now",
            lead.spans,
            service[:200],
            sender[:200],
            lead.largest_ns / 1e9,
            where[:300],
        )
    fields = (
        "sender",
        "service",
        "spans",
        "largest_lead_ns",
        "last_lead_ns",
        "first_seen_at",
        "last_seen_at",
    )
    table, (sender_c, service_c, spans, largest, last, _, seen) = quoted_names(ClockSkew, fields)
    # Names come from the model, every value is a parameter.
    sql = insert_sql(
        ClockSkew,
        fields,
        f" ON CONFLICT ({sender_c}, {service_c}) DO UPDATE SET "
        f"{spans} = {table}.{spans} + excluded.{spans}, "
        f"{largest} = CASE WHEN {table}.{largest} > excluded.{largest} "
        f"THEN {table}.{largest} ELSE excluded.{largest} END, "
        f"{last} = excluded.{last}, {seen} = excluded.{seen}",
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                (
                    storable_cut(sender),
                    storable_cut(service),
                    lead.spans,
                    lead.largest_ns,
                    lead.largest_ns,
                    now,
                    now,
                )
                for service, lead in sorted(found.items())
            ],
        )
