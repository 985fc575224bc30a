"""System-wide pages over a time window: the system map, drift, SLA and anomalies.

The system map of a source that keeps hourly figures at ingest (the embedded store:
explorer.store.hourly, the KeepsHourlyTraffic capability) sums them over the whole hours of the
window. Otherwise each page reads the
newest traces of the window (at most settings.EXPLORER_ANALYTICS_MAX_TRACES) from the source;
"now" is the newest trace in the source, as in the journey reports, so the demo data
is never "too old" to show. Results are cached briefly per window.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.access import requires
from accounts.redaction import redact_value
from explorer.c4.drift import drift as drift_report
from explorer.caching import SharedCache, cache_key
from explorer.configuration import explorer_config
from explorer.diagrams.overlay import Metric, Overlay
from explorer.diagrams.overlay import system_map as system_map_overlay
from explorer.diagrams.overlay_text import RATE_UNITS
from explorer.diagrams.render import render_svg
from explorer.journeys.anomalies import Baseline
from explorer.journeys.report import BASELINE_WINDOW_NS, baseline_from_source
from explorer.journeys.sla import breaches, compliance
from explorer.orders.service import now_in
from explorer.sources.base import KeepsHourlyTraffic, SourceError, TraceQuery
from explorer.store.models import ClockSkew
from explorer.store.traffic import CALLED, PAIR, SERVED, Traffic
from explorer.web import common
from explorer.web.common import clean_text, shown, source_errors
from explorer.web.pseudonyms import url_id

HOUR_NS = 3600 * 10**9
WINDOWS = {
    "1h": (HOUR_NS, _("last hour")),
    "6h": (6 * HOUR_NS, _("last 6 hours")),
    "24h": (24 * HOUR_NS, _("last 24 hours")),
    "7d": (7 * 24 * HOUR_NS, _("last 7 days")),
}
DEFAULT_WINDOW = "24h"
RESULT_SECONDS = 60
_results = SharedCache("default", RESULT_SECONDS)
LIST_ROWS = 50


def _window(request) -> tuple[str, int | None, int | None]:
    name = request.GET.get("window")
    if name not in WINDOWS:
        name = DEFAULT_WINDOW
    now = now_in(common.source())
    if now is None:
        return name, None, None
    return name, now - WINDOWS[name][0], now + 1


def window_traces(start_ns: int | None, end_ns: int | None) -> list:
    source = common.source()
    if start_ns is None:
        return []
    summaries = source.search(
        TraceQuery(start_ns=start_ns, end_ns=end_ns, limit=settings.EXPLORER_ANALYTICS_MAX_TRACES)
    )
    traces = []
    for summary in summaries:
        try:
            traces.append(source.get_trace(summary.trace_id))
        except SourceError:
            continue  # gone meanwhile: the page still shows the rest
    return traces


def _cached(request, page: str, window: str, compute):
    key = cache_key(
        "analytics",
        page,
        window,
        common.source().name,
        policy=common.policy(request),
        language=get_language(),
    )
    return _results.get_or_compute(key, compute)


def _page_context(name: str, start: int | None, end: int | None, traces: int) -> dict:
    return {
        "window": name,
        "windows": [(k, v[1]) for k, v in WINDOWS.items()],
        "start_ns": start,
        "end_ns": end,
        "trace_count": traces,
        "max_traces": settings.EXPLORER_ANALYTICS_MAX_TRACES,
        "sampled": True,
    }


def rate_unit(window: str) -> str:
    """Rates per minute over hours, per hour over days: never "0.00/s"."""
    return "min" if WINDOWS[window][0] <= 6 * HOUR_NS else "h"


def traffic_overlay(
    totals: Mapping[tuple[str, str, str], Traffic], start_ns: int, end_ns: int
) -> Overlay:
    """The system map of hourly figures summed over [start_ns, end_ns): as
    explorer.diagrams.overlay.system_map draws it over traces, p95 to within a bucket."""
    seconds = max((end_ns - start_ns) / 1e9, 1.0)
    overlay = Overlay(title="System map")
    # an element serving requests is measured on them, else on the calls made to it
    order = {CALLED: 0, SERVED: 1, PAIR: 2}
    for (kind, source, target), t in sorted(totals.items(), key=lambda kv: order[kv[0][0]]):
        if t.calls <= 0:
            continue
        key = (source, target) if kind == PAIR else source
        overlay.metrics[key] = Metric(
            rate=t.calls / seconds, error_rate=t.errors / t.calls, p95_ms=t.p95_ms(), count=t.calls
        )
    return overlay


def map_svg(
    request, window: str, start: int | None, end: int | None, highlight: str | None = None
) -> tuple[str, list[dict], int, int | None, bool]:
    """The map's SVG and table rows; the traces read (or, from hourly figures, the traces
    stored in the window), where the numbers begin, and whether they come from hourly figures."""
    config = explorer_config()
    source = common.source()
    covered: int | None
    if isinstance(source, KeepsHourlyTraffic) and start is not None and end is not None:
        from_hours = True
        covered, totals = source.hourly_traffic(start, end)
        overlay = traffic_overlay(totals, covered, end)
        count = source.count_between(covered, end)
    else:
        from_hours = False
        traces = window_traces(start, end)
        covered = covered_start(traces, start)
        overlay = system_map_overlay(traces, config.mapping, covered, end)
        count = len(traces)
    overlay.rate_unit = rate_unit(window)
    if highlight in config.model.elements:
        overlay.highlight = highlight
    base = reverse("web:system_map")

    def element_url(element_id: str) -> str:
        return f"{base}?{urlencode({'window': window, 'element': element_id})}#metrics"

    svg = render_svg(config.model, overlay, element_url=element_url)
    rows = []
    for key, metric in sorted(overlay.metrics.items(), key=lambda kv: str(kv[0])):
        if isinstance(key, tuple):
            label = " → ".join(config.names.get(k, k) for k in key)
            element = None
        else:
            label, element = config.names.get(key, key), key
        rows.append(
            {
                "label": label,
                "element": element,
                "rate": metric.rate * RATE_UNITS[overlay.rate_unit],
                "error_rate": metric.error_rate,
                "p95_ms": metric.p95_ms,
                "count": metric.count,
            }
        )
    return svg, rows, count, covered, from_hours


def covered_start(traces: list, start: int | None) -> int | None:
    """Where the traces read really begin: the window's start, unless the cap on traces cut
    it (then the oldest trace read), so rates are over the time the numbers cover."""
    if start is None or len(traces) < settings.EXPLORER_ANALYTICS_MAX_TRACES or not traces:
        return start
    return max(start, min(t.start_ns for t in traces if t.spans))


@requires("view_analytics")
@source_errors
def system_map(request):
    name, start, end = _window(request)
    highlight = clean_text(request.GET.get("element"), 80) or None
    svg, rows, count, covered, from_hours = _cached(
        request, f"map:{highlight}", name, lambda: map_svg(request, name, start, end, highlight)
    )
    return render(
        request,
        "web/map.html",
        {
            **_page_context(name, start, end, count),
            "svg": svg,
            "metrics": rows,
            "sampled": not from_hours,
            "from_hours": from_hours,
            "covered_ns": covered if covered != start else None,
            "per_hour": rate_unit(name) == "h",
            "highlight": highlight,
            "svg_url": reverse("web:map_svg") + f"?window={name}",
            "png_url": reverse("web:map_png") + f"?window={name}",
        },
    )


@requires("view_analytics")
@source_errors
def drift(request):
    name, start, end = _window(request)

    def compute():
        config = explorer_config()
        traces = window_traces(start, end)
        report = drift_report(config.model, config.mapping, traces, start, end)
        pol = common.policy(request)
        for item in report["undocumented"]:
            item["example"] = {k: redact_value(k, v, pol) for k, v in item["example"].items()}
        for item in report["unmapped_services"]:
            item["service"] = shown(request, item["service"])
        return report, len(traces)

    report, count = _cached(request, "drift", name, compute)
    context = {**_page_context(name, start, end, count), "report": report}
    context["clock_skew"] = _clock_skew(request)
    context["clock_tolerance_s"] = settings.EXPLORER_CLOCK_TOLERANCE_SECONDS
    return render(request, "web/drift.html", context)


def _clock_skew(request) -> list[dict]:
    """Senders and services whose spans ended ahead of the data clock (explorer.store.clock),
    last seen first: read on each visit, never cached, so a new one shows at once."""
    rows = ClockSkew.objects.order_by("-last_seen_at", "sender", "service")[:LIST_ROWS]
    return [
        {
            "sender": row.sender,
            "service": shown(request, row.service),
            "spans": row.spans,
            "largest_lead_ns": row.largest_lead_ns,
            "last_seen_at": row.last_seen_at,
        }
        for row in rows
    ]


@requires("view_analytics")
@source_errors
def sla(request):
    name, start, end = _window(request)

    def compute():
        config = explorer_config()
        traces = window_traces(start, end)
        pairs = [(config.container_of(s), s) for t in traces for s in t.spans]
        rows = (
            [
                {
                    "container": c.container,
                    "name": config.names.get(c.container, c.container),
                    "requests": c.requests,
                    "within": c.within,
                    "fraction": c.fraction,
                }
                for c in compliance(config.sla, pairs)
            ]
            if config.sla
            else []
        )
        found = breaches(config.sla, pairs) if config.sla else []
        found.sort(key=lambda b: -(b.duration_ms / b.limit_ms))
        slowest = [
            {
                "container": b.container,
                "endpoint": shown(request, b.endpoint),
                "trace_id": url_id(request, b.trace_id),
                "span_id": url_id(request, b.span_id),
                "duration_ms": b.duration_ms,
                "limit_ms": b.limit_ms,
            }
            for b in found[:LIST_ROWS]
        ]
        return rows, slowest, len(found), len(traces)

    rows, slowest, breach_count, count = _cached(request, "sla", name, compute)
    return render(
        request,
        "web/sla.html",
        {
            **_page_context(name, start, end, count),
            "rows": rows,
            "breaches": slowest,
            "breach_count": breach_count,
        },
    )


@requires("view_analytics")
@source_errors
def anomalies(request):
    name, start, end = _window(request)

    def compute():
        config = explorer_config()
        traces = window_traces(start, end)
        pairs = [(config.container_of(s), s) for t in traces for s in t.spans]
        if start is None or end is None:  # both or neither: no trace in the source
            baseline = Baseline()
        else:
            baseline = baseline_from_source(
                common.source(), config.container_of, (end - BASELINE_WINDOW_NS, end)
            )
        services = [
            {
                "container": a.container,
                "name": config.names.get(a.container, a.container),
                "spans": a.spans,
                "slow_fraction": a.slow_fraction,
                "error_rate": a.error_rate,
                "baseline_error_rate": a.baseline_error_rate,
                "reasons": a.reasons,
            }
            for a in baseline.atypical_services(pairs)
        ]
        spans = [
            {
                **a.as_dict(),
                "operation": shown(request, a.operation),
                "trace_id": url_id(request, a.trace_id),
                "span_id": url_id(request, a.span_id),
            }
            for a in baseline.anomalies(pairs)[:LIST_ROWS]
        ]
        return services, spans, len(traces)

    services, spans, count = _cached(request, "anomalies", name, compute)
    return render(
        request,
        "web/anomalies.html",
        {**_page_context(name, start, end, count), "services": services, "spans": spans},
    )
