"""Intranet-only access, the Content-Security-Policy, and the production settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.network import client_address, in_networks, parse_networks

ROOT = Path(__file__).resolve().parent.parent
PROXIES = parse_networks(["10.0.0.5/32", "10.0.0.6/32"], "test")


def test_client_address_believes_forwarded_for_only_from_trusted_proxies():
    assert client_address("203.0.113.9", "10.1.1.1", PROXIES) == "203.0.113.9"
    assert client_address("10.0.0.5", "10.1.1.1", PROXIES) == "10.1.1.1"
    # The right-most address that is not one of our proxies; the left part is client-written.
    assert client_address("10.0.0.5", "10.9.9.9, 203.0.113.9, 10.0.0.6", PROXIES) == "203.0.113.9"
    assert client_address("10.0.0.5", "garbage, 10.0.0.6", PROXIES) is None
    assert client_address("::ffff:10.1.1.1", "", PROXIES) == "10.1.1.1"
    assert client_address("", "", PROXIES) is None


def test_networks():
    private = parse_networks(["10.0.0.0/8", "::1/128"], "X")
    assert in_networks("10.200.1.1", private) and in_networks("::1", private)
    assert not in_networks("11.0.0.1", private) and not in_networks("nonsense", private)
    with pytest.raises(ValueError, match="EXPLORER_ALLOWED_NETWORKS: '10.0.0.0/33'"):
        parse_networks(["10.0.0.0/33"], "EXPLORER_ALLOWED_NETWORKS")


@pytest.mark.django_db
def test_outside_address_gets_the_intranet_page(client):
    response = client.get("/accounts/login/", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"Intranet only" in response.content and b"203.0.113.9" in response.content
    # Static files too: the check runs before WhiteNoise.
    assert client.get("/static/css/site.css", REMOTE_ADDR="203.0.113.9").status_code == 403


@pytest.mark.django_db
def test_forged_forwarded_for_from_untrusted_peer_is_refused(client):
    response = client.get(
        "/accounts/login/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3"
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_trusted_proxy_with_allowed_client_and_outside_client(client, settings):
    settings.EXPLORER_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    settings.EXPLORER_TRUSTED_PROXIES = ["192.168.7.1/32"]
    ok = client.get("/accounts/login/", REMOTE_ADDR="192.168.7.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert ok.status_code == 200
    # The proxy's own address is not enough: the client behind it is outside.
    outside = client.get(
        "/accounts/login/", REMOTE_ADDR="192.168.7.1", HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert outside.status_code == 403
    # A client-written hop left of the real one does not help.
    forged = client.get(
        "/accounts/login/",
        REMOTE_ADDR="192.168.7.1",
        HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9",
    )
    assert forged.status_code == 403


@pytest.mark.django_db
def test_csp_header_forbids_inline_scripts_and_pages_have_none(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert html.count("<script") == len(scripts)  # every script element is closed
    assert all(' src="/static/' in attributes and not body.strip() for attributes, body in scripts)
    assert "style=" not in html and "<style" not in html


def run_manage(env_overrides, *args):
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "EXPLORER_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-test-key-with-enough-entropy-0123456789",
    "DJANGO_ALLOWED_HOSTS": "explorer.alexandrite.corp",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://explorer.alexandrite.corp",
}


@pytest.mark.slow
def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = run_manage(
        {**PRODUCTION, "EXPLORER_DATA_DIR": str(tmp_path)},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, message",
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_CSRF_TRUSTED_ORIGINS": "http://explorer"}, "must be https://"),
        ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG must be off"),
    ],
)
def test_production_refuses_to_start_without_https_settings(tmp_path, change, message):
    result = run_manage({**PRODUCTION, **change, "EXPLORER_DATA_DIR": str(tmp_path)}, "check")
    assert result.returncode != 0 and message in result.stderr


def test_production_settings_values(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS > 0, s.CSRF_TRUSTED_ORIGINS)"
    )
    result = run_manage({**PRODUCTION, "EXPLORER_DATA_DIR": str(tmp_path)}, "shell", "-c", code)
    assert "True True True True ['https://explorer.alexandrite.corp']" in result.stdout, (
        result.stderr
    )


@pytest.mark.slow
@pytest.mark.parametrize("weak", ["short-key", "a" * 60, "django-insecure-" + "x1y2z3" * 10])
def test_check_deploy_fails_on_a_weak_secret_key(tmp_path, weak):
    result = run_manage(
        {**PRODUCTION, "DJANGO_SECRET_KEY": weak, "EXPLORER_DATA_DIR": str(tmp_path)},
        "check",
        "--deploy",
    )
    assert result.returncode != 0
    assert "accounts.E001" in result.stderr + result.stdout


HTTP_BACKEND = '[{"name": "tempo", "kind": "tempo", "url": "http://tempo.internal/"}]'


@pytest.mark.slow
def test_production_refuses_plain_http_backends_unless_allowed(tmp_path):
    env = {**PRODUCTION, "EXPLORER_DATA_DIR": str(tmp_path), "EXPLORER_BACKENDS": HTTP_BACKEND}
    refused = run_manage(env, "check")
    assert refused.returncode != 0 and "must be https:// in production" in refused.stderr
    allowed = run_manage({**env, "EXPLORER_ALLOW_HTTP_BACKENDS": "1"}, "check")
    assert allowed.returncode == 0, allowed.stderr
    assert "accounts.W001" in allowed.stderr + allowed.stdout  # still warned about
