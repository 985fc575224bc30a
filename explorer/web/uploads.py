"""Upload a trace file to look at it without storing it (as Jaeger UI allows).

The file is parsed with explorer.traces.parsers.parse_bytes and kept, for UPLOAD_SECONDS, in
the cache under a random key that only the uploading session knows; the trace page views
(explorer.web.traces) show it exactly as they show stored traces.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.access import requires
from explorer.sources.base import TraceQuery
from explorer.sources.memory import MemorySource
from explorer.traces.parsers import parse_bytes
from explorer.web.common import clean_text, shown, source_errors
from explorer.web.formatting import format_count
from explorer.web.traces import (
    TraceWhere,
    span_detail,
    trace_diagram,
    trace_page,
    trace_rows,
    trace_stats,
)

UPLOAD_SECONDS = 30 * 60
SESSION_KEY = "web_uploads"
KEEP_PER_SESSION = 10
MAX_PROBLEMS = 20

_lock = threading.Lock()
_sources: OrderedDict[str, tuple[float, MemorySource]] = OrderedDict()
_SOURCES_KEPT = 8


def _cache_key(key: str) -> str:
    return f"web:upload:{key}"


def _parse(data: bytes, name: str):
    return parse_bytes(data, source=name[:200] or "upload")


def upload_source(request, key: str) -> MemorySource:
    """The traces of an upload of this session; 404 for another session's or an expired one."""
    if key not in request.session.get(SESSION_KEY, []):
        raise Http404(_("No such upload in this session."))
    now = time.monotonic()
    with _lock:
        found = _sources.get(key)
        if found is not None and found[0] > now:
            return found[1]
    stored = cache.get(_cache_key(key))
    if stored is None:
        raise Http404(_("The upload has expired; upload the file again."))
    name, data = stored
    source = MemorySource(_parse(data, name).traces, name=f"upload {name}")
    _remember(key, source)
    return source


def _remember(key: str, source: MemorySource) -> None:
    with _lock:
        _sources[key] = (time.monotonic() + UPLOAD_SECONDS, source)
        while len(_sources) > _SOURCES_KEPT:
            _sources.popitem(last=False)


def _form(request, problems=(), status=200):
    return render(request, "web/upload.html", {
        "problems": problems,
        "max_size": format_count(settings.EXPLORER_UPLOAD_MAX_BYTES // (1024 * 1024)),
    }, status=status)


@requires("upload_traces")
def upload(request):
    if request.method != "POST":
        return _form(request)
    file = request.FILES.get("file")
    if file is None:
        return _form(request, [_("Choose a trace file to upload.")], status=400)
    limit = settings.EXPLORER_UPLOAD_MAX_BYTES
    if file.size > limit:
        return _form(request, [_("The file is %(size)s bytes; the largest accepted is "
                                 "%(limit)s bytes.") % {"size": format_count(file.size),
                                                        "limit": format_count(limit)}],
                     status=413)
    data = file.read()
    name = "".join(ch for ch in (file.name or "upload") if ch.isprintable())[:200]
    result = _parse(data, name)
    problems = [shown(request, str(p)) for p in result.errors[:MAX_PROBLEMS]]
    if not result.traces:
        return _form(request, problems or [_("No trace found in the file.")], status=400)
    key = secrets.token_urlsafe(18)
    cache.set(_cache_key(key), (name, data), UPLOAD_SECONDS)
    _remember(key, MemorySource(result.traces, name=f"upload {name}"))
    keys = [k for k in request.session.get(SESSION_KEY, []) if k != key]
    request.session[SESSION_KEY] = (keys + [key])[-KEEP_PER_SESSION:]
    request.session[f"{SESSION_KEY}:{key}:problems"] = problems
    return redirect("web:upload_result", key)


@requires("upload_traces")
@source_errors
def upload_result(request, key):
    source = upload_source(request, key)
    summaries = source.search(TraceQuery(limit=10_000))
    if len(summaries) == 1 and not request.session.get(f"{SESSION_KEY}:{key}:problems"):
        return redirect("web:upload_trace", key, summaries[0].trace_id)
    rows = [{"trace_id": s.trace_id, "root": shown(request, f"{s.root_service}: {s.root_name}"),
             "span_count": s.span_count, "duration_ns": s.duration_ns,
             "errors": s.error_count, "start_ns": s.start_ns} for s in summaries]
    # The filter: text in the root or the trace id, and/or only traces with errors.
    needle = clean_text(request.GET.get("q")).casefold()
    errors_only = request.GET.get("errors") == "1"
    shown_rows = [r for r in rows if (not needle or needle in r["root"].casefold()
                                      or needle in r["trace_id"].casefold())
                  and (not errors_only or r["errors"])]
    return render(request, "web/upload_result.html", {
        "key": key, "traces": shown_rows, "trace_total": len(rows), "q": needle,
        "errors_only": errors_only,
        "problems": request.session.get(f"{SESSION_KEY}:{key}:problems", [])})


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
