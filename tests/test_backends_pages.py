"""Pages when the default backend misbehaves: a clear 503 page within the configured timeout,
with a bounded number of requests, the site's navigation and search box still there."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from tests.backends_support import ReplayServer, Reply, free_port

pytestmark = pytest.mark.django_db

TRACE_ID = "5b8efff798038103d269b633813fc60c"
# Two attempts of at most 0.2 s each per call.
FAST = {"timeout_connect": 0.2, "timeout_read": 0.2, "retries": 1, "backoff": 0.0}


def use_backend(settings, url: str, **options) -> None:
    settings.EXPLORER_BACKENDS = {"tracing": {"kind": "zipkin", "url": url, **FAST, **options}}
    settings.EXPLORER_DEFAULT_BACKEND = "tracing"


FAULTS = {
    "timeout": (Reply(body=b"[]", delay=1.0), "timed out after 0.2 s (2 attempts)"),
    "500": (
        Reply(status=500, body=b"storage unavailable", content_type="text/plain"),
        "HTTP 500 Internal Server Error: storage unavailable",
    ),
    "refused": (None, "cannot connect: connection refused (2 attempts)"),
}


def page_urls() -> list[str]:
    return [reverse("web:order", args=["A-100001"]), reverse("web:trace", args=[TRACE_ID])]


def assert_clear_503(page, cause: str) -> None:
    body = page.content.decode()
    assert page.status_code == 503
    assert "Tracing backend unavailable" in body
    assert "The tracing backend “tracing” did not answer" in body and cause in body
    assert 'class="site-nav"' in body and 'id="lookup-q"' in body  # the chrome is all there
    assert "Traceback" not in body


@pytest.mark.parametrize("fault", FAULTS)
def test_pages_say_the_backend_is_down_within_the_timeout(fault, settings, client, login_as):
    reply, cause = FAULTS[fault]
    login_as("support")
    if reply is None:
        use_backend(settings, f"http://127.0.0.1:{free_port()}/")
        server = None
    else:
        server = ReplayServer(lambda seen: reply).__enter__()
        use_backend(settings, server.url)
    try:
        for url in page_urls():
            started = time.monotonic()
            page = client.get(url)
            elapsed = time.monotonic() - started
            assert_clear_503(page, cause)
            assert elapsed < 2.0, f"{url} took {elapsed:.1f} s"  # never the server's 1 s x N
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    if server is not None:  # bounded: the order page makes two calls, the trace page one
        assert len(server.seen) <= 3 * (FAST["retries"] + 1)


def test_the_circuit_opens_and_pages_stop_calling(settings, client, login_as):
    login_as("support")
    with ReplayServer(lambda seen: Reply(status=503, body=b"")) as server:
        use_backend(settings, server.url, retries=0, breaker_failures=2, breaker_cooldown=60)
        trace_url = reverse("web:trace", args=[TRACE_ID])
        for _ in range(2):
            assert_clear_503(client.get(trace_url), "HTTP 503")
        calls = len(server.seen)
        started = time.monotonic()
        page = client.get(trace_url)
        assert time.monotonic() - started < 0.5
    assert_clear_503(page, "circuit open until")
    assert len(server.seen) == calls == 2  # the open circuit sent nothing


@pytest.mark.parametrize("role", ["support", "analyst"])
def test_home_keeps_its_search_box_when_the_backend_is_down(role, settings, client, login_as):
    login_as(role)
    use_backend(settings, f"http://127.0.0.1:{free_port()}/")
    page = client.get(reverse("web:home"))
    body = page.content.decode()
    assert page.status_code in (200, 503)
    assert 'id="lookup-q"' in body and 'class="site-nav"' in body
    if role == "analyst":  # the analytics part needs the backend: it says why it is missing
        assert "connection refused" in body
