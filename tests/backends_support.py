"""Real HTTP(S) servers on 127.0.0.1 for the backend tests, and a test certificate authority.

A ReplayServer answers every GET with what its `answer(request)` function returns, records the
requests it saw, and can misbehave on purpose (sleep, truncate, stream forever, close early).
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Seen:
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering
    declared_length: int | None = None  # Content-Length to claim (a lie makes a truncated body)
    gzip: bool = False  # compress when the client accepts it


class ReplayServer:
    def __init__(self, answer: Callable[[Seen], Reply], tls: ssl.SSLContext | None = None):
        self.answer = answer
        self.seen: list[Seen] = []
        self.bytes_sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection; no length = until close

            def do_GET(self):  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                seen = Seen(parts.path, parse_qs(parts.query), dict(self.headers.items()))
                server.seen.append(seen)
                reply = server.answer(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                use_gzip = reply.gzip and "gzip" in self.headers.get("Accept-Encoding", "")
                if use_gzip and isinstance(body, bytes):
                    body = gzip.compress(body)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    if use_gzip:
                        self.send_header("Content-Encoding", "gzip")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if reply.declared_length is not None:
                        self.send_header("Content-Length", str(reply.declared_length))
                    elif isinstance(body, bytes):
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for chunk in [body] if isinstance(body, bytes) else body:
                        self.wfile.write(chunk)
                        server.bytes_sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client hung up on purpose (size limit, timeout)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False  # a handler still sleeping must not hold up the teardown

            def handle_error(self, request, client_address):
                pass  # failed TLS handshakes are part of the tests

        self.httpd = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a test certificate authority ----------------------------------------------------------
@dataclass
class Pki:
    ca: Path  # CA certificate, the bundle clients trust
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path  # self-signed, for 127.0.0.1, not in the bundle
    rogue_key: Path

    def server_context(self, *, rogue: bool = False, require_client: bool = False):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if rogue:
            context.load_cert_chain(self.rogue_cert, self.rogue_key)
        else:
            context.load_cert_chain(self.server_cert, self.server_key)
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context


def make_pki(folder: Path) -> Pki:
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write(stem: str, cert: x509.Certificate, key) -> tuple[Path, Path]:
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    def issue(subject, key, issuer, issuer_key, *, ca=False, usage=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            if issuer_key is not key:
                builder = builder.add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                    critical=False,
                )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue(name("Explorer test CA"), ca_key, name("Explorer test CA"), ca_key, ca=True)
    ca_path, _ = write("ca", ca_cert, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = issue(
        name("127.0.0.1"),
        server_key,
        ca_cert.subject,
        ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue(
        name("explorer"), client_key, ca_cert.subject, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = issue(
        name("127.0.0.1"),
        rogue_key,
        name("127.0.0.1"),
        rogue_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    return Pki(
        ca_path,
        *write("server", server, server_key),
        *write("client", client, client_key),
        *write("rogue", rogue, rogue_key),
    )
