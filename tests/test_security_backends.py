"""Issue 17 findings 8 and 9 against real HTTP servers on 127.0.0.1: timeout_total holds
while the body trickles in; a percent-encoded dot segment does not leave the base path."""

import time

import pytest

from explorer.sources.base import SourceError
from explorer.sources.config import BackendConfig, BackendConfigError, parse_backends
from explorer.sources.http import BackendClient
from tests.backends_support import ReplayServer, Reply


def client_for(url: str, **options) -> BackendClient:
    config = {
        "retries": 0,
        "timeout_connect": 2.0,
        "timeout_read": 2.0,
        "timeout_total": 1.5,
        "backoff": 0.0,
        **options,
    }
    return BackendClient(BackendConfig(name="t1", kind="tempo", url=url, **config))


def trickle(count: int, pause: float):
    yield b'{"pad": "'
    for _ in range(count):
        time.sleep(pause)
        yield b"x"
    yield b'"}'


def test_a_trickling_body_stops_at_timeout_total():
    # A byte every 0.1 s: each read is well inside timeout_read, the whole far past 1.5 s.
    reply = Reply(body=trickle(200, 0.1), declared_length=None)
    with ReplayServer(lambda seen: reply) as server:
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"timed out after 1.5 s \(whole response\)"):
            client_for(server.url).get_json("api/echo")
        elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"held for {elapsed:.1f} s with a total of 1.5 s"


def test_a_quick_body_still_arrives_whole():
    body = b'{"pad": "' + b"y" * 3_000_000 + b'"}'
    with ReplayServer(lambda seen: Reply(body=body)) as server:
        assert len(client_for(server.url, timeout_total=10.0).get_json("api/echo")["pad"]) == (
            3_000_000
        )


@pytest.mark.parametrize(
    "location",
    [
        "/base/%2e%2e/secret",
        "/base/%2E%2E/secret",
        "/base/.%2e/secret",
        "/base/%2e%2e/%2e%2e/x",
        "/base/%2e%2e%2fsecret",
        "/base/..%5csecret",
    ],
)
def test_an_encoded_dot_segment_redirect_is_refused(location):
    def answer(seen):
        if seen.path == "/base/api/echo":
            return Reply(status=302, headers={"Location": location})
        return Reply(body=b'{"secret": true}')

    with ReplayServer(answer) as server, pytest.raises(SourceError, match="refused: redirect to"):
        client_for(server.url + "base/", token="s3cr3t").get_json("api/echo")
    assert [s.path for s in server.seen] == ["/base/api/echo"]  # the token went nowhere else


def test_plain_http_is_refused_when_not_allowed():
    raw = [{"name": "tempo", "kind": "tempo", "url": "http://tempo.internal/"}]
    assert parse_backends(raw)[0].url == "http://tempo.internal/"
    with pytest.raises(BackendConfigError, match="must be https:// in production"):
        parse_backends(raw, allow_http=False)
    https = [{"name": "tempo", "kind": "tempo", "url": "https://tempo.internal/"}]
    assert parse_backends(https, allow_http=False)[0].url == "https://tempo.internal/"
