"""The OTLP/HTTP server of `manage.py receive` under connections that send nothing, or half a
request, or trickle: bounded, closed after their timeouts, while exports go on being answered;
keep-alive, 413 before the body, a graceful stop, and GET /health."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import time
from pathlib import Path

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from explorer.receiver.config import ReceiverConfig
from explorer.receiver.http_server import application
from explorer.receiver.service import Receiver
from tests.receiver_support import TOKEN, migrate, receiver_env, start_receiver, stored_spans
from tests.test_receiver import HEADERS, request_body, trace_id

pytestmark = pytest.mark.slow
MAX_BYTES = 1_000_000


def _start(tmp_path: Path, **settings: str):
    env = receiver_env(tmp_path, EXPLORER_RECEIVER_MAX_BYTES=str(MAX_BYTES), **settings)
    migrate(env)
    return start_receiver(env, args=("--no-worker",))


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def _sockets(pid: int) -> int:
    """The process's open sockets."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(fd).startswith("socket:")
    return count


def _connect(port: int, count: int, first_bytes: bytes = b"") -> list[socket.socket]:
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if first_bytes:
            sock.sendall(first_bytes)
        held.append(sock)
    return held


def _wait_closed_by_server(held: list[socket.socket], within_s: float) -> list[socket.socket]:
    """Wait until the server closed each connection (EOF or reset); those still open."""
    selector = selectors.DefaultSelector()
    for sock in held:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + within_s
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            try:
                data = key.fileobj.recv(4096)
            except ConnectionResetError:
                data = b""
            if not data:
                selector.unregister(key.fileobj)
    still_open = [key.fileobj for key in selector.get_map().values()]
    selector.close()
    return still_open


def _timed_export(receiver, trace_byte: int) -> float:
    started = time.monotonic()
    answer = requests.post(receiver.url, data=request_body(trace_byte), headers=HEADERS, timeout=30)
    took = time.monotonic() - started
    assert answer.status_code == 200, answer.content
    return took


def test_idle_and_half_header_connections_hold_no_thread_and_are_closed(tmp_path):
    receiver = _start(
        tmp_path,
        EXPLORER_RECEIVER_CONNECTIONS="1000",
        EXPLORER_RECEIVER_HEADER_TIMEOUT="2",
        EXPLORER_RECEIVER_IDLE_TIMEOUT="3",
    )
    held: list[socket.socket] = []
    try:
        threads_before = _threads(receiver.process.pid)
        idle = _connect(receiver.http_port, 400)
        half = _connect(receiver.http_port, 400, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        trickling = _connect(receiver.http_port, 5, b"POST /v1/traces HTTP/1.1\r\n")
        held = idle + half + trickling
        time.sleep(0.5)
        # 805 connections, and no thread for any of them.
        assert _threads(receiver.process.pid) <= threads_before + 2
        assert _timed_export(receiver, 110) < 1.0
        # The trickling ones stay active (a byte every 0.4 s, never idle for the idle timeout):
        # the header deadline closes them.
        started = time.monotonic()
        for _ in range(10):
            for sock in trickling:
                with contextlib.suppress(OSError):  # closed already
                    sock.sendall(b"X")
            time.sleep(0.4)
        assert not _wait_closed_by_server(trickling, within_s=2)
        assert time.monotonic() - started < 6
        assert not _wait_closed_by_server(half, within_s=4)
        assert not _wait_closed_by_server(idle, within_s=5)
        assert _timed_export(receiver, 111) < 1.0
        assert stored_spans(receiver.data_dir)[trace_id(111)] == 2
        log = receiver.log_text()
        assert "headers did not arrive within 2.0 s (EXPLORER_RECEIVER_HEADER_TIMEOUT)" in log
    finally:
        for sock in held:
            sock.close()
        receiver.stop()


def test_connections_past_the_limit_wait_unaccepted(tmp_path):
    receiver = _start(
        tmp_path, EXPLORER_RECEIVER_CONNECTIONS="20", EXPLORER_RECEIVER_IDLE_TIMEOUT="2"
    )
    held: list[socket.socket] = []
    try:
        sockets_before = _sockets(receiver.process.pid)
        held = _connect(receiver.http_port, 100)
        time.sleep(1)
        assert _sockets(receiver.process.pid) - sockets_before <= 20
        # As the idle ones are closed, the waiting ones are taken, 20 at a time, and closed.
        assert not _wait_closed_by_server(held, within_s=30)
        assert _timed_export(receiver, 112) < 1.0
    finally:
        for sock in held:
            sock.close()
        receiver.stop()


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    running = _start(tmp_path_factory.mktemp("receiver-server"))
    yield running
    running.stop()


def test_sdk_exporter_keeps_its_connection_alive(receiver):
    session = requests.Session()
    exporter = HttpExporter(
        endpoint=receiver.url, headers={"authorization": f"Bearer {TOKEN}"}, session=session
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "crm-api"}))
    tracer = provider.get_tracer("test")
    for n in range(4):
        with tracer.start_as_current_span(f"approve {n}") as span:
            pass
        assert exporter.export([span]) is SpanExportResult.SUCCESS
    pools = session.get_adapter(receiver.url).poolmanager.pools
    keys = pools.keys()  # urllib3's container refuses iteration over itself
    made = [pools[key].num_connections for key in keys]
    assert made == [1]  # four exports, one connection
    exporter.shutdown()


def _raw_answer(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_oversize_is_413_before_the_body_is_sent(receiver):
    for content_type, read in (
        ("application/x-protobuf", lambda body: status_pb2.Status.FromString(body).message),
        ("application/json", lambda body: json.loads(body)["message"]),
    ):
        head = (
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {MAX_BYTES + 1}\r\n\r\n"
        )
        # No byte of the body is ever sent: the answer cannot have waited for it.
        answer = _raw_answer(receiver.http_port, head.encode())
        head_part, _, body = answer.partition(b"\r\n\r\n")
        assert head_part.startswith(b"HTTP/1.1 413"), answer[:200]
        assert f"Content-Type: {content_type}".encode() in head_part
        message = read(body)
        assert f"of {MAX_BYTES + 1} bytes is over the limit of {MAX_BYTES}" in message
        assert "EXPLORER_RECEIVER_MAX_BYTES" in message


def test_chunked_export_is_taken_up_to_the_limit(receiver):
    answer = requests.post(
        receiver.url, data=iter([request_body(113)]), headers=HEADERS, timeout=30
    )
    assert answer.status_code == 200
    assert stored_spans(receiver.data_dir)[trace_id(113)] == 2
    answer = requests.post(
        receiver.url, data=iter([b"x" * MAX_BYTES, b"y" * 10]), headers=HEADERS, timeout=30
    )
    assert answer.status_code == 413
    assert "chunked is over the limit" in status_pb2.Status.FromString(answer.content).message


def test_health_needs_no_token_and_counts_writers(receiver):
    answer = requests.get(receiver.url.replace("/v1/traces", "/health"), timeout=10)
    assert answer.status_code == 200
    health = answer.json()
    assert health["ok"] is True and health["in_flight"] == 0
    assert health["writers"]["alive"] == health["writers"]["configured"] >= 1


def test_health_is_503_when_a_writer_is_gone(tmp_path):
    receiver = _start(tmp_path, EXPLORER_RECEIVER_WRITERS="1")
    try:
        children = Path(f"/proc/{receiver.process.pid}/task/{receiver.process.pid}/children")
        writer = int(children.read_text().split()[-1])
        os.kill(writer, signal.SIGKILL)
        url = receiver.url.replace("/v1/traces", "/health")
        deadline = time.monotonic() + 10
        while (answer := requests.get(url, timeout=10)).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert answer.status_code == 503
        assert answer.json()["writers"] == {"ok": False, "configured": 1, "alive": 0}
    finally:
        receiver.stop()


def _config() -> ReceiverConfig:
    from accounts.network import parse_networks

    return ReceiverConfig(
        mode="full",
        tokens={},
        max_bytes=MAX_BYTES,
        max_attribute_bytes=1000,
        in_flight=2,
        writers=0,
        retry_after_s=1,
        connections=10,
        header_timeout_s=1.0,
        idle_timeout_s=1.0,
        tls_cert="",
        tls_key="",
        allowed=tuple(parse_networks(["127.0.0.0/8"], "allowed")),
        trusted_proxies=(),
    )


def _get_health(receiver: Receiver, address: str) -> tuple[str, dict]:
    answered = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/health", "REMOTE_ADDR": address}
    body = b"".join(application(receiver)(environ, lambda status, _: answered.append(status)))
    return answered[0], json.loads(body)


def test_health_follows_the_live_worker_and_refuses_other_addresses():
    receiver = Receiver(_config(), sqlite=True)
    status, health = _get_health(receiver, "127.0.0.1")
    assert status == "200 OK" and health["ok"] is True and "worker" not in health
    receiver.worker_health = lambda: {"ok": False, "stalled_s": 90}
    status, health = _get_health(receiver, "127.0.0.1")
    assert status == "503 Service Unavailable"
    assert health["ok"] is False and health["worker"] == {"ok": False, "stalled_s": 90}
    receiver.worker_health = lambda: {"ok": True}
    assert _get_health(receiver, "127.0.0.1")[0] == "200 OK"

    def broken() -> dict:
        raise RuntimeError("worker gone")

    receiver.worker_health = broken
    status, health = _get_health(receiver, "127.0.0.1")
    assert status == "503 Service Unavailable" and "worker gone" in health["worker"]["error"]
    status, health = _get_health(receiver, "10.1.2.3")
    assert status == "403 Forbidden" and "outside EXPLORER_ALLOWED_NETWORKS" in health["error"]


def test_sigterm_answers_the_request_under_way_then_stops(tmp_path):
    receiver = _start(tmp_path)
    body = request_body(114)
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", receiver.http_port), timeout=20) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.3)
        receiver.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # Stopping: no new connection is taken.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", receiver.http_port), timeout=2).close()
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert receiver.process.wait(20) == 0
    assert "receiver stopped" in receiver.log_text()
    assert stored_spans(receiver.data_dir)[trace_id(114)] == 2
