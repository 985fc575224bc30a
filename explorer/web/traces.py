"""The trace page: overview, minimap, a window of the waterfall, span details, search within
the trace, self-time statistics and the trace on the C4 diagram.

Huge traces stay usable: the first response carries the overview and WINDOW rows; more rows
come from the rows endpoint as the user scrolls or expands (static/web/waterfall.js). The
statistics and the diagram of big traces load as fragments after the page.
The same views serve uploaded files (explorer.web.upload_store): `where` says which trace it is.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from urllib.parse import quote

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts import audit
from accounts.access import requires
from accounts.redaction import (
    PSEUDONYM,
    holds_identifier,
    redact_id,
    redact_text,
    redact_trace,
    redact_value,
)
from explorer.configuration import explorer_config
from explorer.diagrams.overlay import overlay_from_traces
from explorer.diagrams.render import render_svg
from explorer.diagrams.words import language
from explorer.sources.base import TraceNotFound
from explorer.traces.model import Trace
from explorer.web import common, retained
from explorer.web.common import clean_int, clean_text, shown, source_errors
from explorer.web.pseudonyms import raw_id_from_url, url_id
from explorer.web.service_colours import colour_classes
from explorer.web.trace_cache import PreparedTrace, TraceChanged, forget, prepared_trace
from explorer.web.upload_store import upload_source
from explorer.web.waterfall import (
    Row,
    build_rows,
    hidden_runs,
    parse_collapsed,
    svg_number,
    visible_count,
    visible_index,
    visible_window,
)

WINDOW = 200
MAX_WINDOW = 1000
INLINE_DIAGRAM_SPANS = 5_000  # bigger traces get their diagram as a fragment after the page
INLINE_STATS_SPANS = 20_000
# Bigger traces are drawn on request only (a link), never fetched by the page itself: drawing a
# 1,000,000-span trace reads it whole and keeps a worker busy for minutes after every view.
AUTO_DIAGRAM_SPANS = 100_000
STATS_ROWS = 50
SEARCH_RESULTS = 50
MAX_ID = 200
MAX_LEVEL_CHOICES = 30  # offered in "Levels shown"
MAX_FOLDS = 20  # services collapsed at once
FOLD_ENTRIES = "entries"  # ?fold=: each service's first level only


@dataclass(frozen=True)
class TraceWhere:
    """Which trace a page shows and how to name its URLs: stored, or in an upload."""

    trace_id: str  # as the URL names it (for a viewer who sees pseudonyms: with them)
    upload: str | None = None
    source_id: str = ""  # the id in the source, when it differs from trace_id

    @property
    def lookup_id(self) -> str:
        return self.source_id or self.trace_id

    def url(self, name: str, *extra: str) -> str | None:
        """The URL of one of the trace's pages; None for downloads of an upload (the user
        has the file)."""
        if self.upload:
            try:
                return reverse(f"web:upload_{name}", args=[self.upload, self.trace_id, *extra])
            except NoReverseMatch:
                return None
        return reverse(f"web:{name}", args=[self.trace_id, *extra])

    def load(self, request) -> PreparedTrace:
        if len(self.lookup_id) > MAX_ID:
            raise Http404(_("No such trace."))
        if self.upload:
            return prepared_trace(
                upload_source(request, self.upload), self.lookup_id, scope=f"upload:{self.upload}"
            )
        return prepared_trace(common.source(), self.lookup_id)

    def forget(self) -> None:
        forget(f"upload:{self.upload}" if self.upload else common.source().name, self.lookup_id)


def stored_trace(view):
    """A view of a stored trace, called with the TraceWhere of the trace the URL names (its
    id as the viewer sees it: pseudonyms.raw_id_from_url); a raw id the viewer may not see is
    refused (audited) and answered like a missing trace."""

    @wraps(view)
    def resolved(request, trace_id, *args, **kwargs):
        lookup_id, instead = raw_id_from_url(request, "trace", trace_id)
        if instead is not None:
            return instead
        if lookup_id is None:
            return common.not_found(request, _("No such trace."))
        try:
            return view(request, TraceWhere(trace_id, source_id=lookup_id), *args, **kwargs)
        except TraceNotFound:  # "removed by retention on ..." rather than "not found"
            removed = retained.removed_trace(request, lookup_id)
            if removed is None:
                raise
            return removed

    return resolved


def fresh(view):
    """Runs a trace view once more, on a freshly read trace, when spans were merged into the
    trace since its layout was cached."""

    @wraps(view)
    def retried(request, where: TraceWhere, *args):
        try:
            return view(request, where, *args)
        except TraceChanged:
            where.forget()
            return view(request, where, *args)

    return retried


def _collapsed(request, prepared: PreparedTrace) -> tuple[set[int], dict]:
    """The rows collapsed for this request: with `levels` (how many levels of the tree are
    shown) the rows at that depth and deeper, plus `collapsed`, minus `expanded` (rows the
    user opened again); and the state to send back to the page."""
    size = len(prepared.order)
    collapsed = parse_collapsed(request.GET.get("collapsed"), size)
    expanded = parse_collapsed(request.GET.get("expanded"), size)
    levels = clean_int(request.GET.get("levels"), 0, 0, 10_000)
    result = set(collapsed)
    if 0 < levels <= prepared.max_depth:
        result.update(prepared.rows_at_depth(levels - 1))
    else:
        levels = 0
    folded = _folded_services(request, prepared)
    if folded:
        result.update(prepared.service_rows(frozenset(folded.values())))
    entries = request.GET.get("fold") == FOLD_ENTRIES
    if entries:
        result.update(prepared.rows_below_entries())
    result -= expanded
    state = {
        "collapsed": ",".join(str(c) for c in sorted(collapsed)),
        "expanded": ",".join(str(c) for c in sorted(expanded)),
        "levels": levels,
        "fold_services": list(folded),
        "fold": FOLD_ENTRIES if entries else "",
    }
    return result, state


def _folded_services(request, prepared: PreparedTrace) -> dict[str, int]:
    """The services whose spans `fold_service` collapses, by the name the viewer sees: {name:
    index in prepared.services}; names the trace does not have are ignored."""
    asked = [clean_text(name) for name in request.GET.getlist("fold_service")[:MAX_FOLDS]]
    if not any(asked):
        return {}
    indexes = {shown(request, name): i for i, name in enumerate(prepared.services)}
    return {name: indexes[name] for name in asked if name in indexes}


def _rows_context(
    request,
    prepared: PreparedTrace,
    where: TraceWhere,
    offset: int,
    limit: int,
    collapsed: set[int],
    matches: Set[int] = frozenset(),
) -> dict:
    runs = hidden_runs(prepared.order, collapsed)
    total = visible_count(prepared.order, runs)
    offset = min(offset, max(total - 1, 0))
    numbers = visible_window(prepared.order, runs, offset, limit)
    spans = prepared.spans_at(prepared.order.order[r] for r in numbers)
    rows = build_rows(
        spans,
        prepared.order,
        numbers,
        collapsed,
        prepared.critical,
        prepared.start_ns,
        prepared.duration_ns,
    )
    pol = common.policy(request)
    colours = colour_classes(prepared.services)
    # One reverse() for the window: the span page URL ends with "<span id>/".
    span_url = where.url("span", "x")
    assert span_url is not None  # only downloads of an upload have no URL
    span_prefix = span_url[: -len("x/")]
    shown_rows = []
    for index, row in enumerate(rows, start=offset):
        classes = ["span-row"]
        if row.error:
            classes.append("is-error")
        if row.critical:
            classes.append("is-critical")
        if row.row in matches:
            classes.append("is-match")
        classes.append(colours.get(row.service, "svc-0"))
        shown_rows.append(
            {
                "row": row.row,
                "index": index,
                "depth": row.depth,
                "depth_class": min(row.depth, 40),
                "name": redact_text(row.name, pol),
                "service": redact_text(row.service, pol),
                "has_children": row.has_children,
                "collapsed": row.collapsed,
                "offset_ns": row.offset_ns,
                "duration_ns": row.duration_ns,
                "error": row.error,
                "critical": row.critical,
                # Machine-formatted: a localised "0,5" is no SVG length.
                "x": svg_number(row.bar_x),
                "w": svg_number(row.bar_width),
                "classes": " ".join(classes),
                "clock": clock_time(row.start_ns),
                "events": _event_marks(row, pol),
                # The row lets the span's page read one chunk of a huge stored trace.
                "url": f"{span_prefix}{_url_part(url_id(request, row.span_id))}/?row={row.row}",
            }
        )
    return {"rows": shown_rows, "offset": offset, "next_offset": offset + len(rows), "total": total}


def _event_marks(row: Row, pol) -> list[dict]:
    """The row's events for its bar: redacted names (escaped by the template), machine x."""
    return [
        {"name": redact_text(e.name, pol), "offset_ns": e.offset_ns, "x": svg_number(e.x)}
        for e in row.events
    ]


def clock_time(ns: int) -> dict:
    """A span's start as the clock in the viewer's time zone shows it, to the millisecond;
    "—" for a time no clock shows (a hostile timestamp past year 9999)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=rest // 1000)
        moment = timezone.localtime(moment)
    except (OverflowError, OSError, ValueError):
        return {"iso": "", "text": "—"}
    return {"iso": moment.isoformat(), "text": moment.strftime("%H:%M:%S.%f")[:-3]}


def _legend(request, prepared: PreparedTrace) -> list[dict]:
    """The trace's services with their colour classes, as the viewer sees their names."""
    colours = colour_classes(prepared.services)
    return [{"name": shown(request, s), "colour": colours[s]} for s in prepared.services]


def _url_part(text: str) -> str:
    return quote(text, safe="")


def _search(request, prepared: PreparedTrace, query: str) -> list[dict]:
    """Spans whose name, service, id or an attribute value contains the query, as the viewer
    sees them (a masked value is not found by its hidden text)."""
    needle = query.casefold()
    pol = common.policy(request)
    found = []
    for position, span in prepared.each_span():
        texts = [span.name, span.resource.service_name, span.span_id]
        raw_hit = any(needle in t.casefold() for t in texts)
        attribute_hit = False
        if not raw_hit:
            for key, value in span.attributes.items():
                if isinstance(value, str) and needle in value.casefold():
                    attribute_hit = needle in str(redact_value(key, value, pol)).casefold()
                    if attribute_hit:
                        break
        if raw_hit:
            raw_hit = any(needle in shown(request, t).casefold() for t in texts)
        if raw_hit or attribute_hit:
            found.append(
                {
                    "row": prepared.row_of(position),
                    "span_id": shown(request, span.span_id),
                    "name": shown(request, span.name),
                    "service": shown(request, span.resource.service_name),
                }
            )
            if len(found) >= SEARCH_RESULTS:
                break
    return found


def stats_rows(request, prepared: PreparedTrace) -> list[dict]:
    stats = sorted(prepared.operation_stats(), key=lambda s: -s.self_ns)[:STATS_ROWS]
    return [
        {
            "service": shown(request, s.service),
            "operation": shown(request, s.operation),
            "count": s.count,
            "total_ns": s.total_ns,
            "self_ns": s.self_ns,
            "mean_ns": int(s.mean_ns),
            "max_ns": s.max_ns,
            "errors": s.errors,
        }
        for s in stats
    ]


def trace_svg(request, prepared: PreparedTrace, where: TraceWhere) -> str:
    """The trace drawn on the C4 diagram (redacted before it reaches the overlay)."""
    config = explorer_config()
    redacted = redact_trace(prepared.trace, common.policy(request))
    overlay = overlay_from_traces(
        [redacted],
        config.model,
        config.mapping,
        sla_limit_ms=config.sla_limit_ms,
        title=_("Trace %(id)s") % {"id": where.trace_id[:32]},
        step_url=lambda _trace, span_id: where.url("span", _url_part(span_id)),
        lang=language(get_language()),
    )
    overlay.legend = "trace"
    return render_svg(config.model, overlay)


@fresh
def trace_page(request, where: TraceWhere):
    prepared = where.load(request)
    size = len(prepared.order)
    collapsed, state = _collapsed(request, prepared)
    query = clean_text(request.GET.get("q"))
    results = _search(request, prepared, query) if query else []
    matches = {r["row"] for r in results}
    at = clean_int(request.GET.get("at"), -1, -1, max(size - 1, 0))
    offset = 0
    if at >= 0:
        runs = hidden_runs(prepared.order, collapsed)
        index = visible_index(at, runs)
        offset = (index or 0) // WINDOW * WINDOW  # a whole window, as the script asks them
    rows = _rows_context(request, prepared, where, offset, WINDOW, collapsed, matches)
    selected = clean_text(request.GET.get("span"))
    context = {
        "where": where,
        "trace_id": where.trace_id,
        "shown_trace_id": shown(request, where.trace_id),  # an id may hold a customer id
        "upload": where.upload,
        "span_count": size,
        "services": [shown(request, s) for s in prepared.services],
        "legend": _legend(request, prepared),
        "time_zone": timezone.get_current_timezone_name(),
        "duration_ns": prepared.duration_ns,
        "start_ns": prepared.start_ns,
        "error_count": prepared.error_count,
        "critical_count": len(prepared.critical),
        "buckets": prepared.buckets,
        "warnings": [shown(request, w) for w in prepared.warnings[:20]],
        "query": query,
        "results": results,
        **state,
        "window": WINDOW,
        "matches": ",".join(str(r["row"]) for r in results),
        "level_choices": range(1, min(prepared.max_depth, MAX_LEVEL_CHOICES) + 1),
        "compare_url": reverse("web:compare") if not where.upload else None,
        "rows_url": where.url("trace_rows"),
        "page_url": where.url("trace"),
        "stats_url": where.url("trace_stats"),
        "diagram_url": where.url("trace_diagram"),
        "json_url": where.url("trace_json"),
        "svg_url": where.url("trace_diagram_svg"),
        "png_url": where.url("trace_diagram_png"),
        # Reading a trace whole for them would cost more than the page: after the page.
        "inline_stats": size <= INLINE_STATS_SPANS and prepared.whole,
        "inline_diagram": size <= INLINE_DIAGRAM_SPANS and prepared.whole,
        "auto_diagram": size <= AUTO_DIAGRAM_SPANS,
        **rows,
    }
    if context["inline_stats"]:
        context["stats"] = stats_rows(request, prepared)
    if context["inline_diagram"]:
        context["svg"] = trace_svg(request, prepared, where)
    if selected:  # a span's link: `at` is its row, so a huge trace is not read whole
        context["span"] = _span_context(request, prepared, selected, at if at >= 0 else None)
    response = render(request, "web/trace.html", context)
    if not where.upload:  # once the page is made: `fresh` may make it twice
        audit.record(request, audit.AuditAction.VIEW, "trace", where.trace_id)
    return response


@fresh
def trace_rows(request, where: TraceWhere):
    """A window of rows: JSON {html, offset, next_offset, total, rows, index}, or the bare HTML
    with ?format=html. `at=ROW` asks for the window holding that row (`index`: its place among
    the visible rows, null when a collapsed span hides it)."""
    prepared = where.load(request)
    size = len(prepared.order)
    collapsed, _state = _collapsed(request, prepared)
    offset = clean_int(request.GET.get("offset"), 0, 0, max(size - 1, 0))
    limit = clean_int(request.GET.get("limit"), WINDOW, 1, MAX_WINDOW)
    at = clean_int(request.GET.get("at"), -1, -1, max(size - 1, 0))
    index = None
    if at >= 0:  # the window of `limit` rows that holds this row (a search hit), if shown
        index = visible_index(at, hidden_runs(prepared.order, collapsed))
        if index is not None:
            offset = index // limit * limit
    context = _rows_context(request, prepared, where, offset, limit, collapsed)
    html = render_to_string("web/_rows.html", context, request=request)
    if request.GET.get("format") == "html":
        return HttpResponse(html)
    return JsonResponse(
        {
            "html": html,
            "offset": context["offset"],
            "next_offset": context["next_offset"],
            "total": context["total"],
            "rows": [r["row"] for r in context["rows"]],
            "index": index,
        }
    )


def _attributes(request, attributes: dict) -> list[tuple[str, str]]:
    return sorted((shown(request, key), str(value)) for key, value in attributes.items())


def _span_position(
    request, prepared: PreparedTrace, span_id: str, row: int | None = None
) -> int | None:
    """The position of the span the viewer calls `span_id`: its id as the viewer's redaction
    shows it (a raw id holding a customer id is never looked up for a viewer who may not see
    it: that would tell whether the trace holds the id)."""
    pol = common.export_policy(request)
    if pol.show_identifiers:
        return prepared.position(span_id, row)
    if holds_identifier(span_id, pol):
        return None
    position = prepared.position(span_id, row)
    if position is not None or not PSEUDONYM.search(span_id):
        return position
    # A redacted id: the row the link named, else every span (links from journeys have none).
    if row is not None and 0 <= row < len(prepared.order):
        at = prepared.order.order[row]
        if redact_id(prepared.spans_at([at])[at].span_id, pol) == span_id:
            return at
    return next(
        (i for i, span in prepared.each_span() if redact_id(span.span_id, pol) == span_id),
        None,
    )


def _span_context(
    request, prepared: PreparedTrace, span_id: str, row: int | None = None
) -> dict | None:
    position = _span_position(request, prepared, span_id, row)
    if position is None:
        return None
    raw = prepared.spans_at([position])[position]
    span = redact_trace(Trace(raw.trace_id, [raw]), common.policy(request)).spans[0]
    return {
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "name": span.name,
        "service": span.service,
        "kind": span.kind.name,
        "start_ns": span.start_ns,
        "offset_ns": span.start_ns - prepared.start_ns,
        "duration_ns": span.duration_ns,
        "status": span.status_code.name,
        "status_message": span.status_message,
        "error": span.is_error,
        "critical": position in prepared.critical,
        "row": prepared.row_of(position),
        "attributes": _attributes(request, span.attributes),
        "resource": _attributes(request, span.resource.attributes),
        "scope": span.scope,
        "events": [
            {
                "name": e.name,
                "offset_ns": e.time_ns - prepared.start_ns,
                "attributes": _attributes(request, e.attributes),
            }
            for e in span.events
        ],
        "links": [
            {
                "trace_id": link.trace_id,
                "span_id": link.span_id,
                "attributes": _attributes(request, link.attributes),
            }
            for link in span.links
        ],
    }


@fresh
def span_detail(request, where: TraceWhere, span_id: str):
    prepared = where.load(request)
    row = clean_int(request.GET.get("row"), -1, -1, len(prepared.order) - 1)
    span = _span_context(request, prepared, clean_text(span_id), row if row >= 0 else None)
    if span is None:
        return common.not_found(
            request, _("This trace has no span %(id)s.") % {"id": clean_text(span_id, 40)}
        )
    partial = request.GET.get("partial") == "1"
    template = "web/_span.html" if partial else "web/span.html"
    return render(
        request,
        template,
        {"span": span, "where": where, "trace_id": where.trace_id, "page_url": where.url("trace")},
    )


@fresh
def trace_stats(request, where: TraceWhere):
    prepared = where.load(request)
    partial = request.GET.get("partial") == "1"
    return render(
        request,
        "web/_stats.html" if partial else "web/fragment_page.html",
        {
            "stats": stats_rows(request, prepared),
            "fragment": "web/_stats.html",
            "page_url": where.url("trace"),
            "trace_id": where.trace_id,
        },
    )


@fresh
def trace_diagram(request, where: TraceWhere):
    prepared = where.load(request)
    partial = request.GET.get("partial") == "1"
    return render(
        request,
        "web/_diagram.html" if partial else "web/fragment_page.html",
        {
            "svg": trace_svg(request, prepared, where),
            "fragment": "web/_diagram.html",
            "page_url": where.url("trace"),
            "trace_id": where.trace_id,
        },
    )


# Stored traces ---------------------------------------------------------------------------


@requires("view_journeys")
@source_errors
@stored_trace
def trace(request, where: TraceWhere):
    return trace_page(request, where)


@requires("view_journeys")
@source_errors
@stored_trace
def rows(request, where: TraceWhere):
    return trace_rows(request, where)


@requires("view_journeys")
@source_errors
@stored_trace
def span(request, where: TraceWhere, span_id):
    return span_detail(request, where, span_id)


@requires("view_journeys")
@source_errors
@stored_trace
def stats(request, where: TraceWhere):
    return trace_stats(request, where)


@requires("view_journeys")
@source_errors
@stored_trace
def diagram(request, where: TraceWhere):
    return trace_diagram(request, where)
