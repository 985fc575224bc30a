"""Issue 17 finding 2: a gzip bomb stops at a cap and a ratio wherever gzip is read
(`ingest`, the parsers, backend answers; uploads: tests/test_security_uploads.py)."""

import gzip

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from explorer.sources.base import SourceError
from explorer.traces.decompress import Limits
from explorer.traces.parsers import iter_file, parse_bytes
from tests.backends_support import ReplayServer, Reply
from tests.test_security_backends import client_for


def bomb(inflated: int) -> bytes:
    """JSON that inflates to `inflated` bytes from a few kilobytes of gzip."""
    return gzip.compress(b'{"resourceSpans": [], "pad": "' + b" " * inflated + b'"}', 9)


def test_parse_bytes_refuses_past_the_ratio_and_the_cap():
    data = bomb(50_000_000)  # about 50 KB of gzip
    result = parse_bytes(data, limits=Limits(max_bytes=1 << 30, max_ratio=100))
    assert not result.traces and "100 times its compressed size" in result.errors[0].message
    result = parse_bytes(data, limits=Limits(max_bytes=1_000_000, max_ratio=10_000))
    assert "the limit of 1000000 bytes" in result.errors[0].message


def test_iter_file_inflates_a_stream_within_the_limits(tmp_path):
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(bomb(50_000_000))
    results = list(iter_file(path, limits=Limits(max_bytes=1_000_000)))
    assert len(results) == 1 and "the limit of 1000000 bytes" in results[0].errors[0].message


@pytest.mark.django_db
def test_ingest_rejects_a_bomb_with_the_limit_it_hit(tmp_path, settings, capsys):
    settings.EXPLORER_INFLATE_MAX_BYTES = 2_000_000
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(bomb(50_000_000))
    with pytest.raises(CommandError):
        call_command("ingest", str(path))
    assert "the limit of 2000000 bytes" in capsys.readouterr().err


def test_a_backend_answer_inflates_within_max_bytes_and_max_ratio():
    body = bomb(20_000_000)
    reply = Reply(body=body, headers={"Content-Encoding": "gzip"})
    with ReplayServer(lambda seen: reply) as server:
        with pytest.raises(SourceError, match="50 times its compressed size"):
            client_for(server.url, timeout_total=20.0, max_ratio=50).get_json("api/echo")
        with pytest.raises(SourceError, match="the limit of 5000000 bytes"):
            client_for(
                server.url, timeout_total=20.0, max_bytes=5_000_000, max_ratio=100_000
            ).get_json("api/echo")
