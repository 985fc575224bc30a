"""The receiver's settings, read and checked once (mistakes stop the start with a message)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

from accounts.network import Network, parse_networks

MODES = ("full", "index")


class ReceiverConfigError(ValueError):
    """A receiver setting is wrong; the message names it."""


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    mode: str
    tokens: dict[str, str]  # sender name -> token
    max_bytes: int
    max_attribute_bytes: int
    in_flight: int  # requests decoded and written at once; the others wait, then 429
    writers: int  # writer processes (explorer.receiver.writers)
    retry_after_s: int
    connections: int  # OTLP/HTTP connections open at once
    header_timeout_s: float  # a request's headers (or a TLS handshake) must arrive within it
    idle_timeout_s: float  # a silent connection is closed after it
    tls_cert: str
    tls_key: str
    allowed: tuple[Network, ...]
    trusted_proxies: tuple[Network, ...]

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)


def parse_tokens(text: str) -> dict[str, str]:
    """EXPLORER_RECEIVER_TOKENS: a JSON object of non-empty sender names to non-empty tokens."""
    try:
        tokens = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ReceiverConfigError(f"EXPLORER_RECEIVER_TOKENS is not JSON: {exc}") from exc
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in tokens.items()
    ):
        raise ReceiverConfigError(
            'EXPLORER_RECEIVER_TOKENS must be a JSON object {"sender-name": "token", ...} '
            "of non-empty strings"
        )
    if len(set(tokens.values())) != len(tokens):
        raise ReceiverConfigError("EXPLORER_RECEIVER_TOKENS: two senders share one token")
    return tokens


def load() -> ReceiverConfig:
    mode = settings.EXPLORER_RECEIVER_MODE
    if mode not in MODES:
        raise ReceiverConfigError(f"EXPLORER_RECEIVER_MODE must be one of {MODES}, not {mode!r}")
    cert, key = settings.EXPLORER_RECEIVER_TLS_CERT, settings.EXPLORER_RECEIVER_TLS_KEY
    if bool(cert) != bool(key):
        raise ReceiverConfigError(
            "EXPLORER_RECEIVER_TLS_CERT and EXPLORER_RECEIVER_TLS_KEY go together: set both or "
            "neither"
        )
    for name, value in (
        ("EXPLORER_RECEIVER_MAX_BYTES", settings.EXPLORER_RECEIVER_MAX_BYTES),
        ("EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES", settings.EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES),
        ("EXPLORER_RECEIVER_IN_FLIGHT", settings.EXPLORER_RECEIVER_IN_FLIGHT),
        ("EXPLORER_RECEIVER_CONNECTIONS", settings.EXPLORER_RECEIVER_CONNECTIONS),
        ("EXPLORER_RECEIVER_HEADER_TIMEOUT", settings.EXPLORER_RECEIVER_HEADER_TIMEOUT),
        ("EXPLORER_RECEIVER_IDLE_TIMEOUT", settings.EXPLORER_RECEIVER_IDLE_TIMEOUT),
    ):
        if not value > 0:
            raise ReceiverConfigError(f"{name} must be positive, not {value}")
    writers = settings.EXPLORER_RECEIVER_WRITERS
    if writers < 0:
        raise ReceiverConfigError(f"EXPLORER_RECEIVER_WRITERS must be 0 or more, not {writers}")
    return ReceiverConfig(
        mode=mode,
        tokens=parse_tokens(settings.EXPLORER_RECEIVER_TOKENS),
        max_bytes=settings.EXPLORER_RECEIVER_MAX_BYTES,
        max_attribute_bytes=settings.EXPLORER_RECEIVER_MAX_ATTRIBUTE_BYTES,
        in_flight=settings.EXPLORER_RECEIVER_IN_FLIGHT,
        writers=writers,
        retry_after_s=max(settings.EXPLORER_RECEIVER_RETRY_AFTER, 1),
        connections=settings.EXPLORER_RECEIVER_CONNECTIONS,
        header_timeout_s=settings.EXPLORER_RECEIVER_HEADER_TIMEOUT,
        idle_timeout_s=settings.EXPLORER_RECEIVER_IDLE_TIMEOUT,
        tls_cert=cert,
        tls_key=key,
        allowed=tuple(
            parse_networks(settings.EXPLORER_ALLOWED_NETWORKS, "EXPLORER_ALLOWED_NETWORKS")
        ),
        trusted_proxies=tuple(
            parse_networks(settings.EXPLORER_TRUSTED_PROXIES, "EXPLORER_TRUSTED_PROXIES")
        ),
    )
