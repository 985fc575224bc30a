"""The hardened HTTP client against real servers on 127.0.0.1 that misbehave on purpose."""

from __future__ import annotations

import base64
import logging
import time

import pytest

from explorer.sources.base import SourceError
from explorer.sources.config import BackendConfig
from explorer.sources.http import BackendClient, HttpStatusError
from tests.backends_support import ReplayServer, Reply, free_port, make_pki

FAST = {"timeout_connect": 0.5, "timeout_read": 0.2, "backoff": 0.0, "retries": 2}


def client_for(url: str, **options) -> BackendClient:
    return BackendClient(BackendConfig(name="t1", kind="tempo", url=url, **{**FAST, **options}))


def serve(reply: Reply | None = None, **kwargs):
    return ReplayServer(lambda seen: reply or Reply(body=b'{"ok": true}'), **kwargs)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


class Clock:
    """A clock the test moves by hand, for the circuit breaker."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_json_gzip_and_bearer_token():
    with serve(Reply(body=b'{"services": ["shop-api"]}', gzip=True)) as server:
        client = client_for(server.url, token="s3cret")
        assert client.get_json("api/v2/services") == {"services": ["shop-api"]}
    headers = server.seen[0].headers
    assert headers["Authorization"] == "Bearer s3cret"
    assert "gzip" in headers["Accept-Encoding"]
    assert server.seen[0].path == "/api/v2/services"


def test_basic_auth_and_base_path():
    with serve() as server:
        client = client_for(server.url + "tempo", username="reader", password="pw")
        client.get_json("api/echo")
    assert server.seen[0].path == "/tempo/api/echo"
    expected = base64.b64encode(b"reader:pw").decode()
    assert server.seen[0].headers["Authorization"] == f"Basic {expected}"


def test_read_timeout_is_bounded_and_retried():
    with serve(Reply(body=b"{}", delay=1.0)) as server:
        client = client_for(server.url, retries=1)
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            client.get_json("api/search")
        elapsed = time.monotonic() - started
    assert "timed out after 0.2 s (2 attempts)" in str(caught.value)
    assert "'t1'" in str(caught.value) and "GET /api/search" in str(caught.value)
    assert elapsed < 0.9  # two reads of 0.2 s, never the server's 1 s
    assert len(server.seen) == 2


def test_connection_refused_retries_with_backoff():
    delays = []
    config = BackendConfig(
        name="t1", kind="zipkin", url=f"http://127.0.0.1:{free_port()}/", retries=2, backoff=0.1
    )
    client = BackendClient(config, sleep=delays.append)
    with pytest.raises(SourceError) as caught:
        client.get_json("api/v2/services")
    assert "cannot connect: connection refused (3 attempts)" in str(caught.value)
    assert delays == [0.1, 0.2]  # exponential backoff between the three attempts


def test_server_error_is_not_retried():
    with (
        serve(Reply(status=500, body=b"boom: store unavailable", content_type="text/plain")) as s,
        pytest.raises(SourceError) as caught,
    ):
        client_for(s.url).get_json("api/traces/abc")
    assert "HTTP 500 Internal Server Error: boom: store unavailable" in str(caught.value)
    assert len(s.seen) == 1


def test_not_found_is_a_status_error_without_retries():
    with (
        serve(Reply(status=404, body=b"trace not found", content_type="text/plain")) as s,
        pytest.raises(HttpStatusError) as caught,
    ):
        client_for(s.url).get_json("api/traces/abc")
    assert caught.value.status == 404
    assert len(s.seen) == 1


def test_429_honours_retry_after_then_succeeds():
    replies = iter([Reply(status=429, headers={"Retry-After": "1"}), Reply(body=b"[]")])
    delays = []
    with ReplayServer(lambda seen: next(replies)) as server:
        config = BackendConfig(name="z", kind="zipkin", url=server.url, backoff=0.01)
        assert BackendClient(config, sleep=delays.append).get_json("api/v2/services") == []
    assert delays == [1.0]
    assert len(server.seen) == 2


def test_429_retry_after_is_capped_and_attempts_bounded():
    delays = []
    with serve(Reply(status=429, headers={"Retry-After": "3600"})) as server:
        config = BackendConfig(
            name="z", kind="zipkin", url=server.url, retries=3, retry_after_max=0.5
        )
        with pytest.raises(SourceError) as caught:
            BackendClient(config, sleep=delays.append).get_json("api/v2/services")
    assert "HTTP 429 Too Many Requests (4 attempts)" in str(caught.value)
    assert delays == [0.5, 0.5, 0.5]
    assert len(server.seen) == 4


def test_truncated_body():
    with (
        serve(Reply(body=b'{"traces": [', declared_length=5000)) as server,
        pytest.raises(SourceError) as caught,
    ):
        client_for(server.url, retries=1).get_json("api/search")
    assert "truncated" in str(caught.value) and "(2 attempts)" in str(caught.value)
    assert len(server.seen) == 2


def test_wrong_content_type():
    page = b"<html><body>Please log in</body></html>"
    with (
        serve(Reply(body=page, content_type="text/html; charset=utf-8")) as server,
        pytest.raises(SourceError) as caught,
    ):
        client_for(server.url).get_json("api/search")
    assert "unexpected content type text/html (asked for application/json)" in str(caught.value)
    assert len(server.seen) == 1


def test_invalid_json_body():
    with (
        serve(Reply(body=b'{"traces": [}')) as server,
        pytest.raises(SourceError, match="not valid JSON"),
    ):
        client_for(server.url).get_json("api/search")


def _endless(total: int, chunk: bytes = b"x" * 65536):
    for _ in range(total // len(chunk)):
        yield chunk


def test_200_mb_stream_is_cut_at_the_limit():
    with serve(Reply(body=_endless(200 * 1024 * 1024))) as server:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            client_for(server.url, max_bytes=1024 * 1024, timeout_read=2).get_json("api/traces/1")
        elapsed = time.monotonic() - started
    assert "response over 1 MB limit" in str(caught.value)
    assert len(server.seen) == 1  # not retried: a second try would be as big
    assert server.bytes_sent < 50 * 1024 * 1024  # the client hung up long before the end
    assert elapsed < 2


def test_declared_200_mb_is_refused_before_reading():
    body = _endless(200 * 1024 * 1024)
    with (
        serve(Reply(body=body, declared_length=200 * 1024 * 1024)) as server,
        pytest.raises(SourceError) as caught,
    ):
        client_for(server.url, max_bytes=1024 * 1024).get_json("api/traces/1")
    assert "response over 1 MB limit (200 MB declared)" in str(caught.value)


def test_redirect_inside_base_is_followed():
    def answer(seen):
        if seen.path == "/tempo/api/echo":
            return Reply(status=302, headers={"Location": "/tempo/api/v2/echo?x=1"})
        return Reply(body=b'"echo"')

    with ReplayServer(answer) as server:
        assert client_for(server.url + "tempo/").get_json("api/echo") == "echo"
    assert [s.path for s in server.seen] == ["/tempo/api/echo", "/tempo/api/v2/echo"]
    assert server.seen[1].query == {"x": ["1"]}


@pytest.mark.parametrize(
    "location",
    ["http://other.example/", "/elsewhere/api/echo", "/tempo/../admin", "//other.example/x"],
)
def test_redirect_outside_base_is_refused_and_logged(location, caplog):
    with (
        serve(Reply(status=301, headers={"Location": location})) as server,
        caplog.at_level(logging.WARNING, logger="explorer.sources"),
        pytest.raises(SourceError) as caught,
    ):
        client_for(server.url + "tempo/").get_json("api/echo")
    message = str(caught.value)
    assert "refused: redirect to" in message and f"is outside {server.url}tempo/" in message
    assert len(server.seen) == 1  # the target was never contacted
    assert [r for r in caplog.records if r.name == "explorer.sources" and "refused" in r.message]


def test_https_with_the_company_ca(pki):
    with serve(tls=pki.server_context()) as server:
        assert client_for(server.url, ca_bundle=str(pki.ca)).get_json("api/echo") == {"ok": True}


def test_invalid_certificate_is_refused_and_logged(pki, caplog):
    with (
        serve(tls=pki.server_context(rogue=True)) as server,
        caplog.at_level(logging.WARNING, logger="explorer.sources"),
        pytest.raises(SourceError) as caught,
    ):
        client_for(server.url, ca_bundle=str(pki.ca)).get_json("api/echo")
    assert "certificate verify failed" in str(caught.value)
    assert not server.seen  # nothing was sent over the untrusted channel
    assert [
        r
        for r in caplog.records
        if r.name == "explorer.sources"
        and r.levelno == logging.WARNING
        and "certificate verify failed" in r.message
        and "'t1'" in r.message  # the record names the backend
    ]


def test_mutual_tls(pki):
    with serve(tls=pki.server_context(require_client=True)) as server:
        refused = "TLS failed: the server ended the handshake|connection reset"
        with pytest.raises(SourceError, match=refused):
            client_for(server.url, ca_bundle=str(pki.ca), retries=0).get_json("api/echo")
        client = client_for(
            server.url,
            ca_bundle=str(pki.ca),
            client_cert=str(pki.client_cert),
            client_key=str(pki.client_key),
        )
        assert client.get_json("api/echo") == {"ok": True}
    assert len(server.seen) == 1


def test_circuit_opens_then_half_opens_and_closes():
    healthy = {"now": False}

    def answer(seen):
        return Reply(body=b"{}") if healthy["now"] else Reply(status=503)

    clock = Clock()
    with ReplayServer(answer) as server:
        config = BackendConfig(
            name="j",
            kind="jaeger",
            url=server.url,
            retries=0,
            breaker_failures=3,
            breaker_cooldown=30,
        )
        client = BackendClient(config, clock=clock, sleep=lambda s: None)
        for _ in range(3):
            with pytest.raises(SourceError, match="HTTP 503"):
                client.get_json("api/services")
        with pytest.raises(SourceError) as caught:
            client.get_json("api/services")
        assert "circuit open until" in str(caught.value) and "after 3 failures" in str(caught.value)
        assert len(server.seen) == 3  # the open circuit sent nothing

        clock.now += 31  # cool-down over: one trial call, which fails and re-opens
        with pytest.raises(SourceError, match="HTTP 503"):
            client.get_json("api/services")
        with pytest.raises(SourceError, match="circuit open"):
            client.get_json("api/services")
        assert len(server.seen) == 4

        clock.now += 31
        healthy["now"] = True
        assert client.get_json("api/services") == {}
        assert client.breaker.state == "closed"
        assert client.get_json("api/services") == {}
        assert len(server.seen) == 6


def test_not_found_does_not_open_the_circuit():
    with serve(Reply(status=404, body=b"")) as server:
        config = BackendConfig(name="j", kind="jaeger", url=server.url, breaker_failures=1)
        client = BackendClient(config)
        for _ in range(3):
            with pytest.raises(HttpStatusError):
                client.get_json("api/traces/1")
    assert len(server.seen) == 3
