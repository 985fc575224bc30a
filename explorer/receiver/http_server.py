"""OTLP/HTTP: `POST /v1/traces`, protobuf or JSON, optionally gzip, per the OTLP spec.

The answer has the request's content type: an ExportTraceServiceResponse for 200 (with
partial success when spans were rejected), a google.rpc.Status for errors; 429 and 503 carry
Retry-After. A body over the limit is refused from its Content-Length, before it is read.
"""

from __future__ import annotations

import logging
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from explorer.receiver.service import Outcome, Receiver, Request

log = logging.getLogger("explorer.receiver")

PATH = "/v1/traces"
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
    500: 13,
    503: 14,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: exporters send many requests on one connection
    server_version = "AlexandriteReceiver"
    sys_version = ""
    receiver: Receiver  # set on the subclass made per server

    def setup(self) -> None:
        # The TLS handshake here, in the connection's thread, not in the accepting one.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(30)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        json_answer = (self.headers.get("Content-Type") or "").split(";")[
            0
        ].strip().lower() == "application/json"
        if self.path.split("?")[0] != PATH:
            self._answer(
                Outcome(404, f"no such endpoint {self.path[:100]!r}; use {PATH}"),
                json_answer,
                close=True,
            )
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self._answer(Outcome(411, "Content-Length is required"), json_answer, close=True)
            return
        size = int(length)
        read: list[int] = []

        def read_body() -> bytes:
            read.append(size)
            return self.rfile.read(size)

        outcome = self.receiver.export(
            Request(
                read_body=read_body,
                size=size,
                content_type=self.headers.get("Content-Type"),
                content_encoding=self.headers.get("Content-Encoding"),
                authorization=self.headers.get("Authorization"),
                peer=self.client_address[0],
                forwarded_for=self.headers.get("X-Forwarded-For", ""),
            )
        )
        # A body left unread (refused before reading: too large, wrong token, busy) would be
        # taken for the next request: close the connection after the answer instead.
        self._answer(outcome, json_answer, close=not read and size > 0)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(Outcome(405, f"use POST {PATH}"), False)

    do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def _answer(self, outcome: Outcome, json_answer: bool, close: bool = False) -> None:
        if outcome.status == 200:
            message = trace_service_pb2.ExportTraceServiceResponse()
            if outcome.rejected or outcome.message:
                message.partial_success.rejected_spans = outcome.rejected
                message.partial_success.error_message = outcome.message
        else:
            message = status_pb2.Status(
                code=_RPC_CODES.get(outcome.status, 2), message=outcome.message
            )
        if json_answer:
            body = json_format.MessageToJson(message, indent=None).encode()
            content_type = "application/json"
        else:
            body = message.SerializeToString()
            content_type = "application/x-protobuf"
        self.send_response(outcome.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if outcome.retry_after_s:
            self.send_header("Retry-After", str(outcome.retry_after_s))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        log.debug("receiver http: %s - %s", self.client_address[0], format % args)


class ReceiverHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, handler, reuse_port: bool) -> None:
        self.allow_reuse_port = reuse_port  # read when binding
        super().__init__(address, handler)

    def handle_error(self, request, client_address) -> None:
        # A failed TLS handshake or a dropped connection: one line, not a traceback.
        log.warning("receiver: connection from %s failed", client_address[0], exc_info=False)


def http_server(
    receiver: Receiver, host: str, port: int, reuse_port: bool = False
) -> ReceiverHTTPServer:
    """Listening on host:port (port 0: a free one); `reuse_port`: shared with the other
    processes of `receive --processes`, the kernel spreading connections among them."""
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    server = ReceiverHTTPServer((host, port), handler, reuse_port)
    config = receiver.config
    if config.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(config.tls_cert, config.tls_key)
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    return server
