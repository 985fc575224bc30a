"""Who is sending: the sender named by its bearer token, and whether its address may send."""

from __future__ import annotations

import hmac

from accounts.network import client_address, in_networks
from explorer.receiver.config import ReceiverConfig

# The sender's name when no tokens are configured (a receiver listening on loopback only).
ANONYMOUS = "anonymous"


class Refused(Exception):
    """The request may not be served; `status` is the HTTP status, the message says why;
    `storage_full`: (503) the database's disk is full, which gRPC says as RESOURCE_EXHAUSTED."""

    def __init__(self, status: int, message: str, storage_full: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.storage_full = storage_full


def sender_for(authorization: str | None, tokens: dict[str, str]) -> str:
    """The sender whose token the Authorization header carries, or Refused(401). Every token
    is compared, in constant time, so the time taken says nothing about which one is close."""
    if not tokens:
        return ANONYMOUS
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Refused(401, "missing bearer token (Authorization: Bearer <token>)")
    offered = given.strip().encode()
    found = None
    for name, token in tokens.items():
        if hmac.compare_digest(offered, token.encode()):
            found = name
    if found is None:
        raise Refused(401, "wrong bearer token")
    return found


def check_address(peer: str, forwarded_for: str, config: ReceiverConfig) -> str:
    """The client's address (X-Forwarded-For believed from trusted proxies only, as for the
    web app), or Refused(403) when it is outside EXPLORER_ALLOWED_NETWORKS."""
    address = client_address(peer, forwarded_for, config.trusted_proxies)
    if address is None or not in_networks(address, config.allowed):
        raise Refused(403, f"address {address or peer!r} is outside EXPLORER_ALLOWED_NETWORKS")
    return address
