"""A list of traces as the pages show it: the home page's trace search and the query page."""

from __future__ import annotations

from explorer.traces.vocabulary import ORDER_KEY
from explorer.web.common import shown
from explorer.web.pseudonyms import url_id


def trace_rows(request, summaries) -> list[dict]:
    return [
        {
            "trace_id": url_id(request, s.trace_id),  # as the viewer's links carry it
            "start_ns": s.start_ns,
            "duration_ns": s.duration_ns,
            "span_count": s.span_count,
            "root": shown(request, f"{s.root_service}: {s.root_name}"),
            "service": shown(request, s.root_service),
            "operation": shown(request, s.root_name),
            "services": ", ".join(shown(request, x) for x in s.services[:8]),
            "errors": s.error_count,
            "order_id": shown(request, s.attributes.get(ORDER_KEY)),
        }
        for s in summaries
    ]
