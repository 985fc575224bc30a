"""Field-level redaction of traces, strings and mappings, by policy. Pure: no Django in the core.

What is masked, and how (the shape is kept so a reader sees that something was there):
- secrets, for everyone: values of attributes whose key contains a secret word (password,
  token, secret, authorization, ...), `Bearer …` tokens, JWTs and `key=value` pairs with a
  secret key inside text -> "•••";
- card-like numbers (13-19 digits, Luhn-valid), for everyone -> "••••" + the last four digits;
- customer identifiers, for users without accounts.view_customer_ids: values of the
  identifier keys (customer.id, enduser.id, ...), values matching the identifier patterns
  anywhere in text (C-00123), e-mail addresses and international phone numbers
  -> first three and last two characters around "…" ("C-00123" -> "C-0…23"; "•••" if short),
  e-mail addresses -> first character + "•••@" + domain.

redact_trace, redact_text, redact_value and redact_mapping return copies; their input is
never changed. policy_for_user(user) builds the policy from settings.EXPLORER_REDACTION.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from explorer.traces.model import Event, Link, Resource, Span, Trace

SECRET_MASK = "•••"  # noqa: S105 (the mask, not a secret)
MAX_DEPTH = 32  # deeper nesting than this is masked whole rather than walked

DEFAULT_CONFIG = {
    "identifier_keys": [
        "customer.id", "enduser.id", "user.id", "user.email", "user.name",
        "customer.email", "customer.phone", "user.phone",
    ],
    "identifier_patterns": [r"\bC-\d{3,}\b"],
    "secret_key_words": [
        "password", "passwd", "pwd", "secret", "token", "authorization", "api_key",
        "apikey", "cookie", "credential", "private_key", "session",
    ],
}

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b")
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)")
_CARD = re.compile(r"(?<![\d-])[2-6](?:[ -]?\d){12,18}(?![\d-])")
_BEARER = re.compile(
    r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*|\b(basic)(\s+)[A-Za-z0-9+/]{12,}={0,2}"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


@dataclasses.dataclass(frozen=True)
class RedactionPolicy:
    identifier_keys: frozenset[str]
    identifier_patterns: tuple[re.Pattern, ...]
    secret_key_words: tuple[str, ...]
    secret_pair: re.Pattern  # key=value / "key": "value" with a secret key inside text
    show_identifiers: bool = False

    @property
    def cache_token(self) -> str:
        """What this policy masks, as text: results redacted by it are cached under it."""
        return repr((sorted(self.identifier_keys), [p.pattern for p in self.identifier_patterns],
                     self.secret_key_words, self.show_identifiers))


def build_policy(config: Mapping[str, Sequence[str]], show_identifiers: bool) -> RedactionPolicy:
    """A policy from a configuration like DEFAULT_CONFIG (missing keys take the defaults)."""
    merged = {**DEFAULT_CONFIG, **config}
    words = tuple(word.lower() for word in merged["secret_key_words"])
    word_alternatives = "|".join(re.escape(word) for word in words) or r"(?!x)x"
    secret_pair = re.compile(
        rf"(?i)([\w.-]*(?:{word_alternatives})[\w.-]*)(\"?'?\s*[=:]\s*\"?'?)"
        rf"((?:bearer\s+|basic\s+)?[^\s&,;\"'}}]+)"
    )
    return RedactionPolicy(
        identifier_keys=frozenset(key.lower() for key in merged["identifier_keys"]),
        identifier_patterns=tuple(re.compile(p) for p in merged["identifier_patterns"]),
        secret_key_words=words,
        secret_pair=secret_pair,
        show_identifiers=show_identifiers,
    )


def mask_identifier(value: str) -> str:
    return f"{value[:3]}…{value[-2:]}" if len(value) > 6 else SECRET_MASK


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return f"••••{digits[-4:]}" if _luhn_valid(digits) else match.group()


def redact_text(text: str, policy: RedactionPolicy) -> str:
    if not text:
        return text
    text = policy.secret_pair.sub(lambda m: f"{m.group(1)}{m.group(2)}{SECRET_MASK}", text)
    text = _BEARER.sub(
        lambda m: f"{m.group(1) or m.group(3)}{m.group(2) or m.group(4)}{SECRET_MASK}", text
    )
    text = _JWT.sub(SECRET_MASK, text)
    text = _CARD.sub(_mask_card, text)
    if not policy.show_identifiers:
        text = _EMAIL.sub(lambda m: f"{m.group(1)}•••@{m.group(2)}", text)
        text = _PHONE.sub(lambda m: mask_identifier(m.group()), text)
        for pattern in policy.identifier_patterns:
            text = pattern.sub(lambda m: mask_identifier(m.group()), text)
    return text


def _is_secret_key(key: str, policy: RedactionPolicy) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in policy.secret_key_words)


def _mask_all(value: Any) -> Any:
    """An identifier value masked whatever its type (a list stays a list of masks)."""
    if isinstance(value, list | tuple):
        return [_mask_all(item) for item in value]
    return mask_identifier(str(value))


def redact_value(key: str, value: Any, policy: RedactionPolicy, _depth: int = 0) -> Any:
    """The value of attribute `key`, redacted (strings, numbers, lists and maps)."""
    if _is_secret_key(key, policy) or _depth > MAX_DEPTH:
        return SECRET_MASK
    if not policy.show_identifiers and key.lower() in policy.identifier_keys:
        return _mask_all(value)
    if isinstance(value, str):
        return redact_text(value, policy)
    if isinstance(value, Mapping):
        return redact_mapping(value, policy, _depth + 1)
    if isinstance(value, list | tuple):
        return [redact_value(key, item, policy, _depth + 1) for item in value]
    return value


def redact_mapping(mapping: Mapping[str, Any], policy: RedactionPolicy, _depth: int = 0) -> dict:
    """A copy of a mapping (attributes, a JSON object) with every key's value redacted."""
    return {
        key: redact_value(str(key), value, policy, _depth) for key, value in mapping.items()
    }


def _redact_resource(resource: Resource, policy: RedactionPolicy) -> Resource:
    return dataclasses.replace(resource, attributes=redact_mapping(resource.attributes, policy))


def _redact_span(span: Span, policy: RedactionPolicy, resources: dict[int, Resource]) -> Span:
    resource = resources.get(id(span.resource))
    if resource is None:
        resource = resources[id(span.resource)] = _redact_resource(span.resource, policy)
    return dataclasses.replace(
        span,
        name=redact_text(span.name, policy),
        resource=resource,
        attributes=redact_mapping(span.attributes, policy),
        events=[
            Event(redact_text(e.name, policy), e.time_ns, redact_mapping(e.attributes, policy))
            for e in span.events
        ],
        links=[
            Link(link.trace_id, link.span_id, redact_mapping(link.attributes, policy))
            for link in span.links
        ],
        status_message=redact_text(span.status_message, policy),
    )


def redact_trace(trace: Trace, policy: RedactionPolicy) -> Trace:
    """A redacted copy of a trace: span names, attributes, resource attributes, events,
    links, status messages and the normalisation warnings."""
    resources: dict[int, Resource] = {}  # spans of one service share their Resource
    return Trace(
        trace_id=trace.trace_id,
        spans=[_redact_span(span, policy, resources) for span in trace.spans],
        warnings=[redact_text(warning, policy) for warning in trace.warnings],
    )


_policies: dict[tuple[str, bool], RedactionPolicy] = {}


def policy_for_user(user) -> RedactionPolicy:
    """The policy for a Django user: customer identifiers visible only with the permission
    accounts.view_customer_ids; secrets and card numbers masked for everyone."""
    config = getattr(settings, "EXPLORER_REDACTION", {})
    show = bool(user.is_authenticated and user.has_perm("accounts.view_customer_ids"))
    cache_key = (repr(sorted(config.items())), show)
    if cache_key not in _policies:
        _policies[cache_key] = build_policy(config, show)
    return _policies[cache_key]
