"""Charts over time of any series of buckets (an operation's requests, a page's SLA breaches
or atypical spans per day, an order step's figures): bars of a count per bucket, and the
latency percentiles p50, p95 and p99 as lines. Server-side SVG, as explorer.web.result_charts
draws (its scales and axes): x positions in percent, so the text keeps its size from 1366 px
down to 420 px; no inline style (the CSP); every name shown through visible_line and escaped
(format_html, or html.escape in _joined() for the many marks).

Each bucket is one link (its `link`: the traces or orders behind it) that the keyboard reaches
in time order (so the SVG is a labelled group, as the scatter plot: an image's children would
be hidden from screen readers); its accessible name says the time and the figures in the
page's language, and static/web/charts.js shows it as a tip on focus and on hover (no SVG
title besides: it doubled the page). Errors are marked with a triangle above the bar, not by
a colour alone; the percentiles differ by mark shape and line dash too. The table of
trend_rows() is the text alternative (templates/web/_trend_charts.html)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from explorer.traces.visible import visible_line
from explorer.web.common import page_language
from explorer.web.formatting import format_count, format_duration
from explorer.web.result_charts import (
    AXIS_GAP,
    PLOT_TOP,
    X_FROM,
    X_SPAN,
    day_month_format,
    duration_axis,
    duration_scale,
    nice_step,
    time_axis,
    y_of,
)
from explorer.web.templatetags.explorer_format import percent

COUNT_HEIGHT, LATENCY_HEIGHT = 180, 220
PERCENTILES = ("p50", "p95", "p99")
BAR_SHARE = 0.8  # of a bucket's width


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One bucket [start_ns, end_ns) of a series: how many (requests, spans, orders…), how
    many of them failed and how many were over their limit (an SLA, the anomaly threshold),
    the latency percentiles; None where the series has no such figure (or, for a percentile,
    no span in the bucket). `link`: the page of the traces or orders behind the bucket."""

    start_ns: int
    end_ns: int
    count: int
    errors: int | None = None
    over_limit: int | None = None
    p50_ns: float | None = None
    p95_ns: float | None = None
    p99_ns: float | None = None
    link: str = ""


def requests_text(count: int) -> str:
    return ngettext("%(count)s request", "%(count)s requests", count) % {
        "count": format_count(count, page_language())
    }


@dataclass(frozen=True)
class TrendLabels:
    """What the charts of a series say. `chart_id` prefixes the ids in the page (letters,
    digits and "-"; unique per chart on a page); `title` names the bars' chart ("Requests
    per hour"), `subject` what is charted (trace text: escaped here); `value` is the field
    the bars show ("count", "errors" or "over_limit") and `value_text` words it ("3
    breaches"); `count_text` words the count beside it when the bars show another field."""

    chart_id: str
    title: str
    subject: str = ""
    value: str = "count"
    value_text: Callable[[int], str] = requests_text
    count_text: Callable[[int], str] = requests_text
    value_heading: str = ""  # the table's column of the bars' value ("Requests")
    count_heading: str = ""  # and of the count, when the bars show another field


def _local(ns: int) -> datetime:
    return timezone.localtime(datetime.fromtimestamp(ns / 1e9, tz=UTC))


def bucket_text(point: TrendPoint) -> str:
    """The bucket's time, in the viewer's time zone: "2025-03-04 10:00–11:00", or the day
    alone when it runs from midnight to midnight. (strftime: Django's date filter took 0.1 ms
    a call, a week of hours 0.4 s.)"""
    start, end = _local(point.start_ns), _local(point.end_ns)
    midnights = start.time() == end.time() == time(0)
    if midnights and point.end_ns - point.start_ns <= 25 * 3600 * 10**9:
        return start.strftime("%Y-%m-%d")
    if start.date() == _local(point.end_ns - 1).date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"


def _value(point: TrendPoint, labels: TrendLabels) -> int:
    return getattr(point, labels.value) or 0


def point_text(point: TrendPoint, labels: TrendLabels) -> str:
    """What the bucket's link says (its accessible name, title and focus tip)."""
    language = page_language()
    parts = [labels.value_text(_value(point, labels))]
    if labels.value != "count":
        parts.append(labels.count_text(point.count))
    if point.errors is not None and labels.value != "errors":
        share = percent(point.errors / point.count) if point.count else percent(0)
        parts.append(
            ngettext("%(count)s error (%(share)s)", "%(count)s errors (%(share)s)", point.errors)
            % {"count": format_count(point.errors, language), "share": share}
        )
    for name in PERCENTILES:
        value = getattr(point, f"{name}_ns")
        if value is not None:
            parts.append(f"{name} {format_duration(value, language)}")
    subject = f"{visible_line(labels.subject)} · " if labels.subject else ""
    return f"{subject}{bucket_text(point)}: " + ", ".join(parts)


def _x(i: int, n: int, share: float = 0.5) -> float:
    """Percent across of a place in the i-th of n buckets (0: its left edge, 1: its right)."""
    return round(X_FROM + X_SPAN * (i + share) / n, 3)


def _count_ticks(highest: int) -> tuple[float, list[float]]:
    if highest <= 0:
        return 1.0, [0.0]
    step = max(nice_step(highest / 4), 1.0)
    top = step * math.ceil(highest / step)
    return top, [step * i for i in range(round(top / step) + 1)]


def _count_axis(top: float, ticks: list[float], language: str) -> SafeString:
    return format_html_join(
        "",
        '<g class="tick"><line x1="0" x2="100%" y1="{0}" y2="{0}"/>'
        '<text x="4" y="{1}">{2}</text></g>',
        (
            (y, y - 3, format_count(tick, language))
            for tick in ticks
            for y in [y_of(tick / top, COUNT_HEIGHT)]
        ),
    )


def _time_format(points: Sequence[TrendPoint]) -> str:
    return day_month_format() if points[0].end_ns - points[0].start_ns > 3600 * 10**9 else ""


def _joined(template: str, rows: Iterable[Sequence]) -> SafeString:
    """format_html_join for many marks: text escaped (quotes too), safe markup kept, numbers
    written as they are. Django's escape() of every number took most of a week's chart."""
    return mark_safe(  # noqa: S308 - every text argument escaped here
        "".join(
            template.format(
                *(
                    value
                    if isinstance(value, SafeData) or not isinstance(value, str)
                    else html.escape(value, quote=True)
                    for value in row
                )
            )
            for row in rows
        )
    )


def _svg(labels: TrendLabels, kind: str, height: int, title: str, desc: str, body) -> SafeString:
    ident = f"{labels.chart_id}-{kind}"
    return format_html(
        '<svg class="chart trend {}" role="group" aria-labelledby="{}-title" '
        'aria-describedby="{}-desc" width="100%" height="{}">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}</svg>',
        kind,
        ident,
        ident,
        height,
        ident,
        title,
        ident,
        desc,
        body,
    )


def counts_svg(
    points: Sequence[TrendPoint], labels: TrendLabels, texts: Sequence[str] = ()
) -> SafeString:
    """Bars of the chosen count per bucket ("" without a bucket); a bucket with errors has a
    triangle above its bar and its errors' part of the bar drawn dark. `texts`: each point's
    point_text, when the caller has them."""
    if not points:
        return mark_safe("")
    language = page_language()
    top, ticks = _count_ticks(max(_value(p, labels) for p in points))
    bottom = COUNT_HEIGHT - AXIS_GAP
    n = len(points)
    width = round(X_SPAN / n * BAR_SHARE, 3)
    bars = []
    for i, p in enumerate(points):
        value = _value(p, labels)
        high = round((bottom - PLOT_TOP) * value / top, 1)
        failed = p.errors if labels.value == "count" and p.errors else 0
        failed_high = round((bottom - PLOT_TOP) * failed / top, 1)
        text = texts[i] if texts else point_text(p, labels)
        failed_part = (
            _joined(
                '<rect class="failed" x="{}%" y="{}" width="{}%" height="{}"/>'
                '<use href="#{}-error" x="{}%" y="{}"/>',
                [
                    (
                        _x(i, n, (1 - BAR_SHARE) / 2),
                        bottom - failed_high,
                        width,
                        failed_high,
                        labels.chart_id,
                        _x(i, n),
                        bottom - high - 7,
                    )
                ],
            )
            if failed
            else ""
        )
        bars.append(
            (
                " is-error" if failed else "",
                p.link or "#",
                text,
                _x(i, n, 0),
                PLOT_TOP,
                round(X_SPAN / n, 3),
                bottom - PLOT_TOP,
                _x(i, n, (1 - BAR_SHARE) / 2),
                bottom - high,
                width,
                high,
                failed_part,
            )
        )
    first, last = points[0].start_ns, points[-1].end_ns
    desc = _(
        "One bar per bucket of time; a triangle above a bar marks errors. Each bar links to "
        "what it counts; the table below lists the same."
    )
    body = format_html(
        '<defs><path id="{}-error" d="M0,-6L5.5,4H-5.5Z"/></defs><g class="axis">{}{}</g>'
        '<line class="baseline" x1="0" x2="100%" y1="{}" y2="{}"/><g class="marks">{}</g>',
        labels.chart_id,
        _count_axis(top, ticks, language),
        time_axis(first, last, COUNT_HEIGHT, _time_format(points)),
        bottom,
        bottom,
        _joined(
            '<a class="point{}" href="{}" aria-label="{}">'
            '<rect class="hit" x="{}%" y="{}" width="{}%" height="{}"/>'
            '<rect class="bar" x="{}%" y="{}" width="{}%" height="{}"/>{}</a>',
            bars,
        ),
    )
    title = f"{labels.title}: {visible_line(labels.subject)}" if labels.subject else labels.title
    return _svg(labels, "counts", COUNT_HEIGHT, title, desc, body)


def latency_svg(
    points: Sequence[TrendPoint], labels: TrendLabels, texts: Sequence[str] = ()
) -> SafeString:
    """p50, p95 and p99 per bucket as lines ("" when no bucket has a percentile): a circle,
    a square and a diamond, solid, dashed and dotted. `texts` as counts_svg's."""
    values = [v for p in points for name in PERCENTILES for v in [getattr(p, f"{name}_ns")] if v]
    if not values:
        return mark_safe("")
    language = page_language()
    scale = duration_scale([max(int(v), 1) for v in values])
    n = len(points)

    def y(value: float) -> float:
        return y_of(scale.fraction(max(value, 1.0)), LATENCY_HEIGHT)

    lines = []
    for name in PERCENTILES:
        previous = None
        for i, p in enumerate(points):
            value = getattr(p, f"{name}_ns")
            if value is None:
                previous = None  # no span in the bucket: a gap in the line
                continue
            if previous is not None:
                lines.append((name, _x(i - 1, n), y(previous), _x(i, n), y(value)))
            previous = value
    marks = []
    for i, p in enumerate(points):
        # p99's diamond first, the smaller marks over it: equal values stay visible
        shown = [(n, v) for n in reversed(PERCENTILES) for v in [getattr(p, f"{n}_ns")] if v]
        if not shown:
            continue
        text = texts[i] if texts else point_text(p, labels)
        uses = _joined(
            '<use class="{}" href="#{}-{}" x="{}%" y="{}"/>',
            [(name, labels.chart_id, name, _x(i, n), y(v)) for name, v in shown],
        )
        marks.append((p.link or "#", text, uses))
    log_note = _("Durations on a logarithmic scale.") if scale.log else ""
    desc = _(
        "Per bucket of time: the median (p50, circles, solid line), p95 (squares, dashed) and "
        "p99 (diamonds, dotted). Each mark links to the traces behind it."
    )
    body = format_html(
        '<defs><circle id="{0}-p50" r="3.5"/><rect id="{0}-p95" x="-3.5" y="-3.5" width="7" '
        'height="7"/><path id="{0}-p99" d="M0,-5L5,0L0,5L-5,0Z"/></defs>'
        '<g class="axis">{1}{2}</g><g class="lines">{3}</g><g class="marks">{4}</g>',
        labels.chart_id,
        duration_axis(scale, LATENCY_HEIGHT, language),
        time_axis(points[0].start_ns, points[-1].end_ns, LATENCY_HEIGHT, _time_format(points)),
        _joined('<line class="{}" x1="{}%" y1="{}" x2="{}%" y2="{}"/>', lines),
        _joined('<a class="point" href="{}" aria-label="{}">{}</a>', marks),
    )
    title = _("Latency: p50, p95 and p99")
    if labels.subject:
        title = f"{title}: {visible_line(labels.subject)}"
    return _svg(labels, "latency", LATENCY_HEIGHT, title, f"{desc} {log_note}".strip(), body)


def trend_rows(points: Sequence[TrendPoint], labels: TrendLabels) -> list[dict]:
    """The table of the charts' figures, in words and the page's number format: a row per
    bucket that counted anything, "" where the series has no such figure."""
    language = page_language()
    rows = []
    for p in points:
        if not p.count and not _value(p, labels):
            continue  # the chart shows the empty buckets; the table lists what was counted
        rows.append(
            {
                "time": bucket_text(p),
                "link": p.link,
                "value": format_count(_value(p, labels), language),
                "count": format_count(p.count, language) if labels.value != "count" else "",
                "errors": "" if p.errors is None else format_count(p.errors, language),
                "error_share": ""
                if p.errors is None or not p.count
                else percent(p.errors / p.count),
                **{
                    name: format_duration(v, language) if v is not None else "—"
                    for name in PERCENTILES
                    for v in [getattr(p, f"{name}_ns")]
                },
            }
        )
    return rows


def chart_context(points: Sequence[TrendPoint], labels: TrendLabels) -> dict:
    """What templates/web/_trend_charts.html draws: the charts and their table."""
    has_errors = any(p.errors is not None for p in points) and labels.value != "errors"
    texts = [point_text(p, labels) for p in points]
    rows = trend_rows(points, labels)
    has_latency = any(getattr(p, f"{n}_ns") is not None for p in points for n in PERCENTILES)
    count_heading = labels.count_heading if labels.value != "count" else ""
    return {
        "id": labels.chart_id,
        "title": labels.title,
        "counts": counts_svg(points, labels, texts),
        "latency": latency_svg(points, labels, texts),
        "rows": rows,
        "body": _table_body(rows, bool(count_heading), has_errors, has_latency),
        "value_heading": labels.value_heading or _("Requests"),
        "count_heading": count_heading,
        "has_errors": has_errors,
        "marks_errors": labels.value == "count" and has_errors,
        "has_latency": has_latency,
    }


def _table_body(rows: list[dict], count: bool, errors: bool, latency: bool) -> SafeString:
    """The table's rows, the columns the charts have (a template loop took 40 ms for a week
    of hours)."""
    names = ["value", *(["count"] if count else []), *(["errors", "error_share"] if errors else [])]
    names += list(PERCENTILES) if latency else []
    cells = "".join('<td class="num">{}</td>' for _name in names)
    return _joined(
        "<tr><td>{}</td>" + cells + "</tr>",
        [(_time_cell(r), *(r[name] or "—" for name in names)) for r in rows],
    )


def _time_cell(row: dict) -> SafeString | str:
    if not row["link"]:
        return row["time"]
    return _joined('<a href="{}">{}</a>', [(row["link"], row["time"])])
