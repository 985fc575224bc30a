"""Which trace backends exist: parsed and validated from settings, never from user input.

EXPLORER_BACKENDS is a JSON list of objects, e.g.

    [{"name": "embedded", "kind": "store"},
     {"name": "tempo", "kind": "tempo", "url": "https://tempo.internal/",
      "ca_bundle": "/etc/ssl/company-ca.pem", "token_env": "TEMPO_TOKEN"}]

Secrets come from environment variables named in the object (token_env, password_env), so the
JSON itself can be committed to deployment configuration. Every problem is reported with the
backend's position and name and what is wrong, when settings are loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

KINDS = ("store", "jaeger", "tempo", "zipkin")
API_CHOICES = {"jaeger": ("v3", "classic"), "tempo": ("v2", "v1")}

# The embedded store's source is named EMBEDDED (its kind is "store").
EMBEDDED = "embedded"
DEFAULT_BACKENDS: list[dict[str, Any]] = [{"name": EMBEDDED, "kind": "store"}]

_STRING_KEYS = (
    "url",
    "ca_bundle",
    "client_cert",
    "client_key",
    "token",
    "token_env",
    "username",
    "password",
    "password_env",
    "api",
)
_NUMBER_KEYS = {
    # key: (default, smallest allowed)
    "timeout_connect": (3.0, 0.001),
    "timeout_read": (10.0, 0.001),
    "timeout_total": (60.0, 0.001),
    "retries": (2, 0),
    "max_bytes": (50 * 1024 * 1024, 1),
    "max_ratio": (200, 1),
    "backoff": (0.2, 0.0),
    "retry_after_max": (10.0, 0.0),
    "breaker_failures": (5, 1),
    "breaker_cooldown": (30.0, 0.0),
    "lookback_days": (30.0, 0.001),
}
_INT_KEYS = {"retries", "max_bytes", "max_ratio", "breaker_failures"}
_ALLOWED_KEYS = {"name", "kind", *_STRING_KEYS, *_NUMBER_KEYS}


def url_scheme(url: object) -> str:
    """The scheme of a URL, lower-cased ("" for a non-string): schemes are case-insensitive
    (RFC 3986, 3.1), so every scheme check of the settings (backends, webhooks, LDAP, CSRF
    origins, `check`) reads it here, and "HTTP://" is plain HTTP like "http://"."""
    return urlsplit(url).scheme.lower() if isinstance(url, str) else ""


class BackendConfigError(ValueError):
    """EXPLORER_BACKENDS or EXPLORER_DEFAULT_BACKEND is wrong; the message says where."""


@dataclass(frozen=True, slots=True)
class BackendConfig:
    name: str
    kind: str
    url: str = ""  # base URL, always ending in "/"; empty for the embedded store
    api: str = ""  # jaeger: "v3" (falls back to "classic"), tempo: "v2" (falls back to "v1")
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    timeout_connect: float = 3.0
    timeout_read: float = 10.0
    timeout_total: float = 60.0  # one attempt, download included (a slow trickle stops here)
    retries: int = 2  # extra attempts of an idempotent GET
    max_bytes: int = 50 * 1024 * 1024  # an answer, compressed and inflated
    max_ratio: int = 200  # an answer inflates to at most this many times its compressed size
    backoff: float = 0.2  # first retry delay in seconds; doubles each retry
    retry_after_max: float = 10.0  # longest Retry-After honoured
    breaker_failures: int = 5  # consecutive failed calls that open the circuit
    breaker_cooldown: float = 30.0  # seconds the circuit stays open before a trial call
    # How far back a search without a start looks (an order's journey: find_traces by order.id
    # with no window). Orders take days to weeks from placing to delivery.
    lookback_days: float = 30.0

    def __repr__(self) -> str:  # never print secrets in logs or tracebacks
        return f"BackendConfig(name={self.name!r}, kind={self.kind!r}, url={self.url!r})"


def decode_backends(raw: str | list | None) -> Any:
    """EXPLORER_BACKENDS decoded (once): the default when unset, JSON text as a value."""
    if raw is None or raw == "":
        return DEFAULT_BACKENDS
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BackendConfigError(f"EXPLORER_BACKENDS is not valid JSON: {exc}") from None


def parse_backends(
    raw: str | list | None, environ: Mapping[str, str] | None = None, allow_http: bool = True
) -> list[BackendConfig]:
    """Validate EXPLORER_BACKENDS (JSON text or an already decoded list); with
    `allow_http` False (production) a plain http:// URL is refused: the bearer token or
    password and the traces would cross the network in clear."""
    env = os.environ if environ is None else environ
    items = decode_backends(raw)
    if not isinstance(items, list) or not items:
        raise BackendConfigError("EXPLORER_BACKENDS must be a non-empty JSON list of objects")
    configs = [_parse_one(index, item, env) for index, item in enumerate(items)]
    for index, config in enumerate(configs):
        if not allow_http and url_scheme(config.url) == "http":
            raise BackendConfigError(
                f"EXPLORER_BACKENDS[{index}] ({config.name!r}): 'url' must be https:// in "
                f"production, got {config.url!r} (EXPLORER_ALLOW_HTTP_BACKENDS=1 allows it)"
            )
    seen: set[str] = set()
    for config in configs:
        if config.name in seen:
            raise BackendConfigError(f"EXPLORER_BACKENDS: the name {config.name!r} is used twice")
        seen.add(config.name)
    return configs


def default_backend_name(configs: list[BackendConfig], name: str | None) -> str:
    """EXPLORER_DEFAULT_BACKEND, checked against the configured names (default: the first)."""
    if not name:
        return configs[0].name
    names = [c.name for c in configs]
    if name not in names:
        raise BackendConfigError(
            f"EXPLORER_DEFAULT_BACKEND={name!r} names no backend; configured: {', '.join(names)}"
        )
    return name


def _parse_one(index: int, item: Any, environ) -> BackendConfig:
    where = f"EXPLORER_BACKENDS[{index}]"
    if not isinstance(item, dict):
        raise BackendConfigError(f"{where} must be an object, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BackendConfigError(f"{where}: 'name' is missing or empty")
    where = f"{where} ({name!r})"
    unknown = sorted(set(item) - _ALLOWED_KEYS)
    if unknown:
        raise BackendConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kind = item.get("kind")
    if kind not in KINDS:
        raise BackendConfigError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    for key in _STRING_KEYS:
        if key in item and not isinstance(item[key], str):
            raise BackendConfigError(f"{where}: {key!r} must be a string")
    values: dict[str, Any] = {"name": name, "kind": kind}
    for key, (default, smallest) in _NUMBER_KEYS.items():
        value = item.get(key, default)
        wanted = int if key in _INT_KEYS else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted) or value < smallest:
            raise BackendConfigError(
                f"{where}: {key!r} must be a number >= {smallest}, got {value!r}"
            )
        values[key] = value
    if kind == "store":
        return BackendConfig(**values)

    url = item.get("url", "")
    parts = urlsplit(url)
    if url_scheme(url) not in ("http", "https") or not parts.hostname:
        raise BackendConfigError(f"{where}: 'url' must be an http(s) URL, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BackendConfigError(
            f"{where}: 'url' must be a plain base URL (no query, fragment or credentials)"
        )
    values["url"] = url if url.endswith("/") else url + "/"

    api = item.get("api", "")
    choices = API_CHOICES.get(kind, ())
    if api and api not in choices:
        allowed = ", ".join(choices) or "nothing (this kind has one API)"
        raise BackendConfigError(f"{where}: 'api' for {kind} must be one of {allowed}, got {api!r}")
    values["api"] = api or (choices[0] if choices else "")

    for key in ("ca_bundle", "client_cert", "client_key"):
        path = item.get(key)
        if path is not None and not os.path.isfile(path):
            raise BackendConfigError(f"{where}: {key!r} file {path!r} does not exist")
        values[key] = path
    if values["client_key"] and not values["client_cert"]:
        raise BackendConfigError(f"{where}: 'client_key' needs 'client_cert'")

    values["token"] = _secret(where, item, "token", environ)
    values["username"] = item.get("username")
    values["password"] = _secret(where, item, "password", environ)
    if values["token"] and values["username"]:
        raise BackendConfigError(f"{where}: use either a bearer token or username/password")
    if bool(values["username"]) != bool(values["password"]):
        raise BackendConfigError(f"{where}: basic authentication needs username and password")
    return BackendConfig(**values)


def _secret(where: str, item: dict, key: str, environ) -> str | None:
    """A secret given inline (inside the EXPLORER_BACKENDS variable) or by env var name."""
    env_key = f"{key}_env"
    if key in item and env_key in item:
        raise BackendConfigError(f"{where}: give {key!r} or {env_key!r}, not both")
    if env_key in item:
        variable = item[env_key]
        value = environ.get(variable)
        if not value:
            raise BackendConfigError(
                f"{where}: environment variable {variable} ({env_key}) is not set"
            )
        return value
    return item.get(key) or None


def backends_setting(
    raw: str | None, default: str | None, allow_http: bool = True
) -> tuple[dict[str, dict], str]:
    """settings.EXPLORER_BACKENDS ({name: options}, as explorer.composition reads it) and
    settings.EXPLORER_DEFAULT_BACKEND, from the environment variables. Everything is checked
    here, secrets included, so a mistake stops the start with a clear message."""
    items = decode_backends(raw)
    configs = parse_backends(items, allow_http=allow_http)
    options = {item["name"]: {k: v for k, v in item.items() if k != "name"} for item in items}
    return options, default_backend_name(configs, default)


def config_for(name: str, options: dict) -> BackendConfig:
    """The BackendConfig of one backend of settings.EXPLORER_BACKENDS."""
    return parse_backends([{"name": name, **options}])[0]
