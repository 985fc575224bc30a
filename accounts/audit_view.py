"""Audit entries as a viewer may see them: customer ids as pseudonyms for viewers without
view_customer_ids (the audit page, its CSV export and the admin)."""

from .models import AuditEntry
from .redaction import redact_text, redact_value

# Object types whose id is a customer identifier (pseudonymised whole for the viewer).
CUSTOMER_OBJECT_TYPES = frozenset({"customer", "customer_csv"})


def shown_entry(entry: AuditEntry, policy) -> dict:
    """An audit entry as the viewer may see it: ids and details through their redaction
    policy (an administrator without view_customer_ids sees pseudonyms, as on every page)."""
    if entry.object_type in CUSTOMER_OBJECT_TYPES and entry.object_id:
        object_id = str(redact_value("customer.id", entry.object_id, policy))
    else:
        object_id = redact_text(entry.object_id, policy)
    return {
        "time": entry.time,
        "username": entry.username,
        "address": entry.address,
        "action": entry.action,
        "action_display": entry.get_action_display(),
        "object_type": entry.object_type,
        "object_id": object_id,
        "detail": redact_text(entry.detail, policy),
    }
