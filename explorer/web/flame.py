"""The flame graph page of a trace (as Jaeger UI's): each span a box under its parent's, as
wide as it lasted, coloured by service (explorer.web.service_colours), drawn on a canvas by
static/web/flame.js from the boxes of explorer.web.flame_columns.

`flame/` is the page (the time per operation as text, for readers without the canvas),
`flame/boxes/?root=ROW&width=PX[&from=NS&to=NS]` the boxes of one view (a subtree, a time
range of it) as JSON (parallel arrays, names and
services as tables, redacted for the viewer), `flame/rows/ROW/` the details of the span at a
row (a redirect to its span page: the boxes carry no span ids).
"""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts import audit
from accounts.access import requires
from accounts.redaction import redact_text
from explorer.web import common
from explorer.web.common import clean_int, source_errors
from explorer.web.flame_columns import FlameColumns, FlameView, flame_columns, flame_view
from explorer.web.pseudonyms import url_id
from explorer.web.service_colours import PALETTE, colour_index, mapped_services
from explorer.web.traces import TraceWhere, fresh, stats_rows, stored_trace

DEFAULT_WIDTH = 1200
MAX_WIDTH = 8000
MAX_NS = 2**62  # the largest offset a time range may name


def _scope(where: TraceWhere) -> str:
    return f"upload:{where.upload}" if where.upload else common.source().name


def _columns(request, where: TraceWhere) -> FlameColumns:
    return flame_columns(_scope(where), where.load(request))


def _services(request, services: list[str]) -> list[dict]:
    """The services as the viewer sees them, each with its palette colour (by raw name)."""
    mapped = mapped_services()
    pol = common.policy(request)
    found = []
    for service in services:
        index = colour_index(service, mapped)
        found.append(
            {"name": redact_text(service, pol), "colour": PALETTE[index], "class": f"svc-{index}"}
        )
    return found


def _boxes(request, columns: FlameColumns, view: FlameView) -> dict:
    """The view as parallel arrays; names as a table of the names the boxes use."""
    pol = common.policy(request)
    names: dict[int, int] = {}
    name_of = []
    for row in view.rows:
        index = columns.name[row]
        if index not in names:
            names[index] = len(names)
        name_of.append(names[index])
    start, duration, depth = columns.start, columns.duration, columns.depth
    top = depth[view.rows[0]] if view.rows else 0
    return {
        "root": view.root,
        "start_ns": view.start_ns,
        "duration_ns": view.duration_ns,
        "min_ns": view.min_ns,
        "total": len(columns),
        "services": _services(request, columns.services),
        "names": [redact_text(columns.names[i], pol) for i in names],
        "row": view.rows,
        "x": [start[r] - view.start_ns for r in view.rows],
        "w": [duration[r] for r in view.rows],
        "self": [columns.self_ns[r] for r in view.rows],
        "depth": [depth[r] - top for r in view.rows],
        "service": [columns.service[r] for r in view.rows],
        "name": name_of,
        "error": [columns.error[r] for r in view.rows],
        "hidden": view.hidden,
        "density": view.density,
    }


@fresh
def flame_page(request, where: TraceWhere):
    """The page without reading the spans (a huge stored trace's columns take seconds the
    first time: the script asks for them, saying so): the legend from the trace's overview,
    the text summary from its statistics per operation (stored with its layout)."""
    prepared = where.load(request)
    response = render(
        request,
        "web/flame.html",
        {
            "trace_id": where.trace_id,
            "shown_trace_id": common.shown(request, where.trace_id),
            "page_url": where.url("trace"),
            "boxes_url": where.url("trace_flame_boxes"),
            "row_url": where.url("trace_flame_row", "0"),
            "services": _services(request, prepared.services),
            "span_count": len(prepared.order),
            "stats": stats_rows(request, prepared),
        },
    )
    if not where.upload:  # as the trace page: once the page is made
        audit.record(request, audit.AuditAction.VIEW, "trace", where.trace_id)
    return response


@fresh
def flame_boxes(request, where: TraceWhere):
    columns = _columns(request, where)
    root = clean_int(request.GET.get("root"), -1, -1, max(len(columns) - 1, 0))
    width = clean_int(request.GET.get("width"), DEFAULT_WIDTH, 1, MAX_WIDTH)
    begin = clean_int(request.GET.get("from"), -1, -1, MAX_NS)
    finish = clean_int(request.GET.get("to"), -1, -1, MAX_NS)
    window = (begin, finish) if 0 <= begin < finish else None
    view = flame_view(columns, root, width, window)
    return JsonResponse({**_boxes(request, columns, view), "window": view.window})


@fresh
def flame_row(request, where: TraceWhere, row: int):
    """The span page of the span at a row of the tree order."""
    prepared = where.load(request)
    if not 0 <= row < len(prepared.order):
        return common.not_found(request, _("This trace has no span at row %(row)s.") % {"row": row})
    position = prepared.order.order[row]
    span = prepared.spans_at([position])[position]
    span_url = where.url("span", quote(url_id(request, span.span_id), safe=""))
    return HttpResponseRedirect(f"{span_url}?row={row}")


@requires("view_journeys")
@source_errors
@stored_trace
def flame(request, where: TraceWhere):
    return flame_page(request, where)


@requires("view_journeys")
@source_errors
@stored_trace
def boxes(request, where: TraceWhere):
    return flame_boxes(request, where)


@requires("view_journeys")
@source_errors
@stored_trace
def row(request, where: TraceWhere, row: int):
    return flame_row(request, where, row)


@requires("upload_traces")
@source_errors
def upload_flame(request, key, trace_id):
    return flame_page(request, TraceWhere(trace_id, upload=key))


@requires("upload_traces")
@source_errors
def upload_boxes(request, key, trace_id):
    return flame_boxes(request, TraceWhere(trace_id, upload=key))


@requires("upload_traces")
@source_errors
def upload_row(request, key, trace_id, row: int):
    return flame_row(request, TraceWhere(trace_id, upload=key), row)
