"""System checks of the explorer's security settings (run by `manage.py check --deploy`)."""

import math
import zlib
from collections import Counter

from django.conf import settings
from django.core import checks

from explorer.alerts.config import parse_webhooks
from explorer.sources.config import url_scheme

# Bits of estimated entropy a DJANGO_SECRET_KEY needs (Django's generated keys have about 250
# by this estimate, secrets.token_urlsafe(64) about 450).
SECRET_KEY_MIN_BITS = 160


def estimated_entropy_bits(key: str) -> float:
    """A conservative estimate of the entropy of a key, in bits: the lower of
    - its length times the Shannon entropy of its character frequencies (a key drawn from a
      few characters scores low: "a" * 60 has 0 bits), and
    - 8 bits per byte zlib cannot squeeze out of it (a repeated pattern scores low:
      "abcde" * 12 has 64 bits).
    It catches repeats and small alphabets, not every pattern (an alphabet written in order
    passes): generate the key rather than choosing one."""
    if not key:
        return 0.0
    counts = Counter(key)
    shannon = -sum(n * math.log2(n / len(key)) for n in counts.values())
    data = key.encode()
    compressed = 8 * max(0, len(zlib.compress(data, 9)) - len(zlib.compress(b"", 9)))
    return min(shannon, float(compressed))


@checks.register(checks.Tags.security, deploy=True)
def weak_secret_key(app_configs=None, **kwargs):
    """A guessable DJANGO_SECRET_KEY is an error, not Django's warning: sessions, password
    reset tokens and the customer pseudonyms are keyed with it. Judged by its estimated
    entropy (estimated_entropy_bits), not its length."""
    key = str(settings.SECRET_KEY or "")
    bits = estimated_entropy_bits(key)
    if bits < SECRET_KEY_MIN_BITS or key.startswith("django-insecure-"):
        return [
            checks.Error(
                f"DJANGO_SECRET_KEY is weak: about {bits:.0f} bits of entropy by the "
                f"explorer's estimate, {SECRET_KEY_MIN_BITS} needed (repeats and few "
                "different characters count for little), and not a 'django-insecure-' key.",
                hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(64))'",
                id="accounts.E001",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def plain_http_backends(app_configs=None, **kwargs):
    """A backend over plain http:// sends its token and the traces in clear: a warning (in
    production it is refused at start unless EXPLORER_ALLOW_HTTP_BACKENDS=1)."""
    return [
        checks.Warning(
            f"The tracing backend {name!r} is reached over plain http:// ({options['url']}).",
            hint="Use https:// (with ca_bundle for a company CA).",
            id="accounts.W001",
        )
        for name, options in getattr(settings, "EXPLORER_BACKENDS", {}).items()
        if url_scheme(options.get("url")) == "http"
    ]


@checks.register(checks.Tags.security)
def plain_http_webhooks(app_configs=None, **kwargs):
    """An alert webhook over plain http:// sends order (and maybe customer) ids and the
    signature in clear: a warning (in production it is refused at start unless
    EXPLORER_ALLOW_HTTP_WEBHOOKS=1)."""
    return [
        checks.Warning(
            f"The alert webhook {hook.name!r} is reached over plain http:// ({hook.url}).",
            hint="Use https:// (with ca_bundle for a company CA).",
            id="accounts.W002",
        )
        for hook in parse_webhooks(getattr(settings, "EXPLORER_ALERT_WEBHOOKS", ""))
        if url_scheme(hook.url) == "http"
    ]
