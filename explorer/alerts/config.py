"""Alert webhooks, from settings only (EXPLORER_ALERT_WEBHOOKS), never from user input.

    [{"name": "ops-chat", "url": "https://chat.internal/hooks/alerts",
      "secret_env": "OPS_CHAT_SECRET", "kinds": ["lost_message", "stuck"]}]

Each entry: name; url (https, or http outside production or with
EXPLORER_ALLOW_HTTP_WEBHOOKS=1; a plain URL without credentials, query or fragment);
secret_env (the environment variable holding the HMAC secret; required); kinds (the alert
kinds it receives; absent or empty: every kind); customer_ids (true: payloads carry raw customer
ids; default false: masked); optional ca_bundle, timeout (seconds per attempt, default 5),
retries (extra attempts, default 3) and backoff (first delay in seconds, doubling; default 0.5).
A webhook is a remote endpoint like a tracing backend: it gets the same TLS verification and
redirect rules (explorer/sources/http.py). Pure: no Django.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from explorer.sources.config import BackendConfig, url_scheme

KINDS = ("lost_message", "stuck", "state_violation", "sla_breach", "anomaly")
ORDER_KINDS = frozenset({"lost_message", "stuck", "state_violation"})
ENDPOINT_KINDS = frozenset({"sla_breach", "anomaly"})

_ALLOWED_KEYS = {
    "name",
    "url",
    "secret_env",
    "kinds",
    "customer_ids",
    "ca_bundle",
    "timeout",
    "retries",
    "backoff",
}


class WebhookConfigError(ValueError):
    """EXPLORER_ALERT_WEBHOOKS is wrong; the message says which entry and what."""


@dataclass(frozen=True, slots=True)
class Webhook:
    name: str
    url: str
    secret: str
    kinds: frozenset[str]
    customer_ids: bool = False
    ca_bundle: str | None = None
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5

    def __repr__(self) -> str:  # never print the secret
        return f"Webhook(name={self.name!r}, url={self.url!r})"

    def wants(self, kind: str) -> bool:
        return kind in self.kinds

    def backend(self, base: str) -> BackendConfig:
        """The webhook as the hardened HTTP client sees a remote endpoint: `base` (its URL up
        to the last "/") is the base URL redirects may not leave; TLS verified, bounded
        retries with backoff."""
        return BackendConfig(
            name=self.name,
            kind="webhook",
            url=base,
            ca_bundle=self.ca_bundle,
            timeout_connect=self.timeout,
            timeout_read=self.timeout,
            timeout_total=self.timeout * 2,
            retries=self.retries,
            backoff=self.backoff,
            retry_after_max=max(self.backoff * 8, 1.0),
            max_bytes=1024 * 1024,
            breaker_failures=self.retries + 1,
            breaker_cooldown=0.0,
        )


def parse_webhooks(
    raw: str | list | None, environ: Mapping[str, str] | None = None, allow_http: bool = True
) -> list[Webhook]:
    """Validate EXPLORER_ALERT_WEBHOOKS (JSON text or an already decoded list); with
    `allow_http` False (production) a plain http:// URL is refused: the payload (order ids,
    maybe customer ids) and its signature would cross the network in clear."""
    environ = os.environ if environ is None else environ
    if raw is None or raw == "" or raw == []:
        return []
    if isinstance(raw, str):
        try:
            items: Any = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise WebhookConfigError(f"EXPLORER_ALERT_WEBHOOKS is not valid JSON: {exc}") from None
    else:
        items = raw
    if not isinstance(items, list):
        raise WebhookConfigError("EXPLORER_ALERT_WEBHOOKS must be a JSON list of objects")
    hooks = [_parse_one(index, item, environ) for index, item in enumerate(items)]
    for index, hook in enumerate(hooks):
        if not allow_http and url_scheme(hook.url) == "http":
            raise WebhookConfigError(
                f"EXPLORER_ALERT_WEBHOOKS[{index}] ({hook.name!r}): 'url' must be https:// in "
                f"production, got {hook.url!r} (EXPLORER_ALLOW_HTTP_WEBHOOKS=1 allows it)"
            )
    names = [hook.name for hook in hooks]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise WebhookConfigError(f"EXPLORER_ALERT_WEBHOOKS: the name {twice[0]!r} is used twice")
    return hooks


def _parse_one(index: int, item: Any, environ: Mapping[str, str]) -> Webhook:
    where = f"EXPLORER_ALERT_WEBHOOKS[{index}]"
    if not isinstance(item, dict):
        raise WebhookConfigError(f"{where} must be an object, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise WebhookConfigError(f"{where}: 'name' is missing or empty")
    where = f"{where} ({name!r})"
    unknown = sorted(set(item) - _ALLOWED_KEYS)
    if unknown:
        raise WebhookConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    url = item.get("url")
    parts = urlsplit(url if isinstance(url, str) else "")
    if url_scheme(url) not in ("http", "https") or not parts.hostname:
        raise WebhookConfigError(f"{where}: 'url' must be an http(s) URL, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise WebhookConfigError(
            f"{where}: 'url' must be a plain URL (no query, fragment or credentials)"
        )
    variable = item.get("secret_env")
    if not isinstance(variable, str) or not variable:
        raise WebhookConfigError(
            f"{where}: 'secret_env' (the environment variable holding the "
            f"signing secret) is required"
        )
    secret = environ.get(variable)
    if not secret:
        raise WebhookConfigError(
            f"{where}: environment variable {variable} (secret_env) is not set"
        )
    kinds = item.get("kinds") or list(KINDS)
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise WebhookConfigError(f"{where}: 'kinds' must be a list of alert kinds")
    wrong = sorted(set(kinds) - set(KINDS))
    if wrong:
        raise WebhookConfigError(
            f"{where}: unknown kind(s) {', '.join(wrong)}; kinds are {', '.join(KINDS)}"
        )
    customer_ids = item.get("customer_ids", False)
    if not isinstance(customer_ids, bool):
        raise WebhookConfigError(f"{where}: 'customer_ids' must be true or false")
    ca_bundle = item.get("ca_bundle")
    if ca_bundle is not None and not (isinstance(ca_bundle, str) and os.path.isfile(ca_bundle)):
        raise WebhookConfigError(f"{where}: 'ca_bundle' file {ca_bundle!r} does not exist")
    numbers: dict[str, Any] = {}
    for key, default, smallest, kind in (
        ("timeout", 5.0, 0.001, (int, float)),
        ("retries", 3, 0, int),
        ("backoff", 0.5, 0.0, (int, float)),
    ):
        value = item.get(key, default)
        if isinstance(value, bool) or not isinstance(value, kind) or value < smallest:
            raise WebhookConfigError(
                f"{where}: {key!r} must be a number >= {smallest}, got {value!r}"
            )
        numbers[key] = value
    return Webhook(
        name=name,
        url=str(url),
        secret=secret,
        kinds=frozenset(kinds),
        customer_ids=customer_ids,
        ca_bundle=ca_bundle,
        **numbers,
    )
