"""Customer pseudonyms in URLs, and refusing raw identifiers to viewers who may not see them.

A viewer without accounts.view_customer_ids sees every customer identifier as a keyed
pseudonym (`cust-7f3a9c01de`, accounts/redaction.py) and follows it to the customer's page:
the pseudonym is looked up among the known customer ids (the order-status snapshot and the
trace source's values of `customer.id`). A raw identifier from such a viewer is never looked
up: the answer is the same "not found" whether the customer exists or not, the attempt is in
the audit log, and past EXPLORER_RAW_ID_ATTEMPTS attempts per EXPLORER_RAW_ID_WINDOW_SECONDS
the viewer gets 429 pages until the window ends.

Trace and order ids in URLs follow the same rule (raw_id_from_url): a viewer who sees
pseudonyms is linked to an id as their redaction shows it (`order-cust-7f3a9c01de-t1`), and
the id is looked up with each pseudonym replaced by its customer's id; the raw id is refused.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts import audit
from accounts.redaction import PSEUDONYM, holds_identifier, is_pseudonym, redact_id, redact_text
from explorer.caching import LocalCache, SharedCache
from explorer.orders.models import OrderStatus
from explorer.orders.service import now_in
from explorer.sources.base import ListsAttributeValues
from explorer.traces.vocabulary import CUSTOMER_KEY
from explorer.web import common

MAP_SECONDS = 300  # how long a pseudonym-to-id map is reused while the data stays the same
REFUSED = "refused: raw customer identifier without view_customer_ids"

# Raw identifiers each viewer tried, per window (shared by the worker processes).
_attempts = SharedCache("default", lambda: settings.EXPLORER_RAW_ID_WINDOW_SECONDS)
# One pseudonym-to-id map per data version (a few MB for 100,000 customers).
_maps: LocalCache[dict[str, str]] = LocalCache(
    "customer pseudonyms", max_weight=2, seconds=MAP_SECONDS
)


def _known_customer_ids(source) -> set[str]:
    known = set(
        OrderStatus.objects.exclude(customer_id="").values_list("customer_id", flat=True).distinct()
    )
    if isinstance(source, ListsAttributeValues):
        known.update(source.attribute_values(CUSTOMER_KEY))
    return known


def customer_for_pseudonym(request, text: str) -> str | None:
    """The raw customer id whose pseudonym (for this server's key) is `text`, or None."""
    policy = common.policy(request)
    source = common.source()
    # New traces or a new snapshot change the newest span or the row count: a new map.
    data_version = (now_in(source), OrderStatus.objects.count())
    mapping = _maps.get_or_compute(
        (source.name, policy.pseudonym_key, data_version),
        lambda: {policy.pseudonym(raw): raw for raw in _known_customer_ids(source)},
    )
    return mapping.get(text)


def refuse_raw_identifier(request, object_type: str, value: str):
    """Audit an attempt to open or search a raw identifier; the 429 page once the viewer has
    made too many, else None (the caller answers "not found" as for a missing customer)."""
    audit.record(request, audit.AuditAction.VIEW, object_type, value, REFUSED)
    if _attempts.count("raw-id-attempts", request.user.pk) > settings.EXPLORER_RAW_ID_ATTEMPTS:
        message = _("Too many look-ups of customer identifiers. Try again later.")
        return render(request, "web/not_found.html", {"message": message}, status=429)
    return None


def customer_from_url(request, given: str) -> tuple[str | None, object | None]:
    """(raw customer id or None, a response to send instead or None) for a customer id taken
    from a URL: raw ids for viewers who see them, pseudonyms for the others."""
    if common.can_see_customer_ids(request):
        return given, None
    if is_pseudonym(given) and given.startswith("cust-"):
        return customer_for_pseudonym(request, given), None
    return None, refuse_raw_identifier(request, "customer", given)


def raw_id_from_url(request, object_type: str, given: str) -> tuple[str | None, object | None]:
    """(the id to look up or None, a response to send instead or None) for a trace or order
    id taken from a URL: as given for viewers who see customer ids; for the others, the id as
    their redaction shows it with each customer pseudonym in it replaced by the customer's id
    (None when a pseudonym is of no known customer). An id that holds a raw customer id is
    refused like one: audited, counted, never looked up."""
    policy = common.export_policy(request)
    if policy.show_identifiers:
        return given, None
    if holds_identifier(given, policy):
        return None, refuse_raw_identifier(request, object_type, given)
    pieces, last = [], 0
    for match in PSEUDONYM.finditer(given):
        if not match.group().startswith("cust-"):
            continue  # e-mail addresses and phone numbers in ids are never looked up
        customer = customer_for_pseudonym(request, match.group())
        if customer is None:
            return None, None
        pieces += [given[last : match.start()], customer]
        last = match.end()
    return "".join(pieces) + given[last:], None


def url_id(request, raw: str) -> str:
    """A trace, span or order id as this viewer's links carry it (raw_id_from_url and the
    span page read it back)."""
    return redact_id(raw, common.export_policy(request))


def looks_like_identifier(request, text: str) -> bool:
    """True when the viewer's redaction would hide part of `text` (a customer id, an e-mail
    address, a phone number): such text is not searched for viewers who see pseudonyms."""
    return redact_text(text, common.policy(request)) != text
