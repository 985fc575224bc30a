"""Downloads: journeys and traces as JSON (redacted), diagrams as SVG and PNG; audited.
Exports: a journey's steps, a customer's orders and a trace's spans as CSV (redacted,
formula-safe, audited as exports)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts import audit
from accounts.access import requires
from accounts.exports import csv_response
from accounts.redaction import redact_id, redact_mapping, redact_text, redact_trace, redact_value
from explorer.caching import SharedCache, cache_key
from explorer.configuration import explorer_config
from explorer.journeys.lookups import customer_orders
from explorer.journeys.report import iso
from explorer.orders.service import judge_states_of_orders
from explorer.traces.model import Trace
from explorer.web import common
from explorer.web.analytics import _window, map_svg
from explorer.web.common import clean_text, shown, shown_customer, source_errors
from explorer.web.journeys import MAX_ID, customer_not_found, report, unknown_customer
from explorer.web.order_page import journey_svg
from explorer.web.pseudonyms import customer_from_url, raw_id_from_url
from explorer.web.traces import TraceWhere, stored_trace, trace_svg

PNG_TIMEOUT_SECONDS = 30
PNG_CACHE_SECONDS = 600
_pngs = SharedCache("default", PNG_CACHE_SECONDS)


def _filename(stem: str, suffix: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:80] or "download"
    return f"{safe}.{suffix}"


def _attachment(content: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def svg_to_png(svg: str) -> bytes:
    """PNG of an SVG through rsvg-convert (Debian's librsvg2-bin), cached by content."""
    key = cache_key("png", svg)
    cached = _pngs.get(key)
    if cached is not None:
        return cached
    program = shutil.which("rsvg-convert")
    if program is None:
        raise RuntimeError(
            _(
                "PNG needs rsvg-convert (package librsvg2-bin), which is not "
                "installed; download the SVG instead."
            )
        )
    done = subprocess.run(
        [program, "--format=png", "--zoom=1.5"],
        input=svg.encode("utf-8"),
        capture_output=True,
        timeout=PNG_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(_("The diagram could not be converted to PNG."))
    _pngs.put(key, done.stdout)
    return done.stdout


def _diagram(request, svg: str, stem: str, fmt: str, obj_type: str, obj_id: str):
    audit.record(request, audit.AuditAction.DOWNLOAD, obj_type, obj_id, f"diagram {fmt}")
    if fmt == "svg":
        return _attachment(svg, "image/svg+xml", _filename(stem, "svg"))
    try:
        png = svg_to_png(svg)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        return render(request, "web/source_down.html", {"message": str(exc)}, status=503)
    return _attachment(png, "image/png", _filename(stem, "png"))


def _json_default(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def trace_document(trace: Trace) -> dict:
    """A trace as plain JSON data, in the normalised model's terms."""
    return {
        "trace_id": trace.trace_id,
        "warnings": trace.warnings,
        "spans": [
            {
                "span_id": s.span_id,
                "parent_id": s.parent_id,
                "name": s.name,
                "kind": s.kind.name,
                "start_ns": s.start_ns,
                "end_ns": s.end_ns,
                "service": s.service,
                "resource": s.resource.attributes,
                "attributes": s.attributes,
                "status": s.status_code.name,
                "status_message": s.status_message,
                "scope": {"name": s.scope.name, "version": s.scope.version},
                "events": [
                    {"name": e.name, "time_ns": e.time_ns, "attributes": e.attributes}
                    for e in s.events
                ],
                "links": [
                    {
                        "trace_id": link.trace_id,
                        "span_id": link.span_id,
                        "attributes": link.attributes,
                    }
                    for link in s.links
                ],
            }
            for s in trace.spans
        ],
    }


def _journey_report(request, order_id: str):
    """(the order id as given, its journey report or None) for an order id from a URL,
    read as the viewer sees it (pseudonyms.raw_id_from_url: a raw id holding a customer id is
    refused, audited, for viewers who may not see it)."""
    given = clean_text(order_id, MAX_ID)
    raw_id, _refused = raw_id_from_url(request, "order", given) if given else (None, None)
    result = report(raw_id) if raw_id else None
    if result is None or not result.journey.traces:
        return given, None
    return given, result


@requires("view_journeys")
@source_errors
def journey_json(request, order_id):
    order_id, result = _journey_report(request, order_id)
    if result is None:
        return common.not_found(
            request, _("No trace mentions the order “%(id)s”.") % {"id": shown(request, order_id)}
        )
    data = redact_mapping(result.as_dict(), common.export_policy(request))
    data["customer_id"] = shown_customer(request, result.journey.customer_id)
    audit.record(request, audit.AuditAction.DOWNLOAD, "order", order_id, "journey json")
    return _attachment(
        orjson.dumps(data, default=_json_default, option=orjson.OPT_INDENT_2),
        "application/json",
        _filename(f"journey-{order_id}", "json"),
    )


# The diagram downloads take their format ("svg" or "png") from the URL pattern's kwargs.


@requires("view_journeys")
@source_errors
def journey_diagram_download(request, order_id, fmt):
    order_id, result = _journey_report(request, order_id)
    if result is None:
        return common.not_found(
            request, _("No trace mentions the order “%(id)s”.") % {"id": shown(request, order_id)}
        )
    return _diagram(
        request,
        journey_svg(request, result, order_id),
        f"journey-{order_id}",
        fmt,
        "order",
        order_id,
    )


@requires("view_journeys")
@source_errors
@stored_trace
def trace_json(request, where: TraceWhere):
    prepared = where.load(request)
    redacted = redact_trace(prepared.trace, common.export_policy(request))
    audit.record(request, audit.AuditAction.DOWNLOAD, "trace", where.trace_id, "trace json")
    return _attachment(
        orjson.dumps(trace_document(redacted), default=_json_default),
        "application/json",
        _filename(f"trace-{where.trace_id}", "json"),
    )


@requires("view_journeys")
@source_errors
@stored_trace
def trace_diagram_download(request, where: TraceWhere, fmt):
    prepared = where.load(request)
    return _diagram(
        request,
        trace_svg(request, prepared, where),
        f"trace-{where.trace_id}",
        fmt,
        "trace",
        where.trace_id,
    )


@requires("view_analytics")
@source_errors
def map_diagram_download(request, fmt):
    name, start, end = _window(request)
    svg, *_ = map_svg(request, name, start, end)
    return _diagram(request, svg, f"system-map-{name}", fmt, "system_map", name)


# CSV exports --------------------------------------------------------------------------------

JOURNEY_CSV_COLUMNS = [
    "time",
    "container",
    "operation",
    "duration_ms",
    "outcome",
    "trace_id",
    "span_id",
    "order_id",
    "customer_id",
    "customer_type",
]
CUSTOMER_CSV_COLUMNS = ["order_id", "customer_id", "status", "state", "customer_type"]
TRACE_CSV_COLUMNS = [
    "span_id",
    "parent_id",
    "service",
    "name",
    "kind",
    "start",
    "duration_ms",
    "status",
]


def _csv_export(request, header, rows, filename: str, obj_type: str, obj_id: str, detail: str):
    """An audited CSV attachment (accounts.exports.csv_response); `rows` must already be
    redacted."""
    audit.record(request, audit.AuditAction.EXPORT, obj_type, obj_id, detail)
    return csv_response(header, rows, filename)


@requires("view_journeys")
@source_errors
def journey_csv(request, order_id):
    """The journey of an order, one row per step."""
    order_id, result = _journey_report(request, order_id)
    if result is None:
        return common.not_found(
            request, _("No trace mentions the order “%(id)s”.") % {"id": shown(request, order_id)}
        )
    data = redact_mapping(result.as_dict(), common.export_policy(request))
    customer_id = shown_customer(request, result.journey.customer_id)
    rows = [
        [
            step["start"],
            step["container"],
            step["operation"],
            step["duration_ms"],
            step["outcome"],
            step["trace_id"],
            step["span_id"],
            data["order_id"],
            customer_id,
            data["customer_type"] or "",
        ]
        for step in data["steps"]
    ]
    return _csv_export(
        request,
        JOURNEY_CSV_COLUMNS,
        rows,
        _filename(f"journey-{order_id}", "csv"),
        "order",
        order_id,
        f"journey csv, {len(rows)} rows",
    )


@requires("view_journeys")
@source_errors
def customer_csv(request, customer_id):
    """A customer's orders, oldest first, with the state each has reached."""
    given = clean_text(customer_id, MAX_ID)
    customer_id, refused = customer_from_url(request, given)
    if refused is not None:
        return refused
    if customer_id is None:
        return unknown_customer(request)
    source = common.source()
    orders = customer_orders(source, customer_id) if customer_id else []
    if not orders:
        return customer_not_found(request, customer_id)
    shown_id = shown_customer(request, customer_id)
    rows = []
    for judged in judge_states_of_orders(source, orders, explorer_config()):
        rows.append(
            [
                shown(request, judged.order_id),
                shown_id,
                judged.conformance.status,
                judged.conformance.state or "",
                shown(request, judged.journey.customer_type or ""),
            ]
        )
    return _csv_export(
        request,
        CUSTOMER_CSV_COLUMNS,
        rows,
        _filename(f"customer-{shown_id}-orders", "csv"),
        "customer",
        customer_id,
        f"orders csv, {len(rows)} rows",
    )


def _business_cell(span, key: str, policy):
    """A business attribute of the span, or of its resource, redacted; "" when absent."""
    value = span.attributes.get(key)
    if value is None:
        value = span.resource.attributes.get(key)
    return "" if value is None else redact_value(key, value, policy)


@requires("view_journeys")
@source_errors
@stored_trace
def trace_csv(request, where: TraceWhere):
    """A trace's spans in tree order (as on the trace page), with the business attributes."""
    prepared = where.load(request)
    pol = common.export_policy(request)
    keys = list(settings.EXPLORER_BUSINESS_ATTRIBUTES)

    def rows():
        for position in prepared.order.order:
            span = prepared.spans[position]
            yield [
                redact_id(span.span_id, pol),
                redact_id(span.parent_id or "", pol),
                redact_text(span.service, pol),
                redact_text(span.name, pol),
                span.kind.name,
                iso(span.start_ns),
                round(span.duration_ns / 1e6, 3),
                span.status_code.name,
                *(_business_cell(span, key, pol) for key in keys),
            ]

    return _csv_export(
        request,
        TRACE_CSV_COLUMNS + keys,
        rows(),
        _filename(f"trace-{where.trace_id}", "csv"),
        "trace",
        where.trace_id,
        f"trace csv, {len(prepared.spans)} spans",
    )
