"""The order steps over a window (linked from the SLA page): per state the orders that left
it, their dwell percentiles, its limit and how many were over it; per transition how many
and the time from the order's first state to it; for one customer type or all. Counted
exactly from the step rows kept with the order-status snapshot (explorer.orders.step_figures);
each count of orders links to the list of those orders (step_orders).
"""

from __future__ import annotations

import dataclasses
import functools
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language

from accounts.access import requires
from explorer.configuration import explorer_config
from explorer.journeys.state_graph import StateGraph
from explorer.orders.step_figures import (
    Durations,
    StepFilter,
    customer_types,
    figures,
    ordered_states,
    orders_without_steps,
)
from explorer.web.analytics import page_context, window_of
from explorer.web.common import clean_int, clean_text, source_errors
from explorer.web.pseudonyms import url_id
from explorer.web.step_charts import state_charts

ORDERS_PAGE_SIZE = 50
# The longest text a state or customer type parameter is read as (the columns' lengths).
_STATE_TEXT, _TYPE_TEXT = 200, 64
_NS_MOST = 2**62


def state_name(graph: StateGraph, state: str, language: str | None) -> dict:
    """A state as the pages name it: its name in the graph and its description in the
    page's language (empty for a state the graph does not know)."""
    found = next((s for s in graph.states if s.name == state), None)
    return {
        "name": state,
        "description": found.description_in(language) if found else "",
        "known": found is not None,
    }


def _customer_type(request) -> str | None:
    typed = request.GET.get("type")
    return None if typed is None or typed == "" else clean_text(typed, _TYPE_TEXT)


def _orders_url(where: StepFilter, **changes) -> str:
    """The list of orders behind a figure: the steps of `where` with `changes`."""
    query: dict = {"start": where.start_ns, "end": where.end_ns}
    values = {
        "type": where.customer_type,
        "state": where.state,
        "next": where.next_state,
        "over": "1" if where.over_limit else None,
        **changes,
    }
    query.update({k: v for k, v in values.items() if v is not None})
    return f"{_orders_path(get_script_prefix())}?{urlencode(query)}"


@functools.lru_cache(maxsize=8)  # a few script prefixes at most
def _orders_path(prefix: str) -> str:
    """The orders list's path under a script prefix: reverse() took most of the time of a
    page's hundreds of links (a chart links every bucket)."""
    return reverse("web:step_orders")


def _dwell_row(
    graph, where: StepFilter, state: str, found: Durations, language, window_query: dict
) -> dict:
    quantiles = found.quantiles()
    return {
        "state": state_name(graph, state, language),
        "left": found.count,
        "left_url": _orders_url(where, state=state),
        "p50_ns": quantiles[0.5],
        "p95_ns": quantiles[0.95],
        "p99_ns": quantiles[0.99],
        "limit_ns": graph.limit_ns(state) if graph.knows(state) else None,
        "over": found.over_limit,
        "over_url": _orders_url(where, state=state, over="1"),
        "chart_query": urlencode({**window_query, "state": state}),
    }


def _transition_rows(graph, where: StepFilter, transitions, language) -> list[dict]:
    named = ordered_states({s for pair in transitions for s in pair}, graph.names)
    order = {state: index for index, state in enumerate(named)}
    rows = []
    for (state, next_state), found in sorted(
        transitions.items(), key=lambda item: (order[item[0][0]], order[item[0][1]])
    ):
        quantiles = found.quantiles()
        rows.append(
            {
                "state": state_name(graph, state, language),
                "next_state": state_name(graph, next_state, language),
                "allowed": graph.is_allowed(state, next_state),
                "count": found.count,
                "url": _orders_url(where, state=state, next=next_state),
                "p50_ns": quantiles[0.5],
                "p95_ns": quantiles[0.95],
            }
        )
    return rows


@requires("view_analytics")
@source_errors
def steps(request):
    window = window_of(request)
    context = page_context(window, window.start, window.end, 0)
    context.update(
        trace_count=None,
        window_fields=list(window.query.items()),
        customer_types=customer_types(),
        customer_type=_customer_type(request),
        without_steps=orders_without_steps(),
    )
    if window.start is not None and window.end is not None:
        graph = explorer_config().graph
        language = get_language()
        where = StepFilter(window.start, window.end, context["customer_type"])
        found = figures(where)
        named = ordered_states(found.states, graph.names)
        query = {**window.query, **({"type": where.customer_type} if where.customer_type else {})}
        charted = _charted(request, found.states, named)
        context.update(
            step_count=found.steps,
            states=[
                _dwell_row(graph, where, state, found.states[state], language, query)
                for state in named
            ],
            transitions=_transition_rows(graph, where, found.transitions, language),
            charted=state_name(graph, charted, language) if charted else None,
            step_charts=state_charts(
                dataclasses.replace(where, state=charted),
                charted,
                _orders_url,
            )
            if charted
            else [],
        )
    return render(request, "web/steps.html", context)


def _ns(value: str | None, default: int) -> int:
    """A time parameter in ns since the epoch, within [0, _NS_MOST]; `default` if unreadable."""
    try:
        return min(max(int(str(value).strip()[:20]), 0), _NS_MOST)
    except (TypeError, ValueError):
        return default


def _charted(request, states: dict[str, Durations], named: list[str]) -> str | None:
    """The state the charts show: the one asked for (?state=), else the one with the most
    dwells over its limit, else the first in the graph's order; None without steps."""
    asked = clean_text(request.GET.get("state"), _STATE_TEXT)
    if asked in states:
        return asked
    worst = max(named, key=lambda s: states[s].over_limit, default=None)
    if worst is not None and states[worst].over_limit:
        return worst
    return named[0] if named else None


def _filter_of(request) -> StepFilter:
    """The steps a list asks for (start and end in ns; a missing end: no end)."""
    start = _ns(request.GET.get("start"), 0)
    end = _ns(request.GET.get("end"), _NS_MOST)
    state = request.GET.get("state")
    next_state = request.GET.get("next")
    return StepFilter(
        start,
        end,
        _customer_type(request),
        clean_text(state, _STATE_TEXT) if state else None,
        clean_text(next_state, _STATE_TEXT) if next_state else None,
        request.GET.get("over") == "1",
    )


@requires("view_analytics")
@source_errors
def step_orders(request):
    """The orders behind a step figure: their steps of the filter, slowest first."""
    where = _filter_of(request)
    found = where.steps().order_by("-duration_ns", "order_id", "entered_ns")
    page = Paginator(found, ORDERS_PAGE_SIZE).get_page(clean_int(request.GET.get("page"), 1, 1))
    graph = explorer_config().graph
    language = get_language()
    rows = [
        {
            "order_id": url_id(request, step.order_id),
            "customer_type": step.customer_type,
            "state": state_name(graph, step.state, language),
            "next_state": state_name(graph, step.next_state, language),
            "entered_ns": step.entered_ns,
            "left_ns": step.left_ns,
            "duration_ns": step.duration_ns,
            "limit_ns": step.limit_ns,
            "over": step.over_limit,
        }
        for step in page
    ]
    query = {k: v for k, v in request.GET.items() if k != "page"}
    named = [state_name(graph, s, language) for s in (where.state, where.next_state) if s]
    return render(
        request,
        "web/step_orders.html",
        {
            "where": where,
            "state": named[0] if where.state else None,
            "next_state": named[-1] if where.next_state else None,
            "described": [n for n in named if n["description"]],
            "page": page,
            "rows": rows,
            "page_query": urlencode(query),
            "has_end": where.end_ns < _NS_MOST,
        },
    )
