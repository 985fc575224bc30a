"""Issue 26 finding 7: scheme checks ignore case, plain-HTTP webhooks in production, the
secret key judged by entropy."""

import secrets

import pytest
from django.core.management.utils import get_random_secret_key

from accounts.checks import (
    SECRET_KEY_MIN_BITS,
    estimated_entropy_bits,
    plain_http_backends,
    plain_http_webhooks,
    weak_secret_key,
)
from accounts.ldap_config import ldap_settings
from explorer.alerts.config import WebhookConfigError, parse_webhooks
from explorer.sources.config import BackendConfigError, parse_backends, url_scheme
from tests.test_security import PRODUCTION, run_manage

SECRET = {"HOOK_SECRET": "s"}


@pytest.mark.parametrize("url", ["HTTP://tempo.internal/", "Http://tempo.internal/"])
def test_an_upper_case_http_backend_is_refused_in_production(url):
    raw = [{"name": "tempo", "kind": "tempo", "url": url}]
    with pytest.raises(BackendConfigError, match="must be https:// in production"):
        parse_backends(raw, allow_http=False)
    assert parse_backends(raw)[0].url == url  # allowed outside production
    assert parse_backends([{**raw[0], "url": "HTTPS://tempo.internal/"}], allow_http=False)


def test_url_scheme_is_lower_cased_and_never_fails():
    assert url_scheme(" HTTP://x/") == "http"
    assert url_scheme("LDAPS://dc1:636") == "ldaps"
    assert url_scheme(None) == "" and url_scheme(42) == ""


def hook(url: str) -> dict:
    return {"name": "ops", "url": url, "secret_env": "HOOK_SECRET"}


@pytest.mark.parametrize("url", ["http://chat.internal/hook", "HTTP://chat.internal/hook"])
def test_a_plain_http_webhook_is_refused_in_production(url):
    with pytest.raises(WebhookConfigError, match=r"must be https:// in production.*ALLOW_HTTP"):
        parse_webhooks([hook(url)], SECRET, allow_http=False)
    assert parse_webhooks([hook(url)], SECRET)[0].url == url
    assert parse_webhooks([hook("https://chat.internal/hook")], SECRET, allow_http=False)


def test_check_warns_about_plain_http_backends_and_webhooks_whatever_the_case(
    settings, monkeypatch
):
    monkeypatch.setenv("HOOK_SECRET", "s")
    settings.EXPLORER_BACKENDS = {"tempo": {"kind": "tempo", "url": "HTTP://tempo.internal/"}}
    settings.EXPLORER_ALERT_WEBHOOKS = [hook("HTTP://chat.internal/hook")]
    assert [w.id for w in plain_http_backends()] == ["accounts.W001"]
    assert [w.id for w in plain_http_webhooks()] == ["accounts.W002"]
    settings.EXPLORER_ALERT_WEBHOOKS = [hook("https://chat.internal/hook")]
    assert plain_http_webhooks() == []


def test_an_upper_case_ldaps_uri_is_ldaps():
    env = {
        "EXPLORER_LDAP_SERVER_URI": "LDAPS://dc1.corp:636",
        "EXPLORER_LDAP_GROUP_SUPPORT": "cn=support,dc=corp",
        "EXPLORER_LDAP_GROUP_SEARCH_BASE": "dc=corp",
        "EXPLORER_LDAP_USER_DN_TEMPLATE": "uid=%(user)s,dc=corp",
    }
    assert ldap_settings(env)["AUTH_LDAP_START_TLS"] is False  # TLS from the first byte


@pytest.mark.slow
def test_production_refuses_plain_http_webhooks_unless_allowed(tmp_path):
    env = {
        **PRODUCTION,
        "EXPLORER_DATA_DIR": str(tmp_path),
        "EXPLORER_ALERT_WEBHOOKS": '[{"name": "ops", "url": "HTTP://chat.internal/hook", '
        '"secret_env": "HOOK_SECRET"}]',
        "HOOK_SECRET": "s",
    }
    refused = run_manage(env, "check")
    assert refused.returncode != 0 and "must be https:// in production" in refused.stderr
    allowed = run_manage({**env, "EXPLORER_ALLOW_HTTP_WEBHOOKS": "1"}, "check")
    assert allowed.returncode == 0, allowed.stderr
    assert "accounts.W002" in allowed.stderr + allowed.stdout


@pytest.mark.parametrize(
    "weak",
    [
        "abcde" * 12,
        "a" * 60,
        "x1y2z3" * 10,
        "Password123!" * 5,
        "short-key",
        "django-insecure-" + secrets.token_urlsafe(64),
    ],
)
def test_a_guessable_secret_key_fails_whatever_its_length(settings, weak):
    settings.SECRET_KEY = weak
    [error] = weak_secret_key()
    assert error.id == "accounts.E001" and "bits of entropy" in error.msg


@pytest.mark.parametrize(
    "strong",
    [get_random_secret_key(), secrets.token_urlsafe(64), secrets.token_hex(32)],
    ids=["get_random_secret_key", "token_urlsafe", "token_hex"],  # the same in every process
)
def test_a_generated_secret_key_passes(settings, strong):
    settings.SECRET_KEY = strong
    assert weak_secret_key() == []
    assert estimated_entropy_bits(strong) >= SECRET_KEY_MIN_BITS


def test_entropy_estimate():
    assert estimated_entropy_bits("") == 0
    assert estimated_entropy_bits("a" * 1000) == 0
    assert estimated_entropy_bits("abcde" * 12) < 100  # repeats compress
    assert estimated_entropy_bits(secrets.token_urlsafe(64)) > 300
