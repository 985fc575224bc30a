"""The audit log helper other parts of the explorer call:

from accounts import audit
audit.record(request, audit.AuditAction.VIEW, "order", order_id)
audit.record(request, audit.AuditAction.EXPORT, "journey_csv", order_id, "42 rows")
"""

from .addresses import request_client_address
from .audit_view import stored_object_id, stored_text
from .models import AuditAction, AuditEntry

__all__ = ["AuditAction", "record"]


def record(
    request, action, object_type="", object_id="", detail="", user=None, username="", address=None
):
    """Write one audit entry for `request` (user and client address taken from it); without
    a request (the OTLP receiver), `username` and `address` say who and from where. Customer
    identifiers in the id and the detail are stored as pseudonyms (accounts.audit_view)."""
    if user is None and request is not None:
        candidate = getattr(request, "user", None)
        if candidate is not None and candidate.is_authenticated:
            user = candidate
    if user is not None and not username:
        username = user.get_username()
    if request is not None:
        address = request_client_address(request)
    return AuditEntry.objects.create(
        user=user,
        username=username[:150],
        address=address,
        action=action,
        object_type=str(object_type)[:40],
        object_id=stored_object_id(str(object_type), str(object_id))[:200],
        detail=stored_text(str(detail)),
    )
