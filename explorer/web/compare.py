"""Trace comparison (as Jaeger UI's): two traces merged by span path, each path only in A,
only in B, or in both with the change in time (explorer.analysis.compare).

`/compare/?a=ID&b=ID`; `b=typical` picks the trace of the median duration among those with
A's root service and operation, so "this slow price calculation against a usual one" is one
link from the trace page.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts import audit
from accounts.access import requires
from accounts.redaction import redact_trace
from explorer.analysis.compare import BOTH, ONLY_A, ONLY_B, compare_traces
from explorer.analysis.tree import SpanTree
from explorer.sources.base import TraceNotFound, TraceQuery
from explorer.traces.model import Trace
from explorer.web import common
from explorer.web.common import clean_text, shown, source_errors
from explorer.web.diff_graph import diff_graph
from explorer.web.pseudonyms import raw_id_from_url, url_id
from explorer.web.trace_cache import prepared_trace

TYPICAL = "typical"
MAX_SPANS = 200_000  # per trace: the diff reads both whole
MAX_NODES = 3_000  # rows of the merged tree shown
TYPICAL_CANDIDATES = 200
MAX_ID = 200


def _root(trace: Trace) -> tuple[str, str] | None:
    tree = SpanTree.build(trace.spans)
    if not tree.roots:
        return None
    span = trace.spans[tree.roots[0]]
    return span.resource.service_name, span.name


def typical_trace_id(source, trace: Trace) -> str | None:
    """The trace of median duration among those with the same root service and operation
    as `trace` (itself excluded); None when there is no other."""
    root = _root(trace)
    if root is None:
        return None
    service, operation = root
    found = [
        s
        for s in source.search(
            TraceQuery(service=service, operation=operation, limit=TYPICAL_CANDIDATES)
        )
        if s.trace_id != trace.trace_id and (s.root_service, s.root_name) == root
    ]
    if not found:
        return None
    found.sort(key=lambda s: (s.duration_ns, s.trace_id))
    return found[len(found) // 2].trace_id


def _load(request, source, shown_id: str) -> Trace:
    """The trace the viewer names (its id as they see it: pseudonyms.raw_id_from_url)."""
    trace_id, _refused = raw_id_from_url(request, "trace", shown_id)
    if trace_id is None:
        raise TraceNotFound(_("No such trace."))
    size = len(prepared_trace(source, trace_id).order)  # raises TraceNotFound
    if size > MAX_SPANS:
        raise ValueError(
            _("Trace %(id)s has %(count)s spans; traces of up to %(most)s spans can be compared.")
            % {"id": shown_id, "count": size, "most": MAX_SPANS}
        )
    return source.get_trace(trace_id)


@requires("view_journeys")
@source_errors
def compare(request):
    a_id = clean_text(request.GET.get("a"), MAX_ID)
    b_id = clean_text(request.GET.get("b"), MAX_ID)
    context: dict = {"a": a_id, "b": "" if b_id == TYPICAL else b_id, "problems": []}
    if not (a_id and b_id):
        if a_id:
            context["problems"].append(_("Name the second trace, or compare with a typical one."))
        return render(request, "web/compare.html", context)
    source = common.source()
    try:
        a = _load(request, source, a_id)
        if b_id == TYPICAL:
            typical = typical_trace_id(source, a)
            b_id = url_id(request, typical) if typical else ""
            context["b"] = b_id
            if not b_id:
                context["problems"].append(
                    _("No other trace has the same root operation as trace %(id)s.") % {"id": a_id}
                )
                return render(request, "web/compare.html", context)
        b = _load(request, source, b_id)
    except TraceNotFound as exc:
        context["problems"].append(shown(request, exc))
        return render(request, "web/compare.html", context, status=404)
    except ValueError as exc:
        context["problems"].append(str(exc))
        return render(request, "web/compare.html", context, status=400)
    pol = common.policy(request)
    diff = compare_traces(redact_trace(a, pol), redact_trace(b, pol))
    rows = [
        {
            "depth": node.depth,
            "depth_class": min(node.depth, 40),
            "service": node.service,
            "name": node.name,
            "status": node.status,
            "count_a": node.count_a,
            "count_b": node.count_b,
            "duration_a_ns": node.duration_a_ns,
            "duration_b_ns": node.duration_b_ns,
            "errors": node.errors_a + node.errors_b,
            "change_ns": node.change_ns,
            "slower": node.status == BOTH and node.change_ns > 0,
            "faster": node.status == BOTH and node.change_ns < 0,
        }
        for node in diff.nodes[:MAX_NODES]
    ]
    graph, graph_tail, graph_cut = diff_graph(diff)
    context.update(
        graph=graph,
        graph_tail=graph_tail,
        graph_cut=graph_cut,
        diff=diff,
        rows=rows,
        cut=len(diff.nodes) > MAX_NODES,
        only_a=diff.count(ONLY_A),
        only_b=diff.count(ONLY_B),
        both=diff.count(BOTH),
        change_ns=diff.duration_b_ns - diff.duration_a_ns,
    )
    response = render(request, "web/compare.html", context)
    for trace_id in (a_id, b_id):
        audit.record(request, audit.AuditAction.VIEW, "trace", trace_id)
    return response
