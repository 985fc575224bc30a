"""Issue 26 finding 1: a gzip file of several members (`cat a.gz b.gz`) is read whole, within
the limits, wherever gzip is inflated: `inflate`, the streaming reader, the parsers, `ingest`,
uploads and backend answers (the receiver: tests/test_receiver_gzip_members.py).

A first member inflating past one piece (1 MiB) used to make every one of them loop for ever,
so each call runs under a deadline: a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import signal
import zlib

import orjson
import pytest
from django.core.management import call_command

from explorer.sources.base import SourceError
from explorer.store.models import StoredTrace
from explorer.traces.decompress import PIECE, DecompressionLimit, Limits, inflate, open_bounded
from explorer.traces.parsers import iter_file, parse_bytes
from tests.backends_support import ReplayServer, Reply
from tests.test_security_backends import client_for
from tests.test_web_uploads import otlp, upload

SECONDS = 20  # far above what any case here takes; only a loop reaches it


class TookTooLong(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float = SECONDS):
    """Interrupt the code inside after `seconds` (SIGALRM: the main thread, where pytest runs
    tests), so a loop that never ends fails the test."""

    def interrupt(signum, frame):
        raise TookTooLong(f"did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def lines(first: int, count: int) -> bytes:
    """`count` OTLP JSON lines, one trace each (about 900 bytes a line)."""
    return b"".join(otlp(f"{n:032x}") + b"\n" for n in range(first, first + count))


BIG = lines(1, 2000)  # about 1.5 MB: past one piece
SMALL = lines(5001, 10)
assert len(BIG) > PIECE
BOMB = gzip.compress(b"\0" * (60 << 20))  # 60 MiB of zeros in about 60 KB


def gz(data: bytes) -> bytes:
    return gzip.compress(data, 6)


class Trickle(io.RawIOBase):
    """A stream that hands out `size` bytes a read, as a socket or a pipe may."""

    def __init__(self, data: bytes, size: int):
        self._data = memoryview(data)
        self._size = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        piece = self._data[: min(self._size, n if n >= 0 else self._size)].tobytes()
        self._data = self._data[len(piece) :]
        return piece


def stream(data: bytes, size: int | None = None) -> bytes:
    raw = io.BytesIO(data) if size is None else Trickle(data, size)
    return open_bounded(raw).read()


WHOLE = [
    pytest.param([BIG, SMALL], id="big-then-small"),
    pytest.param([SMALL, BIG], id="small-then-big"),
    pytest.param([BIG, BIG, SMALL], id="three-members"),
    pytest.param([SMALL, SMALL], id="small-members"),
    pytest.param([b"", BIG, b"", SMALL, b""], id="empty-members"),
    pytest.param([b"", b""], id="only-empty-members"),
]


@pytest.mark.parametrize("members", WHOLE)
@pytest.mark.parametrize("read", ["inflate", "stream", "trickle"])
def test_every_member_is_read_whole(members, read):
    data = b"".join(gz(m) for m in members)
    with deadline():
        if read == "inflate":
            out = inflate(data)
        else:
            out = stream(data, None if read == "stream" else 1000)
    assert out == b"".join(members)


@pytest.mark.parametrize("size", [1, 2, 3, 4096])
def test_a_member_boundary_anywhere_in_a_read(size):
    """The next member's magic bytes split between two reads."""
    data = gz(b"a" * 100) + gz(b"b" * 100) + gz(b"")
    with deadline():
        assert stream(data, size) == b"a" * 100 + b"b" * 100


@pytest.mark.parametrize("garbage", [b"\0" * 512, b"x", b"\x1f", b"not gzip at all\n"])
@pytest.mark.parametrize("read", [inflate, stream])
def test_trailing_garbage_after_the_last_member_is_ignored(garbage, read):
    with deadline():
        assert read(gz(BIG) + gz(SMALL) + garbage) == BIG + SMALL


@pytest.mark.parametrize("read", [inflate, stream])
def test_a_truncated_or_corrupt_second_member_is_an_error(read):
    with deadline():
        with pytest.raises(zlib.error, match="truncated"):
            read(gz(BIG) + gz(SMALL)[:-12])
        with pytest.raises(zlib.error):
            read(gz(BIG) + b"\x1f\x8b" + b"\xff" * 40)  # looks like a member, is not one


@pytest.mark.parametrize("read", [inflate, stream])
def test_a_bomb_in_a_later_member_stops_at_the_limits(read):
    with deadline():
        with pytest.raises(DecompressionLimit, match="200 times its compressed size"):
            read(gz(BIG) + gz(SMALL) + BOMB)
        with pytest.raises(DecompressionLimit, match="the limit of 2000000 bytes"):
            inflate(gz(BIG) + gz(BIG), Limits(max_bytes=2_000_000))


def test_empty_input_inflates_to_nothing():
    assert inflate(b"") == b"" and stream(b"") == b""


def test_parse_bytes_reads_every_member():
    with deadline():
        result = parse_bytes(gz(BIG) + gz(SMALL))
    assert not result.errors and len(result.traces) == 2010


def test_iter_file_reads_every_member(tmp_path):
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gz(BIG) + gz(SMALL))
    with deadline():
        results = list(iter_file(path))
    assert not [e for r in results for e in r.errors]
    assert sum(len(r.traces) for r in results) == 2010


def test_iter_file_reports_a_broken_second_member_and_keeps_the_first(tmp_path):
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(gz(BIG) + gz(SMALL)[:-12])
    with deadline():
        results = list(iter_file(path))
    assert sum(len(r.traces) for r in results) >= 2000
    assert "truncated" in results[-1].errors[0].message


@pytest.mark.django_db
def test_ingest_reads_every_member(tmp_path):
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gz(BIG) + gz(SMALL))
    with deadline():
        call_command("ingest", str(path))
    assert StoredTrace.objects.count() == 2010


def test_an_upload_of_two_members_is_read_whole(client, login_as, tmp_path, settings):
    settings.EXPLORER_UPLOAD_DIR = str(tmp_path / "uploads")
    login_as("support")
    with deadline():
        response = upload(client, gz(BIG) + gz(SMALL), "two.jsonl.gz")
    assert response.status_code == 302
    listing = client.get(response["Location"]).content.decode()
    assert f"{5010:032x}" in listing and f"{1:032x}" in listing


def test_an_upload_with_a_bomb_in_a_later_member_stops_there(client, login_as, tmp_path, settings):
    """The traces before the bomb are shown, with the limit it hit."""
    settings.EXPLORER_UPLOAD_DIR = str(tmp_path / "uploads")
    login_as("support")
    with deadline():
        response = upload(client, gz(SMALL) + BOMB, "bomb.jsonl.gz")
    listing = client.get(response["Location"]).content.decode()
    assert "times its compressed size" in listing and f"{5010:032x}" in listing


def test_a_backend_answer_of_two_members_is_read_whole():
    document = orjson.dumps({"pad": BIG.decode(), "end": 1})
    cut = len(document) * 3 // 4
    body = gz(document[:cut]) + gz(document[cut:])
    reply = Reply(body=body, headers={"Content-Encoding": "gzip"})
    with ReplayServer(lambda seen: reply) as server, deadline():
        answer = client_for(server.url, timeout_total=15.0).get_json("api/echo")
    assert answer == {"pad": BIG.decode(), "end": 1}


def test_a_backend_answer_with_a_bomb_in_a_later_member_is_refused():
    body = gz(b'{"pad": "' + b"x" * (2 * PIECE)) + BOMB
    reply = Reply(body=body, headers={"Content-Encoding": "gzip"})
    with (
        ReplayServer(lambda seen: reply) as server,
        deadline(),
        pytest.raises(SourceError, match="times its compressed size"),
    ):
        client_for(server.url, timeout_total=15.0).get_json("api/echo")
