"""The trend of one operation over a window (/trends/?service=…&operation=…[&customer_type=…]
and the window of the analytics pages): requests, errors and p50/p95/p99 per hour, or per UTC
day beyond explorer.store.hourly_series.HOURLY_UP_TO_NS, from the embedded store's hourly
figures; each bucket links to the trace search over its traces. The SLA and anomalies pages
link here from each operation; their own charts (breaches, atypical spans per bucket) are
drawn by explorer.web.analytics with the same renderer.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import requires
from explorer.configuration import explorer_config
from explorer.sources.base import KeepsHourlyOperations
from explorer.store import hourly_operations, hourly_series
from explorer.store.hourly_series import Only
from explorer.web import common, trend_series
from explorer.web.analytics import page_context, window_of
from explorer.web.common import clean_text, page_language, shown, source_errors
from explorer.web.formatting import format_count
from explorer.web.trend_charts import TrendLabels, chart_context

NAME_LENGTH = 300  # longer than any stored service or operation name (ID_LENGTH)


def only_of(request) -> Only:
    """The operation the URL names; a customer type only when one is given."""
    get = request.GET
    customer_type = clean_text(get.get("customer_type"), 64)
    return Only(
        clean_text(get.get("service"), NAME_LENGTH),
        clean_text(get.get("operation"), NAME_LENGTH),
        customer_type or None,
    )


def labels_of(title: str, subject: str, chart_id: str = "trend") -> TrendLabels:
    return TrendLabels(chart_id, title, subject, value_heading=_("Requests"))


@requires("view_analytics")
@source_errors
def operation_trend(request):
    window = window_of(request)
    only = only_of(request)
    context = {
        **page_context(window, window.start, window.end, 0),
        "only": only,
        "window_keep": [
            (name, value)
            for name, value in (
                ("service", only.service),
                ("operation", only.operation),
                ("customer_type", only.customer_type or ""),
            )
            if value
        ],
        # the customer-type form keeps the operation and the window
        "type_keep": [("service", only.service), ("operation", only.operation)]
        + list(window.query.items()),
    }
    source = common.source()
    if not isinstance(source, KeepsHourlyOperations):  # the store, or the receiver's index
        context["problem"] = _(
            "This trace source keeps no hourly figures (a remote backend): charts over time "
            "need the embedded store or the receiver in index mode."
        )
        return render(request, "web/trends.html", context)
    if window.start is None or window.end is None:
        return render(request, "web/trends.html", context)
    if not only.service or not only.operation:
        context.update(
            choices=operation_choices(request, window.start, window.end, window.query),
            trace_count=source.count_between(window.start, window.end),
            sampled=False,
        )
        return render(request, "web/trends.html", context)
    points = trend_series.operation_series(window.start, window.end, only)
    # The trace search finds span names: an operation named from a generic span's route
    # ("GET /orders/{id}") is searched by its service alone.
    named = only.operation in source.operations(only.service)
    search = only if named else Only(only.service, "", only.customer_type)
    points = trend_series.with_links(points, trend_series.traces_links(search))
    config = explorer_config()
    element = hourly_series.element_of(only.service)
    name = config.names.get(element, element) if element else shown(request, only.service)
    subject = f"{name} · {shown(request, only.operation)}"
    total = sum(p.count for p in points)
    context.update(
        name=name,
        operation=shown(request, only.operation),
        customer_type=shown(request, only.customer_type) if only.customer_type else "",
        trend=chart_context(
            points,
            labels_of(
                trend_series.per_bucket(
                    points, _("Requests per hour"), _("Requests per day (UTC)")
                ),
                subject,
            ),
        ),
        total=total,
        total_text=ngettext("%(count)s request", "%(count)s requests", total)
        % {"count": format_count(total, page_language())},
        trace_count=source.count_between(points[0].start_ns, window.end) if points else 0,
        covered_ns=points[0].start_ns if points else None,
        from_hours=True,
        sampled=False,
    )
    return render(request, "web/trends.html", context)


def operation_choices(request, start_ns: int, end_ns: int, window_query: dict) -> list[dict]:
    """The operations with spans in the window, by container then most requests first, each
    with the link to its trend: what /trends/ offers when the URL names no operation."""
    names = explorer_config().names
    choices = [
        {
            "name": names.get(element, element) if element else shown(request, service),
            "operation": shown(request, operation),
            "count": count,
            "errors": errors,
            "trend_url": trend_series.trend_link(service, operation, window_query),
        }
        for (element, service, operation), (count, errors) in hourly_operations.operation_counts(
            start_ns, end_ns
        ).items()
    ]
    return sorted(choices, key=lambda c: (c["name"], -c["count"], c["operation"]))
