"""Field-level redaction of traces, strings and mappings, by policy. Pure: no Django in the core.

What is masked, and how:
- secrets, for everyone: values of attributes whose key contains a secret word (password,
  token, secret, authorization, ...), `Bearer …` tokens, JWTs and `key=value` pairs with a
  secret key inside text -> "•••";
- card-like numbers (13-19 digits, Luhn-valid), for everyone -> "••••" + the last four digits;
- customer identifiers, for users without accounts.view_customer_ids: values of the
  identifier keys (customer.id, enduser.id, ...), values matching the identifier patterns
  anywhere in text, also inside words (`file_C-00241_report.pdf`), in any case and with any
  of the separators people use (`c-00241`, `C 00241`, `C_00241`, `C00241`), e-mail
  addresses and international phone numbers -> a stable keyed pseudonym
  (`cust-7f3a9c01de`, `mail-…`, `tel-…`): HMAC-SHA256 of the value (an id of the default
  shape written as `C-00241` first) with a server secret, so the same customer always gets the
  same pseudonym however it was written, and nobody without the secret can compute one from an
  id;
- control characters and bidirectional controls (ESC, BEL, U+202E, ...), for everyone ->
  visible symbols (explorer/traces/visible.py), so trace text can neither reorder what a
  page or a diagram shows nor reach a terminal as an escape sequence.
Attribute keys, values of every type (strings, bytes read as UTF-8, arrays, key-value lists),
span, event and scope names, link ids, status messages and warnings are redacted like values.

Every scan is linear in the length of its input (no pattern that backtracks over a run of
characters once per starting position), so one long string cannot stall the server.
Configured identifier patterns must keep that property (a literal start, no nested
quantifiers).

redact_trace, redact_text, redact_value and redact_mapping return copies; their input is
never changed. policy_for_user(user) builds the policy from settings.EXPLORER_REDACTION.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.conf import settings

from explorer.caching import LocalCache
from explorer.traces.model import Event, Link, Resource, Scope, Span, Trace
from explorer.traces.visible import visible

SECRET_MASK = "•••"  # noqa: S105 (the mask, not a secret)
MAX_DEPTH = 32  # deeper nesting than this is masked whole rather than walked
PSEUDONYM_HEX = 10  # 40 bits: no collision among millions of customers in practice
PSEUDONYM = re.compile(rf"(?:cust|mail|tel)-[0-9a-f]{{{PSEUDONYM_HEX}}}")

DEFAULT_CONFIG = {
    "identifier_keys": [
        "customer.id",
        "enduser.id",
        "user.id",
        "user.email",
        "user.name",
        "customer.email",
        "customer.phone",
        "user.phone",
    ],
    # "C-00241" even glued to letters, digits or "_" (`file_C-00241_report.pdf`); in any
    # case and with "-", "_", " " or no separator ("c 00241", "C00241") when it starts a
    # word and no letter follows (a hex id such as "3c12345a" is no customer id), and is not
    # the hex of a pseudonym ("cust-c012345678").
    "identifier_patterns": [
        r"C-\d{3,}+",
        r"(?<![A-Za-z0-9])(?<!cust-)(?i:c)[-_ ]?+\d{3,}+(?![A-Za-z])",
    ],
    "secret_key_words": [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "authorization",
        "api_key",
        "apikey",
        "cookie",
        "credential",
        "private_key",
        "session",
    ],
}

# Every pattern below either has a bounded length after a literal start (phone, card) or is
# matched by the scanners further down, which never rescan a run they have passed.
_WORD_RUN_REST = re.compile(r"[\w.-]*+")  # the rest of a key in key=value text
_PAIR_TAIL = re.compile(
    r"(\"?'?\s*+[=:]\s*+\"?'?)((?:bearer\s++|basic\s++)?[^\s&,;\"'}]++)", re.IGNORECASE
)
_EMAIL_LOCAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
)
_EMAIL_AT = re.compile(r"@(?=[A-Za-z0-9-]++\.[A-Za-z0-9-])")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)+")
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)")
_CARD = re.compile(r"(?<![\d-])[2-6](?:[ -]?\d){12,18}(?![\d-])")
_BEARER = re.compile(
    r"(?i)\b(bearer)(\s++)[A-Za-z0-9\-._~+/]++=*+|\b(basic)(\s++)[A-Za-z0-9+/]{12,}+={0,2}"
)
_JWT_START = re.compile(r"\beyJ")
_JWT_SEGMENT = re.compile(r"[A-Za-z0-9_-]*+")


@dataclasses.dataclass(frozen=True)
class RedactionPolicy:
    identifier_keys: frozenset[str]
    identifier_patterns: tuple[re.Pattern, ...]
    identifiers: re.Pattern  # the identifier patterns as one alternation, scanned once
    secret_key_words: tuple[str, ...]
    secret_words: re.Pattern  # any of secret_key_words, in lower-cased text
    show_identifiers: bool = False
    pseudonym_key: bytes = b""
    max_text: int | None = None  # longest text kept (pages: a cap; exports: None, whole)

    def pseudonym(self, value: str) -> str:
        return pseudonym(value, self.pseudonym_key)

    @property
    def cache_token(self) -> str:
        """What this policy masks, as text: results redacted by it are cached under it."""
        return repr(
            (
                sorted(self.identifier_keys),
                [p.pattern for p in self.identifier_patterns],
                self.secret_key_words,
                self.show_identifiers,
                self.max_text,
                hashlib.sha256(self.pseudonym_key).hexdigest()[:16],
            )
        )


# Without a key of the server's (tests, scripts), a random one per process: pseudonyms are
# then stable only within the process, and never computable from outside.
_PROCESS_KEY = os.urandom(32)


def build_policy(
    config: Mapping[str, Sequence[str]], show_identifiers: bool, pseudonym_key: bytes | None = None
) -> RedactionPolicy:
    """A policy from a configuration like DEFAULT_CONFIG (missing keys take the defaults)."""
    merged = {**DEFAULT_CONFIG, **config}
    words = tuple(word.lower() for word in merged["secret_key_words"])
    patterns = tuple(re.compile(p) for p in merged["identifier_patterns"])
    return RedactionPolicy(
        identifier_keys=frozenset(key.lower() for key in merged["identifier_keys"]),
        identifier_patterns=patterns,
        # One scan: a pseudonym put in by one pattern is never matched by the next.
        identifiers=re.compile("|".join(f"(?:{p.pattern})" for p in patterns) or r"(?!x)x"),
        secret_key_words=words,
        secret_words=re.compile("|".join(re.escape(w) for w in words) or r"(?!x)x"),
        show_identifiers=show_identifiers,
        pseudonym_key=pseudonym_key or _PROCESS_KEY,
    )


# The default customer id in any spelling: "c 00241", "C00241", "c_00241" -> "C-00241".
_CUSTOMER_ID_SPELLING = re.compile(r"[Cc][-_ ]?+(\d{3,}+)")


@functools.lru_cache(maxsize=8192)  # the same customers recur in every span
def pseudonym(value: str, key: bytes) -> str:
    """The stable pseudonym of an identifier: `mail-` for an e-mail address, `tel-` for a
    phone number, `cust-` for anything else; the same value always gives the same one, and
    so do the ways people write a customer id of the default shape ("C-00241", "c 00241",
    "C00241" and "c_00241" are one customer, keyed as "C-00241")."""
    value = value.strip()
    if "@" in value:
        kind, value = "mail", value.lower()
    elif value.startswith("+"):
        kind, value = "tel", re.sub(r"[^\d+]", "", value)
    else:
        kind = "cust"
        spelling = _CUSTOMER_ID_SPELLING.fullmatch(value)
        if spelling is not None:
            value = f"C-{spelling.group(1)}"
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{kind}-{digest[:PSEUDONYM_HEX]}"


def is_pseudonym(text: str) -> bool:
    return PSEUDONYM.fullmatch(text) is not None


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


def _rebuild(text: str, pieces: list[tuple[int, int, str]]) -> str:
    """`text` with each (start, end) range replaced, ranges in order and not overlapping."""
    if not pieces:
        return text
    out, last = [], 0
    for start, end, replacement in pieces:
        out.append(text[last:start])
        out.append(replacement)
        last = end
    out.append(text[last:])
    return "".join(out)


def _run_end(run: re.Pattern[str], text: str, position: int) -> int:
    """Where the run of `run` (a `*+` pattern) starting at `position` ends."""
    found = run.match(text, position)
    assert found is not None  # a `*+` pattern matches the empty run too
    return found.end()


def _mask_secret_pairs(text: str, words: re.Pattern) -> str:
    """`key=value`, `key: value`, `"key": "value"` with a secret word in the key: the value
    masked. A key is a run of word characters, dots and dashes; found from its secret word,
    the rest of the run skipped, so no character is read more than twice."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower to two: search the text itself
        lowered, words = text, re.compile(words.pattern, re.IGNORECASE)
    pieces = []
    position = 0
    while (word := words.search(lowered, position)) is not None:
        position = _run_end(_WORD_RUN_REST, text, word.end())
        tail = _PAIR_TAIL.match(text, position)
        if tail is not None:
            pieces.append((tail.start(2), tail.end(2), SECRET_MASK))
            position = tail.end()
    return _rebuild(text, pieces)


def _mask_jwts(text: str) -> str:
    """eyJ….….… (three base64url segments, the first two of at least five characters after
    the header's start) -> the mask. A failed candidate skips the segment it scanned."""
    pieces = []
    position = 0
    while (start := _JWT_START.search(text, position)) is not None:
        end = start.start()
        ok = True
        for index in range(3):
            segment_end = _run_end(_JWT_SEGMENT, text, end + (3 if index == 0 else 0))
            length = segment_end - end
            end = segment_end
            if index < 2 and (length < (8 if index == 0 else 5) or not text.startswith(".", end)):
                ok = False
                break
            if index < 2:
                end += 1
        if ok:
            pieces.append((start.start(), end, SECRET_MASK))
            position = end
        else:
            position = max(end, start.end())
    return _rebuild(text, pieces)


def _replace_emails(text: str, replace: Callable[[str], str]) -> str:
    """Each `local@domain.tld` replaced: found from its "@", the local part read backwards,
    never past the previous address or "@", so every character is read a bounded number of
    times."""
    pieces = []
    floor = 0
    while (at := _EMAIL_AT.search(text, floor)) is not None:
        position = at.start()
        start = position
        while start > floor and text[start - 1] in _EMAIL_LOCAL_CHARS:
            start -= 1
        while start < position and not (text[start].isalnum() or text[start] == "_"):
            start += 1  # the local part starts at a word character, as `\b` demanded
        domain = _EMAIL_DOMAIN.match(text, position + 1)
        if start < position and domain is not None:
            pieces.append((start, domain.end(), replace(text[start : domain.end()])))
            floor = domain.end()
        else:
            floor = position + 1
    return _rebuild(text, pieces)


def redact_text(text: str, policy: RedactionPolicy) -> str:
    if not text:
        return text
    text = visible(text)  # control and bidi characters as symbols, for everyone
    text = _mask_secret_pairs(text, policy.secret_words)
    text = _BEARER.sub(
        lambda m: f"{m.group(1) or m.group(3)}{m.group(2) or m.group(4)}{SECRET_MASK}", text
    )
    text = _mask_jwts(text)
    text = _CARD.sub(_mask_card, text)
    text = _pseudonymise_identifiers(text, policy)
    if policy.max_text is not None and len(text) > policy.max_text:
        text = text[: policy.max_text] + "…"  # cut after redacting: no secret is cut in two
    return text


def _pseudonymise_identifiers(text: str, policy: RedactionPolicy) -> str:
    """The customer identifiers in `text` (e-mail addresses, phone numbers, identifier
    patterns) as pseudonyms, unless the policy shows them; nothing else changed."""
    if policy.show_identifiers:
        return text
    text = _replace_emails(text, policy.pseudonym)
    text = _PHONE.sub(lambda m: policy.pseudonym(m.group()), text)
    return policy.identifiers.sub(lambda m: policy.pseudonym(m.group()), text)


def holds_identifier(text: str, policy: RedactionPolicy) -> bool:
    """True when `text` holds a customer identifier the policy hides."""
    return bool(text) and _pseudonymise_identifiers(text, policy) != text


def redact_id(text: str, policy: RedactionPolicy) -> str:
    """A trace, span or order id as the policy shows it: customer identifiers as pseudonyms
    and control characters as symbols, nothing masked or cut, so that the id stays one a
    page can be addressed by (a hex id can look like a card number)."""
    return _pseudonymise_identifiers(visible(text), policy) if text else text


def _is_secret_key(key: str, policy: RedactionPolicy) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in policy.secret_key_words)


def _bytes_text(value: bytes) -> str:
    """Bytes as the text they most likely carry (UTF-8; undecodable bytes as U+FFFD)."""
    return value.decode("utf-8", errors="replace")


def _pseudonymise_all(value: Any, policy: RedactionPolicy, _depth: int = 0) -> Any:
    """An identifier value as pseudonyms whatever its type (a list stays a list, the values
    of a map are pseudonymised under their redacted keys)."""
    if _depth > MAX_DEPTH:
        return SECRET_MASK
    if isinstance(value, list | tuple):
        return [_pseudonymise_all(item, policy, _depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {
            redact_text(str(k), policy): _pseudonymise_all(v, policy, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, bytes):
        value = _bytes_text(value)
    return policy.pseudonym(str(value))


def redact_value(key: str, value: Any, policy: RedactionPolicy, _depth: int = 0) -> Any:
    """The value of attribute `key`, redacted (strings, bytes, numbers, lists and maps).
    Bytes are read as UTF-8 text: when redaction changes that text, the redacted text
    replaces them (a `bytesValue` carries ids and secrets like a string)."""
    if _is_secret_key(key, policy) or _depth > MAX_DEPTH:
        return SECRET_MASK
    if not policy.show_identifiers and key.lower() in policy.identifier_keys:
        return _pseudonymise_all(value, policy)
    if isinstance(value, str):
        return redact_text(value, policy)
    if isinstance(value, bytes | bytearray | memoryview):
        text = _bytes_text(bytes(value))
        redacted = redact_text(text, policy)
        return value if redacted == text else redacted
    if isinstance(value, Mapping):
        return redact_mapping(value, policy, _depth + 1)
    if isinstance(value, list | tuple):
        return [redact_value(key, item, policy, _depth + 1) for item in value]
    return value


def redact_mapping(mapping: Mapping[str, Any], policy: RedactionPolicy, _depth: int = 0) -> dict:
    """A copy of a mapping (attributes, a JSON object) with every key and value redacted
    (a key may carry an identifier too: `C-00241.note`)."""
    return {
        redact_text(str(key), policy): redact_value(str(key), value, policy, _depth)
        for key, value in mapping.items()
    }


def _redact_resource(resource: Resource, policy: RedactionPolicy) -> Resource:
    return dataclasses.replace(
        resource,
        service_name=redact_text(resource.service_name, policy),
        attributes=redact_mapping(resource.attributes, policy),
    )


def _redact_span(span: Span, policy: RedactionPolicy, resources: dict[int, Resource]) -> Span:
    resource = resources.get(id(span.resource))
    if resource is None:
        resource = resources[id(span.resource)] = _redact_resource(span.resource, policy)
    return dataclasses.replace(
        span,
        trace_id=redact_id(span.trace_id, policy),
        span_id=redact_id(span.span_id, policy),
        parent_id=None if span.parent_id is None else redact_id(span.parent_id, policy),
        name=redact_text(span.name, policy),
        resource=resource,
        attributes=redact_mapping(span.attributes, policy),
        events=[
            Event(redact_text(e.name, policy), e.time_ns, redact_mapping(e.attributes, policy))
            for e in span.events
        ],
        links=[
            Link(
                redact_id(link.trace_id, policy),
                redact_id(link.span_id, policy),
                redact_mapping(link.attributes, policy),
            )
            for link in span.links
        ],
        status_message=redact_text(span.status_message, policy),
        scope=Scope(redact_text(span.scope.name, policy), redact_text(span.scope.version, policy)),
    )


def redact_trace(trace: Trace, policy: RedactionPolicy) -> Trace:
    """A redacted copy of a trace: its id, span ids, parent ids and link ids (by redact_id,
    alike, so the tree holds; pages address a trace and a span by these ids), span names,
    attributes and their keys, resource attributes, events, links and their ids, scope names,
    status messages and the normalisation warnings."""
    resources: dict[int, Resource] = {}  # spans of one service share their Resource
    return Trace(
        trace_id=redact_id(trace.trace_id, policy),
        spans=[_redact_span(span, policy, resources) for span in trace.spans],
        warnings=[redact_text(warning, policy) for warning in trace.warnings],
    )


# Built once per redaction settings, permission and key: two per configuration in practice
# (viewers who see customer ids and those who do not); a few more while settings change.
_policies: LocalCache[RedactionPolicy] = LocalCache("redaction policies", max_weight=8)


def pseudonym_key_from_settings() -> bytes:
    """The server secret pseudonyms are keyed with: EXPLORER_PSEUDONYM_KEY when set, else
    derived from SECRET_KEY (a separate HMAC, so the pseudonym key reveals nothing of it)."""
    dedicated = getattr(settings, "EXPLORER_PSEUDONYM_KEY", "")
    if dedicated:
        return dedicated.encode()
    return hmac.new(
        settings.SECRET_KEY.encode(), b"alexandrite pseudonyms", hashlib.sha256
    ).digest()


def policy_for_user(user) -> RedactionPolicy:
    """The policy for a Django user: customer identifiers visible only with the permission
    accounts.view_customer_ids; secrets and card numbers masked for everyone."""
    config = getattr(settings, "EXPLORER_REDACTION", {})
    show = bool(user.is_authenticated and user.has_perm("accounts.view_customer_ids"))
    key = pseudonym_key_from_settings()
    return _policies.get_or_compute(
        (repr(sorted(config.items())), show, key), lambda: build_policy(config, show, key)
    )
