"""The search box of every page: an order id, a customer id or a trace id, decided by looking
it up; the answer is that page, or the home page saying nothing was found.

Every other search whose term could hold a customer id (the trace search's service, operation
and customer type) follows the same rule for viewers without accounts.view_customer_ids: a
term their redaction would change is never searched (found or not, it would tell whether a
span name holds that id), the attempt is audited and counted like a raw customer id typed in
the search box (refuse_identifier_terms)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.access import requires
from accounts.redaction import PSEUDONYM, is_pseudonym
from explorer.sources.base import TraceNotFound
from explorer.traces.vocabulary import CUSTOMER_KEY, ORDER_KEY
from explorer.web import common
from explorer.web.common import clean_text, source_errors
from explorer.web.pseudonyms import (
    customer_for_pseudonym,
    looks_like_identifier,
    raw_id_from_url,
    refuse_raw_identifier,
)
from explorer.web.trace_cache import prepared_trace

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
