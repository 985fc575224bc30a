"""Audit entries as stored and as a viewer sees them.

Stored: customer identifiers are kept as the keyed pseudonyms a viewer without
view_customer_ids sees (accounts/redaction.py, docs/security.md "Pseudonyms"), never raw;
secrets and card numbers are masked. An object id of a customer type is the customer id
itself, pseudonymised whole; other ids and details are redacted like any text. A raw id an
auditor types into a filter is pseudonymised the same way for the lookup, so the entries of a
customer are found by the customer's id (or pseudonym).
"""

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q

from .models import AuditEntry
from .redaction import RedactionPolicy, is_pseudonym, policy_for_user, redact_text

# Object types whose id is a customer identifier (pseudonymised whole).
CUSTOMER_OBJECT_TYPES = frozenset({"customer", "customer_csv"})


def stored_policy() -> RedactionPolicy:
    """The redaction audit entries are stored under: that of a viewer without
    view_customer_ids (identifiers as pseudonyms, secrets masked)."""
    return policy_for_user(AnonymousUser())


def stored_object_id(object_type: str, object_id: str) -> str:
    """An object id as the audit table keeps it."""
    policy = stored_policy()
    if object_type in CUSTOMER_OBJECT_TYPES and object_id and not is_pseudonym(object_id):
        return policy.pseudonym(object_id)
    return redact_text(object_id, policy)


def stored_text(text: str) -> str:
    """A detail (or a search text) as the audit table keeps it."""
    return redact_text(text, stored_policy())


def object_id_lookup(text: str) -> Q:
    """Entries whose stored object id contains `text` pseudonymised the same way as stored
    (a typed customer id finds that customer's entries, so does its pseudonym)."""
    return Q(object_id__icontains=stored_text(text)) | Q(
        object_type__in=CUSTOMER_OBJECT_TYPES,
        object_id=stored_object_id("customer", text.strip()),
    )


def shown_entry(entry: AuditEntry, policy) -> dict:
    """An audit entry as the viewer may see it: ids and details through their redaction
    policy too (stored pseudonyms stay as they are)."""
    return {
        "time": entry.time,
        "username": entry.username,
        "address": entry.address,
        "action": entry.action,
        "action_display": entry.get_action_display(),
        "object_type": entry.object_type,
        "object_id": redact_text(entry.object_id, policy),
        "detail": redact_text(entry.detail, policy),
    }
