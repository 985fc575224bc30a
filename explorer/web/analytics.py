"""System-wide pages over a time window: the system map, drift, SLA and anomalies.

A window is the last hour to the last 90 days before "now" (the newest trace in the source, as
in the journey reports, so the demo data is never "too old" to show), or a custom from/to in
the viewer's time zone. A source that keeps hourly figures at ingest (the embedded store: the
KeepsHourlyTraffic capability) answers every page from them over the whole hours of the window:
the map from explorer.store.hourly, SLA, anomalies and drift from
explorer.store.hourly_operations (explorer.web.analytics_hourly). The receiver's index mode
keeps the operations' figures (KeepsHourlyOperations): SLA and anomalies from them; with
EXPLORER_RECEIVER_INDEX_TRAFFIC the map's too (explorer.receiver.calls pairs the calls across
requests: KeepsHourlyTraffic), from when it started counting, which the pages say.
Otherwise (remote backends)
each page reads the newest traces of the window (at most settings.EXPLORER_ANALYTICS_MAX_TRACES)
and says so. Results are cached briefly per window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext
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
from explorer.diagrams.words import language
from explorer.journeys.anomalies import Baseline
from explorer.journeys.report import BASELINE_WINDOW_NS, baseline_from_source
from explorer.journeys.sla import breaches, compliance
from explorer.orders.service import now_in
from explorer.sources.base import KeepsHourlyOperations, KeepsHourlyTraffic, SourceError, TraceQuery
from explorer.store.models import ClockSkew
from explorer.store.traffic import CALLED, PAIR, SERVED, Traffic
from explorer.traces.vocabulary import ORDER_KEY
from explorer.web import analytics_hourly, common, trend_series
from explorer.web.common import clean_text, shown, source_errors
from explorer.web.pseudonyms import url_id

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
WINDOWS = {
    "1h": (HOUR_NS, _("last hour")),
    "6h": (6 * HOUR_NS, _("last 6 hours")),
    "24h": (DAY_NS, _("last 24 hours")),
    "7d": (7 * DAY_NS, _("last 7 days")),
    "30d": (30 * DAY_NS, _("last 30 days")),
    "90d": (90 * DAY_NS, _("last 90 days")),
}
CUSTOM = "custom"
DEFAULT_WINDOW = "24h"
RESULT_SECONDS = 60
_results = SharedCache("default", RESULT_SECONDS)
LIST_ROWS = 50


@dataclass(frozen=True)
class Window:
    """The window a page shows: [start, end) in ns (None when the source holds no trace)."""

    name: str  # a key of WINDOWS, or CUSTOM
    start: int | None
    end: int | None
    typed_from: str = ""  # the custom window as typed
    typed_to: str = ""
    problem: str = ""  # why the custom window typed was not used

    @property
    def query(self) -> dict[str, str]:
        """The URL parameters that give this window again."""
        if self.name == CUSTOM:
            return {"window": CUSTOM, "from": self.typed_from, "to": self.typed_to}
        return {"window": self.name}

    @property
    def length(self) -> int:
        if self.start is None or self.end is None:
            return WINDOWS.get(self.name, WINDOWS[DEFAULT_WINDOW])[0]
        return self.end - self.start


def window_of(request) -> Window:
    """The window the request asks for: ?window=KEY, or ?window=custom&from=...&to=...
    (ISO dates, or dates and times, in the viewer's time zone; a date alone as `to` takes the
    whole day). A custom window that cannot be read falls back to the default, saying why."""
    name = request.GET.get("window")
    problem = ""
    if name == CUSTOM:
        typed_from = clean_text(request.GET.get("from"), 40)
        typed_to = clean_text(request.GET.get("to"), 40)
        found = _custom(typed_from, typed_to)
        if isinstance(found, tuple):
            return Window(CUSTOM, *found, typed_from, typed_to)
        problem = found
    if name not in WINDOWS:
        name = DEFAULT_WINDOW
    now = now_in(common.source())
    if now is None:
        return Window(name, None, None, problem=problem)
    return Window(name, now - WINDOWS[name][0], now + 1, problem=problem)


def _custom(typed_from: str, typed_to: str) -> tuple[int, int] | str:
    if not typed_from or not typed_to:
        return gettext("A custom window needs both a start and an end.")
    start = _moment(typed_from, end=False)
    end = _moment(typed_to, end=True)
    for typed, moment in ((typed_from, start), (typed_to, end)):
        if moment is None:
            return gettext(
                "“%(typed)s” is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)."
            ) % {"typed": typed}
    assert start is not None and end is not None
    if end <= start:
        return gettext("The end of the window must come after its start.")
    return start, end


def _moment(typed: str, end: bool) -> int | None:
    """ns since the epoch of a typed date or date and time; a date alone ending a window
    means the end of that day."""
    try:
        moment = datetime.fromisoformat(typed)
    except ValueError:
        return None
    try:
        if moment.tzinfo is None:
            moment = timezone.make_aware(moment, timezone.get_current_timezone())
        if end and len(typed) == 10:
            moment += timedelta(days=1)
        return int(moment.timestamp() * 10**9)
    except (OverflowError, OSError, ValueError):  # 9999-12-31 as an end, and the like
        return None


def _window(request) -> tuple[str, int | None, int | None]:
    found = window_of(request)
    return found.name, found.start, found.end


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


def _cached(request, page: str, window: Window | str, compute):
    if isinstance(window, Window):
        window = f"{window.name}:{window.start}:{window.end}"
    key = cache_key(
        "analytics",
        page,
        window,
        common.source().name,
        policy=common.policy(request),
        language=get_language(),
    )
    return _results.get_or_compute(key, compute)


def page_context(window: Window | str, start: int | None, end: int | None, traces: int) -> dict:
    if isinstance(window, str):
        window = Window(window, start, end)
    return {
        "window": window.name,
        "window_query": urlencode(window.query),
        "window_from": window.typed_from,
        "window_to": window.typed_to,
        "window_problem": window.problem,
        "windows": [(k, v[1]) for k, v in WINDOWS.items()],
        "start_ns": start,
        "end_ns": end,
        "trace_count": traces,
        "max_traces": settings.EXPLORER_ANALYTICS_MAX_TRACES,
        "sampled": True,
    }


def rate_unit(window: str, length_ns: int | None = None) -> str:
    """Rates per minute over hours, per hour over days: never "0.00/s"."""
    if length_ns is None:
        length_ns = WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])[0]
    return "min" if length_ns <= 6 * HOUR_NS else "h"


def _from_hours(start: int | None, end: int | None, capability: type = KeepsHourlyTraffic) -> bool:
    """Whether the page reads the source's hourly figures (the embedded store; for SLA and
    anomalies, whose capability is KeepsHourlyOperations, the receiver's index mode too)."""
    return start is not None and end is not None and isinstance(common.source(), capability)


def traffic_overlay(
    totals: Mapping[tuple[str, str, str], Traffic], start_ns: int, end_ns: int
) -> Overlay:
    """The system map of hourly figures summed over [start_ns, end_ns): as
    explorer.diagrams.overlay.system_map draws it over traces, p95 to within a bucket."""
    seconds = max((end_ns - start_ns) / 1e9, 1.0)
    overlay = Overlay(title="System map", legend="map")
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
    request,
    window: str,
    start: int | None,
    end: int | None,
    highlight: str | None = None,
    query: dict[str, str] | None = None,
) -> tuple[str, list[dict], int, int | None, bool]:
    """The map's SVG and table rows; the traces read (or, from hourly figures, the traces
    stored in the window), where the numbers begin, and whether they come from hourly figures."""
    config = explorer_config()
    source = common.source()
    covered: int | None
    if isinstance(source, KeepsHourlyTraffic) and start is not None and end is not None:
        from_hours = True
        covered, totals = source.hourly_traffic(start, end)
        # Rates over the time counted: the receiver's index counts from when it started.
        counted_from = analytics_hourly.traffic_counted_from(covered)
        overlay = traffic_overlay(totals, counted_from or covered, end)
        count = source.count_between(covered, end)
    else:
        from_hours = False
        traces = window_traces(start, end)
        covered = covered_start(traces, start)
        overlay = system_map_overlay(traces, config.mapping, covered, end)
        count = len(traces)
    overlay.rate_unit = rate_unit(window, None if start is None or end is None else end - start)
    overlay.lang = language(get_language())
    if highlight in config.model.elements:
        overlay.highlight = highlight
    base = reverse("web:system_map")

    def element_url(element_id: str) -> str:
        return (
            f"{base}?{urlencode({**(query or {'window': window}), 'element': element_id})}#metrics"
        )

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
    window = window_of(request)
    name, start, end = window.name, window.start, window.end
    highlight = clean_text(request.GET.get("element"), 80) or None
    svg, rows, count, covered, from_hours = _cached(
        request,
        f"map:{highlight}",
        window,
        lambda: map_svg(request, name, start, end, highlight, window.query),
    )
    query = urlencode(window.query)
    return render(
        request,
        "web/map.html",
        {
            **page_context(window, start, end, count),
            "svg": svg,
            "metrics": rows,
            "sampled": not from_hours,
            "from_hours": from_hours,
            "covered_ns": covered if covered != start else None,
            "counted_from_ns": (
                analytics_hourly.traffic_counted_from(covered)
                if from_hours and covered is not None
                else None
            ),
            "per_hour": rate_unit(name, window.length) == "h",
            "highlight": highlight,
            "svg_url": reverse("web:map_svg") + f"?{query}",
            "png_url": reverse("web:map_png") + f"?{query}",
        },
    )


@requires("view_analytics")
@source_errors
def drift(request):
    window = window_of(request)
    start, end = window.start, window.end

    def compute():
        config = explorer_config()
        if _from_hours(start, end):
            assert start is not None and end is not None
            found = analytics_hourly.drift(request, config, start, end, get_language())
        else:
            traces = window_traces(start, end)
            report = drift_report(
                config.model, config.mapping, traces, start, end, language=get_language()
            )
            found = {"report": report, "trace_count": len(traces)}
        pol = common.policy(request)
        for item in found["report"]["undocumented"]:
            if item["example"] is not None:
                item["example"] = {k: redact_value(k, v, pol) for k, v in item["example"].items()}
        for item in found["report"]["unmapped_services"]:
            item["service"] = shown(request, item["service"])
        return found

    found = _cached(request, "drift", window, compute)
    context = _hourly_context(window, found)
    context["clock_skew"] = _clock_skew(request)
    context["clock_tolerance_s"] = settings.EXPLORER_CLOCK_TOLERANCE_SECONDS
    return render(request, "web/drift.html", context)


def _hourly_context(window: Window, found: dict) -> dict:
    """The page's context: the window, and what `found` computed (from hourly figures when it
    says where they begin, `covered_ns`)."""
    from_hours = "covered_ns" in found
    return {
        **page_context(window, window.start, window.end, found["trace_count"]),
        **found,
        "from_hours": from_hours,
        "sampled": not from_hours,
    }


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
    window = window_of(request)
    start, end = window.start, window.end

    def compute():
        config = explorer_config()
        if _from_hours(start, end, KeepsHourlyOperations):
            assert start is not None and end is not None
            return analytics_hourly.sla(request, config, start, end)
        return _sampled_sla(request, config, window_traces(start, end))

    found = _cached(request, "sla", window, compute)
    context = _hourly_context(window, found)
    context["endpoints"] = trend_series.with_trend_links(
        found.get("endpoints", []), "endpoint", window.query
    )
    if "per_bucket" in found:  # breaches per hour or day, from hourly figures
        context["trend"] = trend_series.page_chart("sla", found["per_bucket"])
    return render(request, "web/sla.html", context)


def _sampled_sla(request, config, traces: list) -> dict:
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
    orders = {t.trace_id: _order_of(t) for t in traces}
    slowest = [
        {
            "name": config.names.get(b.container, b.container),
            "endpoint": shown(request, b.endpoint),
            "trace_id": url_id(request, b.trace_id),
            "span_id": url_id(request, b.span_id),
            "order_id": url_id(request, orders[b.trace_id]) if orders.get(b.trace_id) else "",
            "duration_ms": b.duration_ms,
            "limit_ms": b.limit_ms,
        }
        for b in found[:LIST_ROWS]
    ]
    return {
        "rows": rows,
        "breaches": slowest,
        "breach_count": len(found),
        "trace_count": len(traces),
    }


def _order_of(trace) -> str:
    """The trace's first order id, "" when it has none."""
    return next(
        (str(s.attributes[ORDER_KEY]) for s in trace.spans if s.attributes.get(ORDER_KEY)), ""
    )


@requires("view_analytics")
@source_errors
def anomalies(request):
    window = window_of(request)
    start, end = window.start, window.end

    def compute():
        config = explorer_config()
        if _from_hours(start, end, KeepsHourlyOperations):
            assert start is not None and end is not None
            return analytics_hourly.anomalies(request, config, start, end)
        return _sampled_anomalies(request, config, start, end)

    found = _cached(request, "anomalies", window, compute)
    context = _hourly_context(window, found)
    for key in ("operations", "spans"):
        context[key] = trend_series.with_trend_links(found.get(key, []), "operation", window.query)
    if "per_bucket" in found:  # atypically slow spans per hour or day, from hourly figures
        context["trend"] = trend_series.page_chart("anomalies", found["per_bucket"])
    return render(request, "web/anomalies.html", context)


def _sampled_anomalies(request, config, start: int | None, end: int | None) -> dict:
    traces = window_traces(start, end)
    pairs = [(config.container_of(s), s) for t in traces for s in t.spans]
    if start is None or end is None:  # both or neither: no trace in the source
        baseline = Baseline()
    else:
        baseline = baseline_from_source(
            common.source(), config.container_of, (end - BASELINE_WINDOW_NS, end)
        )
    services = []
    for service in baseline.atypical_services(pairs):
        slow = int(round(service.slow_fraction * service.spans)) if service.slow_fraction else 0
        services.append(
            {
                "name": config.names.get(service.container, service.container),
                "spans": service.spans,
                "judged": service.spans,
                "slow": slow,
                "slow_fraction": service.slow_fraction,
                "error_rate": service.error_rate,
                "baseline_error_rate": service.baseline_error_rate,
                "slow_reason": any("slow" in r for r in service.reasons),
                "error_reason": any("error rate" in r for r in service.reasons),
            }
        )
    orders = {t.trace_id: _order_of(t) for t in traces}
    spans = []
    for a in baseline.anomalies(pairs)[:LIST_ROWS]:
        found = baseline.lookup(a.container, a.operation)
        assert found is not None
        spans.append(
            {
                "name": config.names.get(a.container, a.container),
                "operation": shown(request, a.operation),
                "trace_id": url_id(request, a.trace_id),
                "span_id": url_id(request, a.span_id),
                "order_id": url_id(request, orders[a.trace_id]) if orders.get(a.trace_id) else "",
                "duration_ms": a.duration_ns / 1e6,
                "median_ms": a.median_ns / 1e6,
                "mad_ms": found.mad_ns / 1e6,
                "spread_ms": found.spread_ns / 1e6,
                "over_ms": (a.duration_ns - a.median_ns) / 1e6,
                "score": a.score,
            }
        )
    return {"services": services, "spans": spans, "trace_count": len(traces)}
