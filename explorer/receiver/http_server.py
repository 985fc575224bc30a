"""OTLP/HTTP: `POST /v1/traces`, protobuf or JSON, optionally gzip, per the OTLP spec; and
`GET /health`.

The answer has the request's content type: an ExportTraceServiceResponse for 200 (with
partial success when spans were rejected), a google.rpc.Status for errors; 429 and 503 carry
Retry-After.

The server is waitress: one thread reads every connection without blocking (headers and bodies
arrive there, however slowly, holding no thread), and complete requests go to a pool of
threads. It bounds the connections open at once (EXPLORER_RECEIVER_CONNECTIONS), closes a
silent one (EXPLORER_RECEIVER_IDLE_TIMEOUT), and refuses a body over the limit from its
Content-Length before reading it (413). What waitress lacks is added here: a deadline for a
request's headers (EXPLORER_RECEIVER_HEADER_TIMEOUT), TLS (in memory, on the same thread, so
a slow handshake holds no thread either), SO_REUSEPORT, and a graceful stop.
"""

from __future__ import annotations

import errno
import http
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from explorer.receiver.auth import Refused, check_address
from explorer.receiver.config import ReceiverConfig
from explorer.receiver.service import Outcome, Receiver, Request

log = logging.getLogger("explorer.receiver")

PATH = "/v1/traces"
HEALTH_PATH = "/health"
# In-flight requests get this long to be answered when the receiver stops (SIGTERM).
GRACE_S = 10.0
# gRPC status codes for google.rpc.Status bodies, by HTTP status.
_RPC_CODES = {
    400: 3,
    401: 16,
    403: 7,
    404: 5,
    405: 12,
    411: 3,
    413: 8,
    415: 3,
    429: 8,
    431: 3,
    500: 13,
    503: 14,
}
_RESOURCE_EXHAUSTED = 8
# Socket errors that mean the peer has gone.
_GONE = {errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.ECONNABORTED, errno.EPIPE}


def _wants_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def _response(outcome: Outcome, json_answer: bool) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of an answer, in the request's encoding."""
    if outcome.status == 200:
        message = trace_service_pb2.ExportTraceServiceResponse()
        if outcome.rejected or outcome.message:
            message.partial_success.rejected_spans = outcome.rejected
            message.partial_success.error_message = outcome.message
    else:
        code = _RESOURCE_EXHAUSTED if outcome.storage_full else _RPC_CODES.get(outcome.status, 2)
        message = status_pb2.Status(code=code, message=outcome.message)
    if json_answer:
        body = json_format.MessageToJson(message, indent=None).encode()
        content_type = "application/json"
    else:
        body = message.SerializeToString()
        content_type = "application/x-protobuf"
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if outcome.retry_after_s:
        headers.append(("Retry-After", str(outcome.retry_after_s)))
    return f"{outcome.status} {http.HTTPStatus(outcome.status).phrase}", headers, body


def application(receiver: Receiver) -> Callable:
    """The WSGI application of the OTLP/HTTP port."""
    config = receiver.config

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            status, headers, body = _health(receiver, config, environ)
            start_response(status, headers)
            return [body]
        json_answer = _wants_json(environ.get("CONTENT_TYPE"))
        length = environ.get("CONTENT_LENGTH", "").strip()
        if method != "POST":
            outcome = Outcome(405, f"use POST {PATH}")
        elif path != PATH:
            outcome = Outcome(404, f"no such endpoint {path[:100]!r}; use {PATH}")
        elif not length.isdigit():
            outcome = Outcome(411, "Content-Length is required")
        else:
            size = int(length)
            outcome = receiver.export(
                Request(
                    read_body=lambda: environ["wsgi.input"].read(size),
                    size=size,
                    content_type=environ.get("CONTENT_TYPE"),
                    content_encoding=environ.get("HTTP_CONTENT_ENCODING"),
                    authorization=environ.get("HTTP_AUTHORIZATION"),
                    peer=environ.get("REMOTE_ADDR", ""),
                    forwarded_for=environ.get("HTTP_X_FORWARDED_FOR", ""),
                )
            )
        status, headers, body = _response(outcome, json_answer)
        start_response(status, headers)
        return [body]

    return app


def _health(
    receiver: Receiver, config: ReceiverConfig, environ: dict
) -> tuple[str, list[tuple[str, str]], bytes]:
    """The receiver's health as JSON, for addresses that may export (no token: it tells
    nothing about the data): 200 when ok, 503 when not, 403 for other addresses."""
    try:
        check_address(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR", ""), config
        )
    except Refused as exc:
        status, health = exc.status, {"ok": False, "error": str(exc)}
    else:
        health = receiver.health()
        status = 200 if health["ok"] else 503
    body = json.dumps(health).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return f"{status} {http.HTTPStatus(status).phrase}", headers, body


class _RefusalTask(ErrorTask):
    """waitress's own refusals (a body over the limit by its Content-Length, a malformed
    request, headers over their limit) in the shape OTLP senders read."""

    def execute(self) -> None:
        error, request = self.request.error, self.request
        message = f"{error.reason}: {error.body}"
        if error.code == 413:
            size = "chunked" if request.chunked else f"of {request.content_length} bytes"
            message = (
                f"request body {size} is over the limit of {self.channel.max_bytes} "
                "(EXPLORER_RECEIVER_MAX_BYTES)"
            )
        log.warning("receiver: refused a request from %s: %s", self.channel.addr[0], message)
        json_answer = _wants_json(request.headers.get("CONTENT_TYPE"))
        status, headers, body = _response(Outcome(error.code, message), json_answer)
        self.status = status
        self.response_headers.extend(headers)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    """One connection: waitress's, with a deadline for headers and, when configured, TLS.

    TLS runs in memory (ssl.MemoryBIO) on the connection thread: bytes read from the socket
    are decrypted before waitress parses them, and what waitress sends is encrypted first.
    Ciphertext the socket cannot take yet waits in `tls_pending` and goes out when it is
    writable. The TLS lock is taken after waitress's output lock, never before."""

    error_task_class = _RefusalTask
    # Set on the subclass made per server (_channel_class).
    max_bytes: int
    header_timeout_s: float
    tls_context: ssl.SSLContext | None

    def __init__(self, server, sock, addr, adj, map=None) -> None:  # noqa: A002 - waitress's
        # When the request now arriving began (or the connection, until its TLS handshake).
        self.started: float | None = None
        self.tls: ssl.SSLObject | None = None
        if self.tls_context is not None:
            self.tls_in, self.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = self.tls_context.wrap_bio(self.tls_in, self.tls_out, server_side=True)
            self.tls_lock = threading.Lock()
            self.tls_pending = b""
            self.handshaken = False
            self.started = time.monotonic()
        super().__init__(server, sock, addr, adj, map)

    def received(self, data: bytes) -> bool:
        before = self.request
        result = super().received(data)
        if self.request is None:
            self.started = None
        elif self.request is not before:
            self.started = time.monotonic()
        return result

    def readable(self) -> bool:
        started = self.started
        if started is not None and time.monotonic() - started > self.header_timeout_s:
            request = self.request
            if request is None or not request.headers_finished:
                log.info(
                    "receiver: closed a connection from %s: its headers did not arrive "
                    "within %s s (EXPLORER_RECEIVER_HEADER_TIMEOUT)",
                    self.addr[0],
                    self.header_timeout_s,
                )
                self.started = None
                self.will_close = True
                return False
        return super().readable()

    # --- TLS -----------------------------------------------------------------------------

    def handle_read(self) -> None:
        if self.tls is None:
            super().handle_read()
            return
        try:
            raw = self.socket.recv(self.adj.recv_bytes)
        except BlockingIOError:
            return
        except OSError:
            self.handle_close()
            return
        if not raw:
            self.handle_close()
            return
        self.last_activity = time.time()
        with self.tls_lock:
            self.tls_in.write(raw)
            plain, failure = self._decrypt()
            _, gone = self._send_pending()
        if failure or gone:
            if failure:
                log.info("receiver: TLS with %s failed: %s", self.addr[0], failure)
            self.handle_close()
            return
        if plain:
            self.received(plain)

    def _decrypt(self) -> tuple[bytes, str]:
        """What the TLS bytes received so far decrypt to, and why TLS failed ('' if not)."""
        assert self.tls is not None
        chunks = []
        try:
            if not self.handshaken:
                self.tls.do_handshake()
                self.handshaken = True
                self.started = None
            while chunk := self.tls.read(self.adj.recv_bytes):
                chunks.append(chunk)
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
        except ssl.SSLError as exc:
            return b"", str(exc)
        return b"".join(chunks), ""

    def _send_pending(self) -> tuple[bool, bool]:
        """Send the ciphertext waiting; (all sent, the peer has gone). Under tls_lock."""
        self.tls_pending += self.tls_out.read()
        while self.tls_pending:
            try:
                sent = self.socket.send(self.tls_pending)
            except BlockingIOError:
                return False, False
            except OSError as exc:
                self.tls_pending = b""
                if exc.errno in _GONE:
                    return False, True
                raise
            self.tls_pending = self.tls_pending[sent:]
        return True, False

    def send(self, data: bytes, do_close: bool = True) -> int:
        if self.tls is None:
            return super().send(data, do_close)
        with self.tls_lock:
            sent, gone = self._send_pending()
            taken = 0
            if sent and not gone:
                # Take no more plaintext while ciphertext waits: the socket is full.
                taken = self.tls.write(data)
                _, gone = self._send_pending()
        if gone and do_close:
            self.handle_close()
        return taken

    def writable(self) -> bool:
        return bool(super().writable() or (self.tls is not None and self.tls_pending))

    def handle_write(self) -> None:
        if self.tls is not None and self.tls_pending:
            with self.tls_lock:
                sent, gone = self._send_pending()
            if gone:
                self.handle_close()
                return
            if not sent and not self.will_close:
                return  # the socket is still full
        # A response the socket could not take at once may be cut short by a close that
        # follows it (refusals close the connection): only when the peer does not read.
        super().handle_write()


class ReceiverHTTPServer:
    """The waitress server of one receiver process: serve_forever() in a thread, shutdown()
    from another."""

    def __init__(self, receiver: Receiver, sock: socket.socket) -> None:
        config = receiver.config
        context = _tls_context(config) if config.tls else None
        self.server_address = sock.getsockname()
        self._server = create_server(
            application(receiver),
            sockets=[sock],
            # Turns beyond EXPLORER_RECEIVER_IN_FLIGHT wait for one (then 429), so that the
            # back-pressure answer comes from the receiver, not from a queue in waitress.
            threads=config.in_flight * 2,
            # The map also holds the listening socket and waitress's wake-up pipe.
            connection_limit=config.connections + 2,
            channel_timeout=config.idle_timeout_s,
            cleanup_interval=max(min(config.idle_timeout_s / 2, 30.0), 0.1),
            # waitress refuses a length equal to its limit; ours admits it.
            max_request_body_size=config.max_bytes + 1,
            max_request_header_size=64 << 10,
            # Bodies of a few hundred KB: read in large pieces, few turns of the loop each.
            recv_bytes=256 << 10,
            # The answer (a few bytes) is sent by the request's thread as soon as it is
            # written, not on the connection thread's next turn.
            send_bytes=1,
            # One request at a time per connection: the next waits in the socket.
            channel_request_lookahead=0,
            # poll(2), not select(2): no ceiling at file descriptor 1024.
            asyncore_use_poll=True,
            # Idle loop turns (and so the header deadline's checks) at least this often.
            asyncore_loop_timeout=min(1.0, config.header_timeout_s / 2),
            ident="AlexandriteReceiver",
            clear_untrusted_proxy_headers=False,
        )
        self._server.channel_class = type(
            "Channel",
            (_Channel,),
            {
                "max_bytes": config.max_bytes,
                "header_timeout_s": config.header_timeout_s,
                "tls_context": context,
            },
        )
        self._map = self._server._map

    def serve_forever(self) -> None:
        self._server.run()

    def shutdown(self, grace_s: float = GRACE_S) -> None:
        """Stop taking connections, let the requests being served be answered (up to grace_s
        seconds), then close every connection; serve_forever() returns."""
        self._in_loop(lambda: wasyncore.dispatcher.close(self._server))
        deadline = time.monotonic() + grace_s
        while self._in_loop(self._close_idle) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._in_loop(lambda: wasyncore.close_all(self._map))
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def _close_idle(self) -> int:
        """Close the connections with no request under way; how many remain."""
        for channel in list(self._server.active_channels.values()):
            if (
                not channel.requests
                and channel.request is None
                and not channel.total_outbufs_len
                and not getattr(channel, "tls_pending", b"")
            ):
                channel.handle_close()
        return len(self._server.active_channels)

    def _in_loop(self, call: Callable[[], object]) -> object:
        """call() run on the connections' thread (which owns them), and its result."""
        done = threading.Event()
        result: list[object] = [None]

        def run() -> None:
            try:
                result[0] = call()
            finally:
                done.set()

        self._server.trigger.pull_trigger(run)
        done.wait(timeout=5)
        return result[0]


def _tls_context(config: ReceiverConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


def http_server(
    receiver: Receiver, host: str, port: int, reuse_port: bool = False
) -> ReceiverHTTPServer:
    """Listening on host:port (port 0: a free one); `reuse_port`: shared with the other
    processes of `receive --processes`, the kernel spreading connections among them."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        return ReceiverHTTPServer(receiver, sock)
    except BaseException:
        sock.close()
        raise
