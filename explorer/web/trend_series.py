"""The series the charts over time draw (explorer.web.trend_charts), from the hourly figures
of the embedded store per bucket (explorer.store.hourly_series): an operation's requests,
errors and latency percentiles; the SLA page's breaches; the anomalies page's atypically slow
spans. Series carry no links: they are cached with the pages' results, and a link holds times
in the viewer's time zone, added per request by with_links().
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy, ngettext

from explorer.journeys.anomalies import DEFAULT_THRESHOLD, MIN_SAMPLES, OperationBaseline
from explorer.store import hourly_series
from explorer.store.hourly_figures import HOUR_NS, Sketch
from explorer.store.hourly_operations import Operation
from explorer.store.hourly_series import Only, Row
from explorer.traces.model import SpanKind
from explorer.web.common import page_language
from explorer.web.formatting import format_count
from explorer.web.trend_charts import TrendLabels, TrendPoint, chart_context


def operation_series(start_ns: int, end_ns: int, only: Only) -> list[TrendPoint]:
    """Per bucket, the spans of the operation(s) `only` names: count, errors, SLA breaches
    counted at ingest, p50/p95/p99 from their merged sketches (None in an empty bucket)."""
    out = []
    for bucket in hourly_series.buckets(start_ns, end_ns, only):
        sketch = Sketch()
        for figures in bucket.figures.values():
            sketch.merge(figures.sketch)
        out.append(
            TrendPoint(
                bucket.start_ns,
                bucket.end_ns,
                bucket.total("count"),
                bucket.total("errors"),
                bucket.total("over_limit"),
                sketch.quantile_ns(0.5),
                sketch.quantile_ns(0.95),
                sketch.quantile_ns(0.99),
            )
        )
    return out


def sla_series(
    start_ns: int,
    end_ns: int,
    limit_ms: Callable[[str, str], float | None],
    rows: Sequence[Row] | None = None,
) -> list[TrendPoint]:
    """Per bucket, the requests of endpoints with a limit now and their breaches, as the SLA
    page counts them over its window (hourly_report.sla_report): as counted at ingest, or,
    for an endpoint whose limit changed within the window, from its sketches. `rows`: the
    window's (hourly_series.window_and_rows), else read here without their sketches."""
    by_operation: dict[Operation, list[Row]] = defaultdict(list)
    if rows is None:
        rows = hourly_series.rows(start_ns, end_ns, sketches=False)
    for row in rows:
        by_operation[row[1]].append(row)
    out = hourly_series.empty_buckets(start_ns, end_ns)
    size = hourly_series.bucket_of(end_ns - start_ns)
    requests: dict[int, int] = defaultdict(int)
    over: dict[int, int] = defaultdict(int)
    for operation, its_rows in by_operation.items():
        element, service, name, kind = operation
        limit = limit_ms(element, name) if kind == SpanKind.SERVER and element else None
        if limit is None:
            continue
        kept = {row[4] for row in its_rows}
        if kept != {limit} and not its_rows[0][6]:  # estimated: read with the sketches
            read = hourly_series.rows(start_ns, end_ns, Only(service, name))
            its_rows = [row for row in read if row[1] == operation]
        first_bin = None if kept == {limit} else hourly_series.first_bin_above(limit * 1e6)
        for hour, _operation, count, _errors, _limit, over_limit, sketch in its_rows:
            bucket = hour - hour % size
            requests[bucket] += count
            over[bucket] += (
                over_limit if first_bin is None else hourly_series.above(sketch, first_bin)
            )
    return [
        TrendPoint(b.start_ns, b.end_ns, requests[key], over_limit=over[key])
        for key, b in out.items()
    ]


def anomaly_series(
    start_ns: int,
    end_ns: int,
    base: dict[Operation, OperationBaseline],
    rows: Sequence[Row] | None = None,
) -> list[TrendPoint]:
    """Per bucket, every span, its errors and the atypically slow ones as the anomalies page
    judges them (hourly_report.anomalies): against the baselines of the page's window
    (`base`), of the operations with MIN_SAMPLES in theirs. `rows` as sla_series'."""
    first_bins = {
        operation: hourly_series.first_bin_above(
            found.median_ns + DEFAULT_THRESHOLD * found.spread_ns
        )
        for operation, found in base.items()
        if found.count >= MIN_SAMPLES
    }
    out = hourly_series.empty_buckets(start_ns, end_ns)
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    size = hourly_series.bucket_of(end_ns - start_ns)
    for hour, operation, count, errors, _limit, _over, sketch in (
        hourly_series.rows(start_ns, end_ns) if rows is None else rows
    ):
        total = totals[hour - hour % size]
        total[0] += count
        total[1] += errors
        first_bin = first_bins.get(operation)
        if first_bin is not None:
            total[2] += hourly_series.above(sketch, first_bin)
    return [
        TrendPoint(b.start_ns, b.end_ns, count, errors, slow)
        for key, b in out.items()
        for count, errors, slow in [totals[key]]
    ]


# --- links, per request ------------------------------------------------------------------------


def local_minute(ns: int) -> str:
    """A moment as a datetime-local value in the viewer's time zone (what the window form
    and the trace search read back)."""
    moment = timezone.localtime(datetime.fromtimestamp(ns / 1e9, tz=UTC))
    return moment.strftime("%Y-%m-%dT%H:%M")


def window_link(view: str, start_ns: int, end_ns: int) -> str:
    """The page `view` over [start_ns, end_ns) as a custom window."""
    return window_links(view)(start_ns, end_ns)


def window_links(view: str) -> Callable[[int, int], str]:
    """window_link() of each bucket, the view's path reversed once."""
    path = reverse(view)

    def link(start_ns: int, end_ns: int) -> str:
        query = {"window": "custom", "from": local_minute(start_ns), "to": local_minute(end_ns)}
        return f"{path}?{urlencode(query)}"

    return link


def traces_link(only: Only, start_ns: int, end_ns: int) -> str:
    """The trace search (the home page's, scrolled to its results) for the traces of `only`
    that started in [start_ns, end_ns); an empty value is left out."""
    return traces_links(only)(start_ns, end_ns)


def traces_links(only: Only) -> Callable[[int, int], str]:
    """traces_link() of each bucket, the search's path reversed once."""
    path = reverse("web:home")
    fixed = {
        "service": only.service,
        "operation": only.operation,
        "customer_type": only.customer_type or "",
    }

    def link(start_ns: int, end_ns: int) -> str:
        query = {**fixed, "since": local_minute(start_ns), "until": local_minute(end_ns)}
        return f"{path}?{urlencode({k: v for k, v in query.items() if v})}#trace-search"

    return link


def with_links(points: Sequence[TrendPoint], link: Callable[[int, int], str]) -> list[TrendPoint]:
    return [dataclasses.replace(p, link=link(p.start_ns, p.end_ns)) for p in points]


def trend_link(service: str, operation: str, window_query: dict[str, str]) -> str:
    """The trend page of an operation over a page's window."""
    query = {"service": service, "operation": operation, **window_query}
    return f"{reverse('web:trend')}?{urlencode(query)}"


# --- the SLA and anomalies pages' charts --------------------------------------------------------


def per_bucket(points: Sequence[TrendPoint], hourly: str, daily: str) -> str:
    return hourly if not points or points[0].end_ns - points[0].start_ns <= HOUR_NS else daily


def _breaches(n: int) -> str:
    return ngettext("%(count)s breach", "%(count)s breaches", n) % {"count": _count(n)}


def _with_limit(n: int) -> str:
    return ngettext(
        "of %(count)s request with a limit", "of %(count)s requests with a limit", n
    ) % {"count": _count(n)}


def _slow(n: int) -> str:
    return ngettext("%(count)s atypically slow span", "%(count)s atypically slow spans", n) % {
        "count": _count(n)
    }


def _of_spans(n: int) -> str:
    return ngettext("of %(count)s span", "of %(count)s spans", n) % {"count": _count(n)}


def _count(n: int) -> str:
    return format_count(n, page_language())


# Per page: its view, the chart's titles per hour and per day, the bars' words and headings.
PAGE_CHARTS = {
    "sla": (
        "web:sla",
        (gettext_lazy("SLA breaches per hour"), gettext_lazy("SLA breaches per day (UTC)")),
        (_breaches, _with_limit),
        (gettext_lazy("Breaches"), gettext_lazy("Requests with a limit")),
    ),
    "anomalies": (
        "web:anomalies",
        (
            gettext_lazy("Atypically slow spans per hour"),
            gettext_lazy("Atypically slow spans per day (UTC)"),
        ),
        (_slow, _of_spans),
        (gettext_lazy("Atypically slow"), gettext_lazy("Spans")),
    ),
}


def page_chart(page: str, points: Sequence[TrendPoint]) -> dict:
    """The chart of the SLA or anomalies page (PAGE_CHARTS): the bucket's count over its
    limit (breaches, atypically slow spans), each bar opening the page over its bucket."""
    view, (hourly, daily), (value_text, count_text), (value_heading, count_heading) = PAGE_CHARTS[
        page
    ]
    labels = TrendLabels(
        f"{page}-trend",
        per_bucket(points, str(hourly), str(daily)),
        value="over_limit",
        value_text=value_text,
        count_text=count_text,
        value_heading=str(value_heading),
        count_heading=str(count_heading),
    )
    points = with_links(points, window_links(view))
    return chart_context(points, labels)


def with_trend_links(rows: Sequence[dict], operation_key: str, window_query: dict) -> list[dict]:
    """The rows (of the SLA or anomalies page, from hourly figures: they name their service),
    each with `trend_url`, its operation's trend over the same window."""
    return [
        {**row, "trend_url": trend_link(row["service"], row[operation_key], window_query)}
        if "service" in row
        else row
        for row in rows
    ]
