"""System checks of the explorer's security settings (run by `manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks

SECRET_KEY_MIN_LENGTH = 50  # Django's own threshold for security.W009
SECRET_KEY_MIN_UNIQUE = 5


@checks.register(checks.Tags.security, deploy=True)
def weak_secret_key(app_configs=None, **kwargs):
    """A short or guessable DJANGO_SECRET_KEY is an error, not Django's warning: sessions,
    password reset tokens and the customer pseudonyms are keyed with it."""
    key = str(settings.SECRET_KEY or "")
    if (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE
        or key.startswith("django-insecure-")
    ):
        return [
            checks.Error(
                f"DJANGO_SECRET_KEY is weak: at least {SECRET_KEY_MIN_LENGTH} characters and "
                f"{SECRET_KEY_MIN_UNIQUE} different ones are needed, not a 'django-insecure-' key.",
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
        if str(options.get("url", "")).startswith("http://")
    ]
