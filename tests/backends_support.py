"""Real HTTP(S) servers on 127.0.0.1 for the backend tests, and a test certificate authority.

A ReplayServer answers every GET with what its `answer(request)` function returns, records the
requests it saw, and can misbehave on purpose (sleep, truncate, stream forever, close early).
"""

from __future__ import annotations

import base64
import datetime
import gzip
import ipaddress
import json
import re
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
from google.protobuf import json_format

from explorer.traces.model import Span, SpanKind, StatusCode, Trace
from tests.trace_support import otlp_json, otlp_proto


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


# --- the backends' wire formats, from the normalised model ---------------------------------
# Small, honest serialisers: each writes what that backend really sends, so whatever the format
# cannot carry is lost here as it would be in production (Zipkin: links, resource attributes,
# attribute types; classic Jaeger and Zipkin: nanoseconds).


def tempo_json(trace: Trace) -> dict:
    """Tempo's JSON trace by id (v2): the proto3 JSON mapping (base64 ids, enum names)."""
    return {"trace": json_format.MessageToDict(otlp_proto([trace]))}


def tempo_v2_protobuf(trace: Trace) -> bytes:
    """Tempo's v2 TraceByIDResponse: field 1 is the Trace, whose field 1 is the repeated
    ResourceSpans, i.e. the bytes of a TracesData."""
    body = otlp_proto([trace]).SerializeToString()
    return b"\x0a" + _varint(len(body)) + body


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _jaeger_tag(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode()}
    if isinstance(value, list | tuple | dict):
        return {"key": key, "type": "string", "value": json.dumps(value)}
    return {"key": key, "type": "string", "value": value}


def jaeger_classic(trace: Trace) -> dict:
    """One trace of Jaeger's /api/traces, as Jaeger converts OTLP: kind, status and scope as
    tags, events as logs, the parent as a CHILD_OF reference, links as FOLLOWS_FROM ones,
    microseconds."""
    processes: dict[str, str] = {}
    process_of: dict[str, dict] = {}
    spans = []
    for span in trace.spans:
        key = repr(span.resource)
        if key not in processes:
            processes[key] = f"p{len(processes) + 1}"
            process_of[processes[key]] = {
                "serviceName": span.resource.service_name,
                "tags": [
                    _jaeger_tag(k, v)
                    for k, v in span.resource.attributes.items()
                    if k != "service.name"
                ],
            }
        tags = [_jaeger_tag(k, v) for k, v in span.attributes.items()]
        if span.kind != SpanKind.UNSPECIFIED:
            tags.append(_jaeger_tag("span.kind", span.kind.name.lower()))
        if span.status_code != StatusCode.UNSET:
            tags.append(_jaeger_tag("otel.status_code", span.status_code.name))
        if span.status_code == StatusCode.ERROR:
            tags.append(_jaeger_tag("error", True))
        if span.status_message:
            tags.append(_jaeger_tag("otel.status_description", span.status_message))
        if span.scope.name:
            tags.append(_jaeger_tag("otel.scope.name", span.scope.name))
        if span.scope.version:
            tags.append(_jaeger_tag("otel.scope.version", span.scope.version))
        references = []
        if span.parent_id:
            references.append(
                {"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_id}
            )
        references += [
            {"refType": "FOLLOWS_FROM", "traceID": link.trace_id, "spanID": link.span_id}
            for link in span.links
        ]
        spans.append(
            {
                "traceID": span.trace_id,
                "spanID": span.span_id,
                "operationName": span.name,
                "references": references,
                "startTime": span.start_ns // 1000,
                "duration": span.duration_ns // 1000,
                "tags": tags,
                "logs": [
                    {
                        "timestamp": event.time_ns // 1000,
                        "fields": [
                            _jaeger_tag("event", event.name),
                            *(_jaeger_tag(k, v) for k, v in event.attributes.items()),
                        ],
                    }
                    for event in span.events
                ],
                "processID": processes[key],
                "warnings": None,
            }
        )
    return {"traceID": trace.trace_id, "spans": spans, "processes": process_of, "warnings": None}


def _zipkin_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    return str(value)


def zipkin_v2(trace: Trace) -> list[dict]:
    """A trace as the OpenTelemetry Collector's Zipkin exporter sends it: tags as strings,
    status and scope as otel.* tags, events as annotations `name|{attributes}|dropped`, no
    kind for INTERNAL spans, microseconds; links and resource attributes other than the
    service name have no place in Zipkin and are lost."""
    spans = []
    for span in trace.spans:
        tags = {k: _zipkin_text(v) for k, v in span.attributes.items()}
        if span.status_code != StatusCode.UNSET:
            tags["otel.status_code"] = span.status_code.name
        if span.status_code == StatusCode.ERROR:
            tags["error"] = span.status_message or "true"
        if span.scope.name:
            tags["otel.scope.name"] = span.scope.name
        if span.scope.version:
            tags["otel.scope.version"] = span.scope.version
        annotations = [
            {
                "timestamp": event.time_ns // 1000,
                "value": f"{event.name}|{json.dumps(event.attributes, separators=(',', ':'))}|0"
                if event.attributes
                else event.name,
            }
            for event in span.events
        ]
        out = {
            "traceId": span.trace_id,
            "id": span.span_id,
            "name": span.name,
            "timestamp": span.start_ns // 1000,
            "duration": span.duration_ns // 1000,
            "localEndpoint": {"serviceName": span.service},
            "tags": tags,
        }
        if span.parent_id:
            out["parentId"] = span.parent_id
        if span.kind in (SpanKind.CLIENT, SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER):
            out["kind"] = span.kind.name
        if annotations:
            out["annotations"] = annotations
        spans.append(out)
    return spans


# --- replaying backends that answer what the sources ask, from a set of traces --------------
# Each follows its backend's documented search semantics (what must match on one span, which
# time the window applies to, newest first, the limit), so the parity test compares the
# explorer's behaviour, not the server's generosity.

PAGE_NOT_FOUND = Reply(status=404, body=b"404 page not found", content_type="text/plain")


def json_reply(data, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(data).encode())


def _arg(seen: Seen, key: str) -> str | None:
    return seen.query.get(key, [None])[0]


def _newest_first(traces: Iterable[Trace]) -> list[Trace]:
    return sorted(traces, key=lambda t: (-t.start_ns, t.trace_id))


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _rfc3339_ns(text: str) -> int:
    stamp, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    return int(moment.timestamp()) * 10**9 + int((fraction or "0").ljust(9, "0")[:9])


def _go_duration_ns(text: str | None) -> int | None:
    if text is None:
        return None
    for unit, factor in (("ns", 1), ("us", 10**3), ("µs", 10**3), ("ms", 10**6), ("s", 10**9)):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * factor
    raise ValueError(f"not a duration: {text!r}")


@dataclass(frozen=True)
class _JaegerSearch:
    """What one Jaeger search asks, whichever API asked it."""

    service: str | None
    operation: str | None
    tags: dict
    start_ns: int
    end_ns: int
    min_ns: int | None
    max_ns: int | None
    limit: int


def _jaeger_tags(span: Span) -> dict[str, str]:
    """The tags a Jaeger search sees on a span: span, process and log fields, and error."""
    tags = {k: _text(v) for k, v in span.resource.attributes.items()}
    tags.update((k, _text(v)) for e in span.events for k, v in e.attributes.items())
    tags.update((k, _text(v)) for k, v in span.attributes.items())
    if span.is_error:
        tags["error"] = "true"
    return tags


class _JaegerQuery:
    """A Jaeger query service over a set of traces, answering both of its HTTP APIs."""

    def __init__(self, traces: list[Trace]) -> None:
        self.traces = traces
        self.by_id = {t.trace_id: t for t in traces}
        self.services = sorted({s.service for t in traces for s in t.spans})

    def find(self, search: _JaegerSearch) -> list[Trace]:
        """The traces with one span matching everything asked, newest first."""

        def matches(span: Span) -> bool:
            span_tags = _jaeger_tags(span)
            return (
                span.service == search.service
                and search.operation in (None, span.name)
                and all(span_tags.get(k) == str(v) for k, v in search.tags.items())
                and search.start_ns <= span.start_ns <= search.end_ns
                and (search.min_ns is None or span.duration_ns >= search.min_ns)
                and (search.max_ns is None or span.duration_ns <= search.max_ns)
            )

        found = [t for t in self.traces if any(matches(s) for s in t.spans)]
        return _newest_first(found)[: search.limit]

    def v3_answer(self, seen: Seen) -> Reply:
        """API v3 (Jaeger 2): OTLP traces, errors as {"error": {...}}."""
        if seen.path == "/api/v3/services":
            return json_reply({"services": self.services})
        if seen.path == "/api/v3/operations":
            service = _arg(seen, "service")
            pairs = sorted(
                {
                    (s.name, s.kind.name.lower())
                    for t in self.traces
                    for s in t.spans
                    if s.service == service
                }
            )
            return json_reply({"operations": [{"name": n, "spanKind": k} for n, k in pairs]})
        if seen.path.startswith("/api/v3/traces/"):
            trace = self.by_id.get(seen.path.rsplit("/", 1)[1])
            if trace is None:
                return json_reply({"error": {"httpCode": 404, "message": "trace not found"}}, 404)
            return json_reply({"result": otlp_json([trace])})
        if seen.path == "/api/v3/traces":
            return self.v3_search(seen)
        return PAGE_NOT_FOUND

    def v3_search(self, seen: Seen) -> Reply:
        service = _arg(seen, "query.service_name")
        if not service:
            return json_reply({"error": {"httpCode": 400, "message": "service required"}}, 400)
        found = self.find(
            _JaegerSearch(
                service,
                _arg(seen, "query.operation_name"),
                json.loads(_arg(seen, "query.attributes") or "{}"),
                _rfc3339_ns(_arg(seen, "query.start_time_min")),
                _rfc3339_ns(_arg(seen, "query.start_time_max")),
                _go_duration_ns(_arg(seen, "query.duration_min")),
                _go_duration_ns(_arg(seen, "query.duration_max")),
                int(_arg(seen, "query.num_traces") or _arg(seen, "query.search_depth") or 20),
            )
        )
        if not found:  # the gateway answers an empty search with its 404 error object
            return json_reply({"error": {"httpCode": 404, "message": "No traces found"}}, 404)
        return json_reply({"result": otlp_json(found)})

    def classic_answer(self, seen: Seen) -> Reply:
        """The classic /api (Jaeger 1.x and 2): Jaeger JSON in {"data": ..., "errors": ...}."""
        if seen.path == "/api/services":
            services = self.services
            return json_reply({"data": services, "total": len(services), "errors": None})
        if seen.path.startswith("/api/services/") and seen.path.endswith("/operations"):
            service = seen.path.split("/")[3]
            names = sorted({s.name for t in self.traces for s in t.spans if s.service == service})
            return json_reply({"data": names, "total": len(names), "errors": None})
        if seen.path.startswith("/api/traces/"):
            trace = self.by_id.get(seen.path.rsplit("/", 1)[1])
            if trace is None:
                errors = [{"code": 404, "msg": "trace not found"}]
                return json_reply({"data": None, "errors": errors}, 404)
            return json_reply({"data": [jaeger_classic(trace)], "errors": None})
        if seen.path == "/api/traces":
            found = self.find(
                _JaegerSearch(
                    _arg(seen, "service"),
                    _arg(seen, "operation"),
                    json.loads(_arg(seen, "tags") or "{}"),
                    int(_arg(seen, "start")) * 1000,
                    int(_arg(seen, "end")) * 1000,
                    _go_duration_ns(_arg(seen, "minDuration")),
                    _go_duration_ns(_arg(seen, "maxDuration")),
                    int(_arg(seen, "limit") or 20),
                )
            )
            return json_reply({"data": [jaeger_classic(t) for t in found], "errors": None})
        return PAGE_NOT_FOUND


def jaeger_replay(traces: list[Trace], *, v3: bool = True) -> Callable[[Seen], Reply]:
    """Jaeger 2 (API v3 and the classic /api both answer) or, with v3=False, Jaeger 1.x (the
    v3 paths are 404). A search matches a trace when one span has the service, operation,
    tags (span, process or log fields), duration and start time asked for."""
    query = _JaegerQuery(traces)

    def answer(seen: Seen) -> Reply:
        if seen.path.startswith("/api/v3/"):
            return query.v3_answer(seen) if v3 else PAGE_NOT_FOUND
        return query.classic_answer(seen)

    return answer


# TraceQL, as far as explorer.sources.tempo writes it: spansets joined by &&, each a list of
# conditions joined by && or ||, and an optional `| select(...)`.
_TRACEQL_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:\\.|[^"\\])*")|(?P<duration>\d+ns)'
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<op>&&|\|\||>=|<=|[{}()=,|]))"
)


def _traceql_tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        found = _TRACEQL_TOKEN.match(text, position)
        if not found:
            raise ValueError(f"TraceQL: cannot read {text[position:]!r}")
        kind = found.lastgroup
        value = found.group(kind)
        if kind == "string":
            value = json.loads(value)
            if tokens and tokens[-1][0] == "name" and tokens[-1][1].endswith("."):
                tokens[-1] = ("name", tokens[-1][1] + value)  # span."odd key"
                position = found.end()
                continue
        tokens.append((kind, value))
        position = found.end()
    return tokens


def parse_traceql(text: str) -> tuple[list[list[list[tuple]]], list[str]]:
    """[spanset: [alternative: [(attribute, operator, value), ...]]] and the selected names."""
    tokens = _traceql_tokens(text)
    position = 0

    def take(expected: str | None = None) -> tuple[str, str]:
        nonlocal position
        token = tokens[position]
        if expected is not None and token[1] != expected:
            raise ValueError(f"TraceQL: expected {expected!r}, got {token[1]!r} in {text!r}")
        position += 1
        return token

    spansets, selected = [], []
    while True:
        take("{")
        alternatives: list[list[tuple]] = [[]]
        while tokens[position][1] != "}":
            attribute = take()[1]
            operator = take()[1]
            value = take()[1]
            alternatives[-1].append((attribute, operator, value))
            if tokens[position][1] == "||":
                alternatives.append([])
            if tokens[position][1] in ("&&", "||"):
                take()
        take("}")
        spansets.append(alternatives)
        if position == len(tokens):
            return spansets, selected
        if take()[1] == "|":
            take("select")
            take("(")
            while True:
                selected.append(take()[1])
                if take()[1] == ")":
                    return spansets, selected


def _traceql_value(span: Span, trace: Trace, attribute: str):
    if attribute == "name":
        return span.name
    if attribute == "status":
        return span.status_code.name.lower()
    if attribute == "traceDuration":
        return trace.end_ns - trace.start_ns
    scope, _, key = attribute.partition(".")
    return (span.attributes if scope == "span" else span.resource.attributes).get(key)


def _traceql_holds(span: Span, trace: Trace, condition: tuple) -> bool:
    attribute, operator, literal = condition
    value = _traceql_value(span, trace, attribute)
    if attribute == "traceDuration":
        limit = _go_duration_ns(literal)
        return value >= limit if operator == ">=" else value <= limit
    return isinstance(value, str) and value == literal


def tempo_replay(traces: list[Trace], *, protobuf: bool = True) -> Callable[[Seen], Reply]:
    """Grafana Tempo 2: trace by id (v2 and v1 paths) as protobuf (when asked for and
    `protobuf`, else JSON, as behind a proxy that only passes JSON), TraceQL search over
    traces that overlap the window (whole seconds), tag values. A search answers, per trace,
    the spans that matched with only the attributes the query named or selected."""
    by_id = {t.trace_id: t for t in traces}

    def search(seen: Seen) -> Reply:
        spansets, selected = parse_traceql(_arg(seen, "q"))
        start_ns, end_ns = int(_arg(seen, "start")) * 10**9, int(_arg(seen, "end")) * 10**9
        shown_keys = {c[0] for s in spansets for a in s for c in a} | set(selected)
        per_set = int(_arg(seen, "spss") or 3)
        found = []
        for trace in _newest_first(traces):
            if trace.end_ns < start_ns or trace.start_ns > end_ns:
                continue
            matched_by_set = [
                [
                    s
                    for s in trace.spans
                    if any(all(_traceql_holds(s, trace, c) for c in alt) for alt in alternatives)
                ]
                for alternatives in spansets
            ]
            if not all(matched_by_set):
                continue
            matched = list({id(s): s for group in matched_by_set for s in group}.values())
            found.append(tempo_summary(trace, matched[:per_set], len(matched), shown_keys))
            if len(found) == int(_arg(seen, "limit") or 20):
                break
        return json_reply({"traces": found, "metrics": {"completedJobs": 1, "totalJobs": 1}})

    def tag_values(seen: Seen, tag: str) -> Reply:
        if tag == "resource.service.name":
            values = {s.service for t in traces for s in t.spans}
        elif tag == "name":
            spansets, _ = parse_traceql(_arg(seen, "q") or "{ }")
            values = {
                s.name
                for t in traces
                for s in t.spans
                if any(all(_traceql_holds(s, t, c) for c in alt) for alt in spansets[0])
            }
        else:
            return json_reply({"tagValues": []})
        return json_reply({"tagValues": [{"type": "string", "value": v} for v in sorted(values)]})

    def answer(seen: Seen) -> Reply:
        parts = seen.path.strip("/").split("/")
        if parts[:-1] in (["api", "v2", "traces"], ["api", "traces"]):
            trace = next(
                (t for tid, t in by_id.items() if tid.lstrip("0") == parts[-1].lstrip("0")), None
            )
            if trace is None:
                return Reply(status=404, body=b"trace not found", content_type="text/plain")
            v2 = parts[1] == "v2"
            if protobuf and seen.headers.get("Accept") == "application/protobuf":
                body = tempo_v2_protobuf(trace) if v2 else otlp_proto([trace]).SerializeToString()
                return Reply(body=body, content_type="application/protobuf")
            data = tempo_json(trace)
            return json_reply(data if v2 else {"batches": data["trace"]["resourceSpans"]})
        if seen.path == "/api/search":
            return search(seen)
        if parts[:4] == ["api", "v2", "search", "tag"] and parts[-1] == "values":
            return tag_values(seen, "/".join(parts[4:-1]))
        if seen.path == "/api/echo":
            return Reply(body=b"echo", content_type="text/plain; charset=utf-8")
        if seen.path == "/api/status/buildinfo":
            return json_reply({"version": "2.6.1"})
        if seen.path == "/api/search/tags":
            return json_reply({"tagNames": ["customer.id", "customer.type", "order.id"]})
        return PAGE_NOT_FOUND

    return answer


def tempo_summary(trace: Trace, spans: list[Span], matched: int, keys: set[str]) -> dict:
    """One trace of a Tempo search answer (Tempo drops the id's leading zeros)."""
    roots = [s for s in trace.roots() if s.parent_id is None] or trace.roots()
    root = min(roots, key=lambda s: s.start_ns)
    stats: dict[str, dict] = {}
    for span in trace.spans:
        entry = stats.setdefault(span.service, {"spanCount": 0})
        entry["spanCount"] += 1
        if span.is_error:
            entry["errorCount"] = entry.get("errorCount", 0) + 1

    def attributes(span: Span) -> list[dict]:
        shown = {}
        for name in sorted(keys):
            scope, _, key = name.partition(".")
            source = {"span": span.attributes, "resource": span.resource.attributes}.get(scope)
            if source is not None and isinstance(source.get(key), str):
                shown[key] = {"stringValue": source[key]}
        return [{"key": k, "value": v} for k, v in shown.items()]

    return {
        "traceID": trace.trace_id.lstrip("0"),
        "rootServiceName": root.service,
        "rootTraceName": root.name,
        "startTimeUnixNano": str(trace.start_ns),
        "durationMs": (trace.end_ns - trace.start_ns) // 10**6,
        "spanSets": [
            {
                "spans": [
                    {
                        "spanID": s.span_id,
                        "name": s.name,
                        "startTimeUnixNano": str(s.start_ns),
                        "durationNanos": str(s.duration_ns),
                        "attributes": attributes(s),
                    }
                    for s in spans
                ],
                "matched": matched,
            }
        ],
        "serviceStats": stats,
    }


def zipkin_replay(traces: list[Trace]) -> Callable[[Seen], Reply]:
    """Zipkin 2 holding these traces as its collector stores them (span names lower-cased).
    A search matches a trace whose timestamp is in [endTs - lookback, endTs] and where one span
    has the service, span name, annotationQuery terms and duration asked for."""
    stored = {}
    for trace in traces:
        spans = zipkin_v2(trace)
        for span in spans:
            span["name"] = span["name"].lower()
        stored[trace.trace_id] = spans

    def span_matches(span: dict, seen: Seen) -> bool:
        service, name = _arg(seen, "serviceName"), _arg(seen, "spanName")
        if service is not None and span["localEndpoint"]["serviceName"] != service:
            return False
        if name is not None and span["name"] != name.lower():
            return False
        for term in (_arg(seen, "annotationQuery") or "").split(" and "):
            key, equals, value = term.partition("=")
            if not term:
                continue
            if equals and span["tags"].get(key) != value:
                return False
            annotations = {a["value"] for a in span.get("annotations", [])}
            if not equals and key not in span["tags"] and key not in annotations:
                return False
        low, high = _arg(seen, "minDuration"), _arg(seen, "maxDuration")
        return (low is None or span["duration"] >= int(low)) and (
            high is None or span["duration"] <= int(high)
        )

    def answer(seen: Seen) -> Reply:
        if seen.path.startswith("/api/v2/trace/"):
            wanted = seen.path.rsplit("/", 1)[1]
            spans = stored.get(wanted.rjust(32, "0"))
            return json_reply(spans) if spans else PAGE_NOT_FOUND
        if seen.path == "/api/v2/traces":
            end_us = int(_arg(seen, "endTs")) * 1000
            start_us = end_us - int(_arg(seen, "lookback")) * 1000
            found = []
            for trace in _newest_first(traces):
                spans = stored[trace.trace_id]
                timestamp = min(s["timestamp"] for s in spans)
                if start_us <= timestamp <= end_us and any(span_matches(s, seen) for s in spans):
                    found.append(spans)
            return json_reply(found[: int(_arg(seen, "limit") or 10)])
        if seen.path == "/api/v2/services":
            names = {s["localEndpoint"]["serviceName"] for t in stored.values() for s in t}
            return json_reply(sorted(names))
        if seen.path == "/api/v2/spans":
            service = _arg(seen, "serviceName")
            return json_reply(
                sorted(
                    {
                        s["name"]
                        for t in stored.values()
                        for s in t
                        if s["localEndpoint"]["serviceName"] == service
                    }
                )
            )
        if seen.path == "/api/v2/dependencies":
            return json_reply([])
        if seen.path == "/info":
            return json_reply({"zipkin": {"version": "3.4.2"}})
        return PAGE_NOT_FOUND

    return answer
