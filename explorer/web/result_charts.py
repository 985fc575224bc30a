"""Traces found, as pictures: durations over time (a scatter plot) and how many took how long
(a histogram). Server-side SVG; the results table beside them stays the text alternative.

Every name comes from traces and is hostile: it only reaches the SVG through format_html
(escaped) after visible_line (control and bidi characters as symbols). The CSP forbids inline
styles, so colours are the service classes (`svc-N`, explorer/web/service_colours.py) and the
x positions are percentages: the plot takes the page's width, its text keeps its size (a
viewBox would shrink it to nothing at 420 px). An error is a triangle, never a colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from explorer.traces.visible import visible_line
from explorer.web.common import page_language
from explorer.web.formatting import format_count, format_duration
from explorer.web.service_colours import colour_classes

# Heights in px; x in percent of the width, points kept off the edges.
SCATTER_HEIGHT, HISTOGRAM_HEIGHT = 240, 170
PLOT_TOP, AXIS_GAP = 18, 34
X_FROM, X_SPAN = 3.0, 94.0
WIDE_SPREAD = 20  # longest / shortest above this: a log scale
MAX_BUCKETS = 12


@dataclass(frozen=True, slots=True)
class Point:
    trace_id: str  # as the viewer's links carry it
    start_ns: int
    duration_ns: int
    service: str  # as the viewer sees them (redacted)
    operation: str
    errors: int


def points_of(rows: Sequence[dict]) -> list[Point]:
    """Points of the rows explorer.web.trace_list.trace_rows makes."""
    return [
        Point(
            r["trace_id"],
            int(r["start_ns"]),
            max(int(r["duration_ns"]), 0),
            r["service"],
            r["operation"],
            int(r["errors"]),
        )
        for r in rows
    ]


# --- scales ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DurationScale:
    """Durations to a fraction 0..1 (0 the shortest shown); log when the spread is wide."""

    low: float
    high: float
    log: bool

    def fraction(self, ns: float) -> float:
        if self.high <= self.low:
            return 0.5
        if self.log:
            value = math.log10(max(ns, self.low))
            return (value - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (ns - self.low) / (self.high - self.low)

    def ticks(self) -> list[float]:
        if self.high <= self.low:
            return [self.low]
        if self.log:
            first, last = round(math.log10(self.low)), round(math.log10(self.high))
            every = max(1, math.ceil((last - first) / 5))
            return [10.0**e for e in range(first, last + 1, every)]
        step = nice_step(self.high / 4)
        return [step * i for i in range(round(self.high / step) + 1)]


def nice_step(rough: float) -> float:
    """1, 2 or 5 times a power of ten, at least `rough`."""
    power = 10.0 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def duration_scale(durations: Sequence[int]) -> DurationScale:
    shortest, longest = min(durations), max(durations)
    if longest <= 0:
        return DurationScale(0, 0, False)
    if shortest > 0 and longest / shortest > WIDE_SPREAD:
        low = 10.0 ** math.floor(math.log10(shortest))
        high = 10.0 ** math.ceil(math.log10(longest))
        return DurationScale(low, high, True)
    if shortest == longest:
        return DurationScale(longest, longest, False)
    step = nice_step(longest / 4)
    return DurationScale(0, step * math.ceil(longest / step), False)


def x_percent(start_ns: int, first_ns: int, last_ns: int) -> float:
    if last_ns <= first_ns:
        return X_FROM + X_SPAN / 2
    return X_FROM + X_SPAN * (start_ns - first_ns) / (last_ns - first_ns)


# --- the scatter plot --------------------------------------------------------------------------


# A day and month without the year, in the order the language writes them ("03-16" beside the
# ISO dates of the pages' windows in English, "16.03" in Russian).
_DAY_MONTH = {"en": "m-d", "ru": "d.m"}


def day_month_format() -> str:
    """Django's date format of a day and month (no year) in the page's language."""
    return _DAY_MONTH[page_language()]


def time_text(ns: int, fmt: str) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return str(date_filter(timezone.localtime(moment), fmt))


def _time_format(first_ns: int, last_ns: int) -> str:
    span_s = (last_ns - first_ns) / 1e9
    if span_s < 120:
        return "H:i:s"
    same_day = time_text(first_ns, "Y-m-d") == time_text(last_ns, "Y-m-d")
    return "H:i" if same_day else f"{day_month_format()} H:i"


def point_label(point: Point, language: str) -> str:
    """What hover and focus say of a point (also its accessible name)."""
    parts = [
        f"{visible_line(point.service)}: {visible_line(point.operation)}",
        format_duration(point.duration_ns, language),
        time_text(point.start_ns, "Y-m-d H:i:s"),
    ]
    if point.errors:
        parts.append(
            ngettext("%(count)s error", "%(count)s errors", point.errors)
            % {"count": format_count(point.errors, language)}
        )
    return " · ".join(parts)


def y_of(fraction: float, height: int) -> float:
    return round(PLOT_TOP + (1 - fraction) * (height - PLOT_TOP - AXIS_GAP), 1)


def duration_axis(scale: DurationScale, height: int, language: str) -> SafeString:
    """Grid lines with their durations written above them, at the left inside the plot."""
    return format_html_join(
        "",
        '<g class="tick"><line x1="0" x2="100%" y1="{0}" y2="{0}"/>'
        '<text x="4" y="{1}">{2}</text></g>',
        (
            (y, y - 3, format_duration(tick, language))
            for tick in scale.ticks()
            for y in [y_of(scale.fraction(tick), height)]
        ),
    )


def time_axis(first_ns: int, last_ns: int, height: int, fmt: str = "") -> SafeString:
    """The times of the first, middle and last places across (in `fmt`, else as long as the
    span of time needs), below the plot."""
    fmt = fmt or _time_format(first_ns, last_ns)
    if last_ns <= first_ns:
        places = [(50.0, "middle", first_ns)]
    else:
        middle = first_ns + (last_ns - first_ns) // 2
        places = [(X_FROM, "start", first_ns), (50.0, "middle", middle)]
        places.append((X_FROM + X_SPAN, "end", last_ns))
    return format_html_join(
        "",
        '<text class="x-label" x="{}%" y="{}" text-anchor="{}">{}</text>',
        ((x, height - AXIS_GAP + 16, anchor, time_text(ns, fmt)) for x, anchor, ns in places),
    )


def _marks(points: Sequence[Point], scale: DurationScale, height: int, lang: str) -> SafeString:
    first = min(p.start_ns for p in points)
    last = max(p.start_ns for p in points)
    colours = colour_classes({p.service for p in points})
    return format_html_join(
        "",
        '<a class="point {}{}" href="{}" aria-label="{}"><title>{}</title>'
        '<use href="#{}" x="{}%" y="{}"/></a>',
        (
            (
                colours[p.service],
                " is-error" if p.errors else "",
                reverse("web:trace", args=[p.trace_id]),
                label,
                label,
                "chart-error" if p.errors else "chart-ok",
                round(x_percent(p.start_ns, first, last), 2),
                y_of(scale.fraction(p.duration_ns), height),
            )
            for p in sorted(points, key=lambda p: p.start_ns)  # Tab goes left to right
            for label in [point_label(p, lang)]
        ),
    )


def scatter_svg(points: Sequence[Point]) -> SafeString:
    """The scatter plot of these traces, or "" when there are none."""
    if not points:
        return mark_safe("")
    language = page_language()
    scale = duration_scale([p.duration_ns for p in points])
    first = min(p.start_ns for p in points)
    last = max(p.start_ns for p in points)
    title = _("Duration of each trace over time")
    log_note = _("Durations on a logarithmic scale.") if scale.log else ""
    desc = _(
        "One mark per trace: across, when it started (data time); up, how long it took. "
        "Errors are triangles. Each mark links to its trace; the table below lists the same."
    )
    return format_html(
        '<svg class="chart scatter" role="group" aria-labelledby="scatter-title" '
        'aria-describedby="scatter-desc" width="100%" height="{}">'
        '<title id="scatter-title">{}</title><desc id="scatter-desc">{} {}</desc>'
        '<defs><circle id="chart-ok" r="5"/><path id="chart-error" d="M0,-7L6.5,5H-6.5Z"/></defs>'
        '<g class="axis">{}{}</g><g class="marks">{}</g></svg>',
        SCATTER_HEIGHT,
        title,
        desc,
        log_note,
        duration_axis(scale, SCATTER_HEIGHT, language),
        time_axis(first, last, SCATTER_HEIGHT),
        _marks(points, scale, SCATTER_HEIGHT, language),
    )


# --- the histogram ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    low_ns: float
    high_ns: float
    count: int


def buckets(durations: Sequence[int]) -> list[Bucket]:
    """Durations in at most MAX_BUCKETS buckets of equal width (equal ratio when the spread is
    wide); the last bucket holds its upper edge."""
    if not durations:
        return []
    shortest, longest = min(durations), max(durations)
    if longest <= shortest:
        return [Bucket(shortest, longest, len(durations))]
    n = min(MAX_BUCKETS, max(2, math.ceil(math.sqrt(len(durations)))))
    log = shortest > 0 and longest / shortest > WIDE_SPREAD
    if log:
        low, high = math.log10(shortest), math.log10(longest)
        edges = [10 ** (low + (high - low) * i / n) for i in range(n + 1)]
        place = [(math.log10(d) - low) / (high - low) if d > 0 else 0.0 for d in durations]
    else:
        edges = [shortest + (longest - shortest) * i / n for i in range(n + 1)]
        place = [(d - shortest) / (longest - shortest) for d in durations]
    counts = [0] * n
    for fraction in place:
        counts[min(int(fraction * n), n - 1)] += 1
    return [Bucket(edges[i], edges[i + 1], counts[i]) for i in range(n)]


def _bucket_text(bucket: Bucket, language: str) -> str:
    count = ngettext("%(count)s trace", "%(count)s traces", bucket.count) % {
        "count": format_count(bucket.count, language)
    }
    low = format_duration(bucket.low_ns, language)
    if bucket.high_ns <= bucket.low_ns:
        return f"{low}: {count}"
    return f"{low} – {format_duration(bucket.high_ns, language)}: {count}"


def histogram_svg(durations: Sequence[int]) -> SafeString:
    """The histogram of these durations, or "" when there are none."""
    found = buckets(durations)
    if not found:
        return mark_safe("")
    language = page_language()
    tallest = max(b.count for b in found)
    width = X_SPAN / len(found)
    bottom = HISTOGRAM_HEIGHT - AXIS_GAP
    bars = []
    for i, bucket in enumerate(found):
        high = round((bottom - PLOT_TOP) * bucket.count / tallest, 1)
        x = round(X_FROM + i * width, 2)
        bars.append(
            (
                _bucket_text(bucket, language),
                x,
                bottom - high,
                round(width * 0.9, 2),
                high,
                round(x + width * 0.45, 2),
                bottom - high - 4,
                format_count(bucket.count, language) if bucket.count else "",
            )
        )
    edges = [(X_FROM, "start", found[0].low_ns), (X_FROM + X_SPAN, "end", found[-1].high_ns)]
    if len(found) >= 4:  # and the edge nearest the middle
        half = len(found) // 2
        edges.insert(1, (round(X_FROM + half * width, 2), "middle", found[half].low_ns))
    if len(found) == 1:
        edges = [(X_FROM + width * 0.45, "middle", found[0].low_ns)]
    return format_html(
        '<svg class="chart histogram" role="img" aria-labelledby="histogram-title" '
        'aria-describedby="histogram-desc" width="100%" height="{}">'
        '<title id="histogram-title">{}</title><desc id="histogram-desc">{}</desc>'
        '<line class="baseline" x1="0" x2="100%" y1="{}" y2="{}"/>{}{}</svg>',
        HISTOGRAM_HEIGHT,
        _("How many traces took how long"),
        "; ".join(b[0] for b in bars),
        bottom,
        bottom,
        format_html_join(
            "",
            '<g class="bar"><title>{}</title><rect x="{}%" y="{}" width="{}%" height="{}"/>'
            '<text x="{}%" y="{}" text-anchor="middle">{}</text></g>',
            bars,
        ),
        format_html_join(
            "",
            '<text class="x-label" x="{}%" y="{}" text-anchor="{}">{}</text>',
            ((x, bottom + 16, a, format_duration(ns, language)) for x, a, ns in edges),
        ),
    )
