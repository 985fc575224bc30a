"""Oversize and length-less request bodies against the web app under the servers the docs
name (`runserver` for the demo, gunicorn for production): refused, 413 or 411, never 500,
before the body is sent and without reading it into memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fuzz_support import peak_rss_bytes
from tests.receiver_support import ROOT, migrate

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", params=["runserver", "gunicorn"])
def server(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(request.param)
    env = {**os.environ, "EXPLORER_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    migrate(env)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    command = {
        "runserver": [sys.executable, "manage.py", "runserver", address, "--noreload"],
        # One worker and no preloading: the worker is the only child, its memory is measured.
        "gunicorn": [str(BIN / "gunicorn"), "explorer.wsgi:application", "-w", "1", "-b", address],
    }[request.param]
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, (data_dir / "server.log").read_text()
            time.sleep(0.2)
    yield request.param, port, process
    process.terminate()
    process.wait(20)


def _serving_pid(name: str, process: subprocess.Popen) -> int:
    if name == "runserver":
        return process.pid
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return int(children[0])


def _answer_to(port: int, head: str, sent_body: bytes = b"x" * 1000) -> bytes:
    """The answer to a request of which only `sent_body` of the body is ever sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + sent_body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize(
    "path, length",
    [("/upload/", 10**12), ("/login/", 2 * 10**9), ("/upload/", 10**30)],
)
def test_an_oversize_body_is_413_unread(server, path, length):
    name, port, process = server
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
        "Content-Type: application/octet-stream\r\n"
    )
    started = time.monotonic()
    answer = _answer_to(port, head)
    assert answer.startswith(b"HTTP/1.1 413"), (name, answer[:200])
    assert time.monotonic() - started < 5
    time.sleep(0.5)  # what the server would do after answering, it has done by now
    peak = peak_rss_bytes(_serving_pid(name, process))
    assert peak is not None and peak[1] < 400 * 1024 * 1024
    assert process.poll() is None


def test_a_body_without_length_is_411_unread(server):
    name, port, process = server
    head = (
        "POST /upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/octet-stream\r\n"
    )
    answer = _answer_to(port, head, b"100000\r\n" + b"x" * 1000)
    assert answer.startswith(b"HTTP/1.1 411"), (name, answer[:200])
    assert b"connection: close" in answer.lower()
    assert process.poll() is None
