"""Upload a trace file to look at it without storing it in the trace store (as Jaeger UI
allows): the form, the list of an upload's traces, and the trace pages of an upload (the views
of explorer.web.traces). Where and how long uploads are kept: explorer.web.upload_store.
"""

from __future__ import annotations

import secrets
import shutil
from typing import TypedDict

from django.conf import settings
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.access import requires
from explorer.sources.base import TraceQuery
from explorer.web.common import clean_text, shown, source_errors
from explorer.web.formatting import format_count
from explorer.web.parse_problems import said
from explorer.web.traces import (
    TraceWhere,
    span_detail,
    trace_diagram,
    trace_page,
    trace_rows,
    trace_stats,
)
from explorer.web.upload_store import (
    KEEP_PER_SESSION,
    MAX_LISTED,
    SESSION_KEY,
    QuotaExceeded,
    drop_expired,
    store_upload,
    upload_source,
    user_dir,
)


def _form(request, problems=(), status=200):
    return render(
        request,
        "web/upload.html",
        {
            "problems": problems,
            "max_size": format_count(settings.EXPLORER_UPLOAD_MAX_BYTES // (1024 * 1024)),
            "max_document": format_count(
                settings.EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES // (1024 * 1024)
            ),
        },
        status=status,
    )


@requires("upload_traces")
def upload(request):
    if request.method != "POST":
        return _form(request)
    file = request.FILES.get("file")
    if file is None:
        return _form(request, [_("Choose a trace file to upload.")], status=400)
    limit = settings.EXPLORER_UPLOAD_MAX_BYTES
    if file.size > limit:
        return _form(
            request,
            [
                _("The file is %(size)s bytes; the largest accepted is %(limit)s bytes.")
                % {"size": format_count(file.size), "limit": format_count(limit)}
            ],
            status=413,
        )
    name = "".join(ch for ch in (file.name or "upload") if ch.isprintable())[:200]
    drop_expired()
    key = secrets.token_urlsafe(18)
    folder = user_dir(request.user) / key
    try:
        summaries, problems = store_upload(file, folder, name)
    except QuotaExceeded:
        return _form(
            request,
            [
                _(
                    "The traces of this file take more than the %(quota)s bytes "
                    "of uploads kept per user."
                )
                % {"quota": format_count(settings.EXPLORER_UPLOAD_QUOTA_BYTES)}
            ],
            status=413,
        )
    if not summaries:
        shutil.rmtree(folder, ignore_errors=True)
        shown_problems = [shown(request, said(p)) for p in problems]
        return _form(request, shown_problems or [_("No trace found in the file.")], status=400)
    keys = [k for k in request.session.get(SESSION_KEY, []) if k != key]
    request.session[SESSION_KEY] = (keys + [key])[-KEEP_PER_SESSION:]
    return redirect("web:upload_result", key)


class _UploadRow(TypedDict):
    """A trace of the upload as its list shows it."""

    trace_id: str
    root: str
    span_count: int
    duration_ns: int
    errors: int
    start_ns: int


@requires("upload_traces")
@source_errors
def upload_result(request, key):
    source = upload_source(request, key)
    summaries = source.search(TraceQuery(limit=MAX_LISTED))
    if len(summaries) == 1 and not source.problems:
        return redirect("web:upload_trace", key, summaries[0].trace_id)
    rows: list[_UploadRow] = [
        {
            "trace_id": s.trace_id,
            "root": shown(request, f"{s.root_service}: {s.root_name}"),
            "span_count": s.span_count,
            "duration_ns": s.duration_ns,
            "errors": s.error_count,
            "start_ns": s.start_ns,
        }
        for s in summaries
    ]
    # The filter: text in the root or the trace id, and/or only traces with errors.
    needle = clean_text(request.GET.get("q")).casefold()
    errors_only = request.GET.get("errors") == "1"
    shown_rows = [
        r
        for r in rows
        if (not needle or needle in r["root"].casefold() or needle in r["trace_id"].casefold())
        and (not errors_only or r["errors"])
    ]
    return render(
        request,
        "web/upload_result.html",
        {
            "key": key,
            "traces": shown_rows,
            "trace_total": source.count,
            "q": needle,
            "errors_only": errors_only,
            "problems": [shown(request, said(p)) for p in source.problems],
        },
    )


@requires("upload_traces")
@source_errors
def upload_trace(request, key, trace_id):
    return trace_page(request, TraceWhere(trace_id, upload=key))


@requires("upload_traces")
@source_errors
def upload_rows(request, key, trace_id):
    return trace_rows(request, TraceWhere(trace_id, upload=key))


@requires("upload_traces")
@source_errors
def upload_span(request, key, trace_id, span_id):
    return span_detail(request, TraceWhere(trace_id, upload=key), span_id)


@requires("upload_traces")
@source_errors
def upload_stats(request, key, trace_id):
    return trace_stats(request, TraceWhere(trace_id, upload=key))


@requires("upload_traces")
@source_errors
def upload_diagram(request, key, trace_id):
    return trace_diagram(request, TraceWhere(trace_id, upload=key))
