"""The search box of every page: an order id, a customer id or a trace id, decided by looking
it up; the answer is that page, or the home page saying nothing was found.

Every other search whose term could hold a customer id (the trace search's service, operation
and customer type) follows the same rule for viewers without accounts.view_customer_ids: a
term their redaction would change is never searched (found or not, it would tell whether a
span name holds that id), the attempt is audited and counted like a raw customer id typed in
the search box (refuse_identifier_terms)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import audit
from accounts.access import requires
from accounts.redaction import PSEUDONYM, is_pseudonym, redact_id, redact_text, redact_value
from explorer.configuration import explorer_config
from explorer.orders.service import now_in, query_traces
from explorer.query.nodes import (
    Attribute,
    Comparison,
    OrderCondition,
    Pipeline,
    Query,
    SpanCondition,
    SpanFilter,
    walk,
)
from explorer.query.parser import DEFAULT_MAX_LENGTH, QueryError, parse
from explorer.sources.base import TraceNotFound
from explorer.sources.querying import QueryResult, QueryRun
from explorer.traces.model import Resource, Trace
from explorer.traces.vocabulary import CUSTOMER_KEY, ORDER_KEY
from explorer.web import common
from explorer.web.common import clean_int, clean_text, source_errors
from explorer.web.pseudonyms import (
    customer_for_pseudonym,
    looks_like_identifier,
    raw_id_from_url,
    refuse_raw_identifier,
)
from explorer.web.query_problems import said
from explorer.web.trace_cache import prepared_trace
from explorer.web.trace_list import trace_rows

TRACE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _go(name: str, value: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse(name, args=[value]))  # the id converter takes any text


def _find(source, q: str, sees_ids: bool, link: str = ""):
    """A redirect to the page of the order, customer (for viewers who see raw ids) or trace
    with exactly this id, or None; `link`: the id as the viewer's URLs carry it, when that is
    not `q` (pseudonyms in it)."""
    link = link or q
    if source.find_traces(ORDER_KEY, q, limit=1):
        return _go("web:order", link)
    if sees_ids and source.find_traces(CUSTOMER_KEY, q, limit=1):
        return _go("web:customer", q)
    if TRACE_ID.fullmatch(q):
        try:
            prepared_trace(source, q)  # warms the trace page's cache too
            return _go("web:trace", link)
        except TraceNotFound:
            return None
    return None


def refuse_identifier_terms(request, terms: Mapping[str, str]) -> tuple[bool, HttpResponse | None]:
    """(whether a search with these terms must not run, the 429 page instead or None): for a
    viewer who sees pseudonyms, any term (field name -> text) that holds a customer id, an
    e-mail address or a phone number refuses the search, audited per term."""
    if common.can_see_customer_ids(request):
        return False, None
    refused = False
    for field, text in terms.items():
        if text and looks_like_identifier(request, text):
            refused = True
            too_many = refuse_raw_identifier(request, f"search {field}", text)
            if too_many is not None:
                return True, too_many
    return refused, None


@requires("view_journeys")
@source_errors
def lookup(request):
    """The search box: an order id, a customer id or a trace id, decided by looking it up."""
    q = clean_text(request.GET.get("q"))
    if not q:
        return redirect("web:home")
    source = common.source()
    target = None
    sees_ids = common.can_see_customer_ids(request)
    if not sees_ids and is_pseudonym(q):
        if customer_for_pseudonym(request, q) is not None:
            target = _go("web:customer", q)
    elif not sees_ids and looks_like_identifier(request, q):
        # Never looked up: the same "nothing found" whether it exists or not.
        refused = refuse_raw_identifier(request, "customer", q)
        if refused is not None:
            return refused
    elif not sees_ids and PSEUDONYM.search(q):
        # An order or trace id as the viewer sees it: looked up with its customers' ids.
        raw, _refused = raw_id_from_url(request, "search", q)
        if raw is not None:
            target = _find(source, raw, sees_ids, link=q)
    else:
        # Ids are matched as typed, then in upper and in lower case: "a-100001" finds
        # A-100001, a trace id pasted in capitals finds its lower-case hex.
        for text in dict.fromkeys((q, q.upper(), q.lower())):
            target = _find(source, text, sees_ids)
            if target is not None:
                break
    if target is not None:
        return target
    return render(
        request,
        "web/home.html",
        {"can_lookup": True, "can_search": False, "q": q, "nothing_found": True},
        status=404,
    )


# --- the query page ------------------------------------------------------------------------

HOUR, DAY = 3600, 86_400
LOOKBACKS = (("1h", HOUR), ("6h", 6 * HOUR), ("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
LIMITS = (20, 50, 100, 500)


def query_run(
    source, limit: int, lookback_ns: int | None, at_ns: int | None = None, **viewer
) -> QueryRun:
    """The run of a query from the page or the command: traces that started within
    `lookback_ns` of "now" (the newest trace, as the pages judge it), at most `limit`;
    `viewer`: QueryRun's view and index_values for a viewer who sees pseudonyms."""
    start_ns = None
    if lookback_ns is not None:
        now_ns = now_in(source, at_ns)
        start_ns = None if now_ns is None else now_ns - lookback_ns
    keys = tuple(settings.EXPLORER_BUSINESS_ATTRIBUTES)
    return QueryRun(start_ns=start_ns, limit=limit, business_keys=keys, **viewer)


def audit_detail(result: QueryResult) -> str:
    return f"{len(result.hits)} traces, answered by {result.answered_by}; " + "; ".join(
        result.notes
    )


def _query_terms(query: Query) -> tuple[list[str], set[str]]:
    """(every string the query compares with or names an attribute by, the attribute keys it
    reads): of span conditions, aggregates and order conditions."""
    literals: list[str] = []
    keys: set[str] = set()
    for node in walk(query.expression):
        if isinstance(node, OrderCondition) and isinstance(node.value, str):
            literals.append(node.value)
        elif isinstance(node, Pipeline):
            keys.update(s.field.name for s in node.stages if isinstance(s.field, Attribute))
        elif isinstance(node, SpanFilter) and node.condition is not None:
            pending: list[SpanCondition] = [node.condition]
            while pending:
                condition = pending.pop()
                if not isinstance(condition, Comparison):
                    pending.extend(condition.operands)
                    continue
                if isinstance(condition.value, str):
                    literals.append(condition.value)
                if isinstance(condition.field, Attribute):
                    keys.add(condition.field.name)
    return literals + sorted(keys), keys


def _redacted_view(keys: set[str], policy) -> Callable[[Trace], Trace]:
    """A trace as a viewer sees what a query reads of it: span names, service names and the
    attributes of these keys redacted (the whole redact_trace takes ten times as long)."""

    def picked(attributes: Mapping) -> dict:
        return {k: redact_value(k, attributes[k], policy) for k in keys if k in attributes}

    def view(trace: Trace) -> Trace:
        resources: dict[int, Resource] = {}
        spans = []
        for span in trace.spans:
            resource = resources.get(id(span.resource))
            if resource is None:
                resource = Resource(
                    redact_text(span.resource.service_name, policy),
                    picked(span.resource.attributes),
                )
                resources[id(span.resource)] = resource
            name = redact_text(span.name, policy)
            spans.append(
                replace(span, name=name, attributes=picked(span.attributes), resource=resource)
            )
        return Trace(trace.trace_id, spans)

    return view


def _as_viewer_sees(request, query: Query) -> tuple[dict | None, HttpResponse | None]:
    """(QueryRun's view and index_values for this viewer, or None when the query must not
    run; the 429 page instead, or None). A viewer who sees pseudonyms queries the traces as
    shown to them (redacted), so no value they cannot see can be found, guessed by a pattern
    or ordered; a raw customer id in the query is refused and audited as in the search box."""
    if common.can_see_customer_ids(request):
        return {}, None
    literals, keys = _query_terms(query)
    refused, too_many = refuse_identifier_terms(
        request, {f"query value {i + 1}": text for i, text in enumerate(literals)}
    )
    if refused:
        return None, too_many
    index_values = {}
    for text in literals:
        if is_pseudonym(text):
            customer = customer_for_pseudonym(request, text)
            if customer is not None:
                index_values[text] = customer
    view = _redacted_view(keys, common.export_policy(request))
    return {"view": view, "index_values": index_values}, None


def _seen_fact(request):
    policy = common.export_policy(request)
    if policy.show_identifiers:
        return None
    return lambda name, value: (
        redact_value(CUSTOMER_KEY, str(value), policy)
        if name == "customer_id"
        else redact_id(str(value), policy)
        if name == "id"
        else value
    )


def _query_text(value: str | None) -> str:
    """The query as typed, control characters (line breaks) as spaces so that positions stay;
    over-long text is kept to be refused by the parser, which says how long it is."""
    if not value:
        return ""
    return "".join(ch if ch.isprintable() else " " for ch in value[: 50 * DEFAULT_MAX_LENGTH])


def _query_form(request) -> dict:
    get = request.GET
    lookback = get.get("lookback") if get.get("lookback") in dict(LOOKBACKS) else ""
    text = _query_text(get.get("q"))
    limit = clean_int(get.get("limit"), LIMITS[0], LIMITS[0], LIMITS[-1])
    return {
        "q": text,
        "shown": text[: 2 * DEFAULT_MAX_LENGTH],  # the box echoes no 100 KB query back
        "lookback": lookback,
        "limit": limit if limit in LIMITS else LIMITS[0],
        "lookbacks": [name for name, _ in LOOKBACKS],
        "limits": LIMITS,
    }


@requires("view_journeys")
@source_errors
def query(request):
    """The query page: a query (docs/query.md), its error shown where it is, the traces found,
    what ran where; audited as every search is."""
    form = _query_form(request)
    context: dict[str, object] = {"form": form}
    text = form["q"]
    if not text.strip():
        return render(request, "web/query.html", context)
    try:
        parsed = parse(text)
    except QueryError as exc:
        return _query_error(request, context, exc)
    viewer, too_many = _as_viewer_sees(request, parsed)
    if too_many is not None:
        return too_many
    if viewer is None:
        _audit_query(request, text, "refused: a raw customer identifier in the query")
        context["refused"] = True
        return render(request, "web/query.html", context)
    source = common.source()
    lookback = dict(LOOKBACKS).get(form["lookback"])
    run = query_run(source, form["limit"], lookback and lookback * 10**9, **viewer)
    try:
        result = query_traces(source, explorer_config(), parsed, run, _seen_fact(request))
    except QueryError as exc:
        return _query_error(request, context, exc)
    _audit_query(request, text, audit_detail(result))
    rows = trace_rows(request, [hit.summary for hit in result.hits])
    for row, hit in zip(rows, result.hits, strict=True):
        row["matched"] = len(hit.span_ids)
    context.update(result=result, traces=rows)
    return render(request, "web/query.html", context)


def _audit_query(request, text: str, detail: str) -> None:
    audit.record(request, audit.AuditAction.VIEW, "query", text, detail)


def _query_error(request, context: dict, exc: QueryError) -> HttpResponse:
    """The page with the error at its place; a query that cannot run is audited too."""
    text = context["form"]["q"]
    _audit_query(request, text, f"error: {exc}")
    context["error"] = _error_context(text, exc)
    return render(request, "web/query.html", context, status=400)


def _error_context(text: str, exc: QueryError) -> dict:
    at = exc.position
    return {
        "message": said(exc),
        "line": exc.line,
        "column": exc.column,
        "before": text[max(0, at - 200) : at],
        "at": text[at : at + 1] or " ",
        "after": text[at + 1 : at + 200],
    }
