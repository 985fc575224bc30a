"""The order-steps page's charts over time (explorer.web.trend_charts draws them) of one
state: how many orders left it per bucket with the p50/p95/p99 of their dwell, and how many
of those were over the state's limit; each bar opens the list of the orders behind it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from explorer.orders.step_figures import Bucket, StepFilter, series
from explorer.web.common import page_language
from explorer.web.formatting import format_count
from explorer.web.trend_charts import TrendLabels, TrendPoint, chart_context
from explorer.web.trend_series import per_bucket


def _left(n: int) -> str:
    return ngettext("%(count)s order left the state", "%(count)s orders left the state", n) % {
        "count": format_count(n, page_language())
    }


def _over(n: int) -> str:
    return ngettext("%(count)s over the limit", "%(count)s over the limit", n) % {
        "count": format_count(n, page_language())
    }


def _point(bucket: Bucket, link: str, percentiles: bool) -> TrendPoint:
    quantiles = bucket.quantiles if percentiles else {}
    return TrendPoint(
        bucket.start_ns,
        bucket.end_ns,
        bucket.count,
        over_limit=bucket.over_limit,
        p50_ns=quantiles.get(0.5),
        p95_ns=quantiles.get(0.95),
        p99_ns=quantiles.get(0.99),
        link=link,
    )


def state_charts(where: StepFilter, subject: str, orders_url: Callable[..., str]) -> list[dict]:
    """The charts of where.state over where's window: orders leaving it, and those over its
    limit when any was (an empty chart says less than the page's sentence saying none was);
    `orders_url(filter)` links a bar to the orders of its bucket."""
    buckets = series(where)

    def points(over: bool) -> list[TrendPoint]:
        return [
            _point(
                b,
                orders_url(
                    dataclasses.replace(
                        where, start_ns=b.start_ns, end_ns=b.end_ns, over_limit=over
                    )
                ),
                percentiles=not over,
            )
            for b in buckets
        ]

    left = points(over=False)
    over = points(over=True)
    charts = [
        chart_context(
            left,
            TrendLabels(
                "step-left",
                per_bucket(
                    left,
                    _("Orders leaving the state per hour"),
                    _("Orders leaving the state per day (UTC)"),
                ),
                subject,
                value_text=_left,
                value_heading=_("Orders that left it"),
            ),
        ),
    ]
    if any(p.over_limit for p in over):
        charts.append(
            chart_context(
                over,
                TrendLabels(
                    "step-over",
                    per_bucket(
                        over,
                        _("Over the state's limit per hour"),
                        _("Over the state's limit per day (UTC)"),
                    ),
                    subject,
                    value="over_limit",
                    value_text=_over,
                    count_text=_left,
                    value_heading=_("Over the limit"),
                    count_heading=_("Orders that left it"),
                ),
            )
        )
    return charts
