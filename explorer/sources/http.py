"""The hardened HTTP client every remote backend uses.

One requests.Session per backend, with: TLS verification (custom CA bundle, client certificate
for mTLS), bearer or basic authentication, connect/read/total timeouts, bounded retries with
exponential backoff for idempotent GETs (connection errors, truncated bodies, 429/502/503/504,
Retry-After honoured up to a cap), a circuit breaker, a response size limit enforced while
streaming, gzip, content-type checks, and redirects followed by hand only inside the configured
base URL. Every failure is a SourceError whose message names the backend, the URL path and what
happened.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urljoin, urlsplit

import orjson
import requests
import urllib3

from explorer.sources.base import SourceError
from explorer.sources.config import BackendConfig
from explorer.traces.decompress import DecompressionLimit, Limits, inflate

log = logging.getLogger("explorer.sources")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
JSON_TYPES = ("application/json", "text/plain")  # Go servers that don't set a type send text/plain
PROTOBUF_TYPES = ("application/protobuf", "application/x-protobuf")
_CHUNK = 64 * 1024


class HttpStatusError(SourceError):
    """The backend answered with an HTTP error status that retrying does not fix (404, 400...)."""

    def __init__(self, message: str, status: int, body: bytes = b""):
        super().__init__(message)
        self.status = status
        self.body = body  # the start of the answer: some APIs say there what the status means


@dataclass(slots=True)
class Response:
    status: int
    content_type: str  # lower case, without parameters
    body: bytes  # decompressed
    path: str


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, message: str, delay: float | None = None):
        super().__init__(message)
        self.delay = delay  # what Retry-After asked for, if anything


class _DeadlinePassed(Exception):
    """The attempt's timeout_total ran out while the body was arriving."""


def _socket_of(stream):
    """The socket under a urllib3 response (http.client's buffered socket file), or None."""
    file = getattr(getattr(stream, "_fp", None), "fp", None)
    return getattr(getattr(file, "raw", None), "_sock", None)


class CircuitBreaker:
    """Opens after `threshold` consecutive failed calls; after `cooldown` seconds one trial call
    goes through (half-open): success closes the circuit, failure opens it again."""

    def __init__(self, threshold: int, cooldown: float, clock=time.monotonic):
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if self.clock() - self.opened_at < self.cooldown else "half-open"

    def refusal(self) -> str | None:
        """Why a call may not go out now, or None when it may."""
        with self._lock:
            if self.state != "open":
                return None
            remaining = self.cooldown - (self.clock() - self.opened_at)
            until = datetime.fromtimestamp(time.time() + remaining).strftime("%H:%M:%S")
            return f"circuit open until {until} after {self.failures} failures"

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def failed(self) -> bool:
        """Count a failure; True when this one opened (or re-opened) the circuit."""
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = self.clock()
                return True
            return False


class BackendClient:
    def __init__(self, config: BackendConfig, *, sleep=time.sleep, clock=time.monotonic):
        self.config = config
        self.base = config.url if config.url.endswith("/") else config.url + "/"
        self.sleep = sleep
        self.clock = clock
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown, clock)
        self.session = _make_session(config)

    def close(self) -> None:
        self.session.close()

    # --- public calls ---------------------------------------------------------------------
    def get_json(self, path: str, params: dict | None = None):
        response = self.get(path, params, accept="application/json", allowed_types=JSON_TYPES)
        try:
            return orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise self._error(path, f"the response is not valid JSON ({exc})") from None

    def get(
        self,
        path: str,
        params: dict | None = None,
        *,
        accept: str = "application/json",
        allowed_types: tuple[str, ...] = JSON_TYPES,
    ) -> Response:
        """GET base+path; `path` is relative to the base URL and already URL-quoted."""
        return self._request("GET", path, params, accept, allowed_types)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """POST a body to base+path (alert webhooks) under the same rules as a GET: TLS
        verified, redirects only inside the base URL, retried with backoff on connection
        errors and 429/502/503/504 (the receiver must be idempotent), any answer type."""
        return self._request("POST", path, None, "*/*", None, body, headers)

    def _request(
        self, method, path, params, accept, allowed_types, body=None, headers=None
    ) -> Response:
        refusal = self.breaker.refusal()
        if refusal:
            raise self._error(path, refusal, method)
        url = urljoin(self.base, path.lstrip("/"))
        if not self._inside_base(url):
            raise self._refuse(path, f"refused: {url} is outside {self.base}", method)
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            try:
                response = self._attempt(
                    url, path, params, accept, allowed_types, method, body, headers
                )
            except _Retryable as exc:
                if attempt + 1 < attempts:
                    delay = self._delay(attempt, exc.delay)
                    log.info(
                        "%s: %s %s: %s; retry %d in %.2f s",
                        self.config.name,
                        method,
                        path,
                        exc,
                        attempt + 1,
                        delay,
                    )
                    self.sleep(delay)
                    continue
                tries = f" ({attempts} attempts)" if attempts > 1 else ""
                self._failed(path, method)
                raise self._error(path, f"{exc}{tries}", method) from None
            except HttpStatusError:
                self.breaker.succeeded()  # the backend answered: it is up
                raise
            except SourceError:
                self._failed(path, method)
                raise
            self.breaker.succeeded()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    # --- one attempt ----------------------------------------------------------------------
    def _attempt(
        self, url, path, params, accept, allowed_types, method="GET", body=None, headers=None
    ) -> Response:
        cfg = self.config
        deadline = self.clock() + cfg.timeout_total
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                raw = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers={"Accept": accept, **(headers or {})},
                    timeout=(cfg.timeout_connect, cfg.timeout_read),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.SSLError as exc:
                raise self._refuse(path, f"TLS failed: {_tls_reason(exc)}", method) from None
            except requests.exceptions.ConnectTimeout:
                raise _Retryable(f"connection timed out after {cfg.timeout_connect} s") from None
            except requests.exceptions.ReadTimeout:
                raise _Retryable(f"timed out after {cfg.timeout_read} s") from None
            except requests.exceptions.ConnectionError as exc:
                raise _Retryable(f"cannot connect: {_connection_reason(exc)}") from None
            except requests.exceptions.RequestException as exc:
                raise self._error(path, f"request failed: {exc}", method) from None
            with raw:
                if raw.status_code in REDIRECT_STATUSES:
                    target = urljoin(raw.url, raw.headers.get("Location", ""))
                    if not self._inside_base(target):
                        raise self._refuse(
                            path, f"refused: redirect to {target} is outside {self.base}", method
                        )
                    url, params = target, None  # the Location already carries its query
                    continue
                return self._read(raw, path, accept, allowed_types, deadline, method)
        raise self._error(path, f"more than {MAX_REDIRECTS} redirects", method)

    def _read(
        self, raw: requests.Response, path, accept, allowed_types, deadline, method="GET"
    ) -> Response:
        """The answer, checked; `allowed_types` None takes any content type."""
        cfg = self.config
        status = raw.status_code
        if status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status} {raw.reason}", _retry_after(raw.headers))
        declared = raw.headers.get("Content-Length", "")
        limit = _size(cfg.max_bytes)
        if declared.isdigit() and int(declared) > cfg.max_bytes:  # compressed or not: too big
            raise self._error(
                path, f"response over {limit} limit ({_size(int(declared))} declared)", method
            )
        chunks: list[bytes] = []
        received = 0
        try:
            for chunk in self._pieces(raw, deadline):
                received += len(chunk)
                if received > cfg.max_bytes:
                    raise self._error(path, f"response over {limit} limit", method)
                chunks.append(chunk)
        except _DeadlinePassed:
            raise _Retryable(f"timed out after {cfg.timeout_total} s (whole response)") from None
        except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError):
            raise _Retryable(f"response truncated after {received} bytes") from None
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise _Retryable(f"timed out after {cfg.timeout_read} s") from None
            raise _Retryable(f"connection lost after {received} bytes") from None
        except (requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError):
            raise self._error(path, "the response's gzip encoding is corrupt", method) from None
        body = b"".join(chunks)
        encoding = raw.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            try:
                body = inflate(body, Limits(cfg.max_bytes, cfg.max_ratio))
            except DecompressionLimit as exc:
                raise self._error(path, str(exc), method) from None
            except zlib.error:
                raise self._error(path, "the response's gzip encoding is corrupt", method) from None
        if status >= 500:
            raise self._error(path, f"HTTP {status} {raw.reason}: {_excerpt(body)}", method)
        if status >= 300:
            raise HttpStatusError(
                self._message(path, f"HTTP {status} {raw.reason}: {_excerpt(body)}", method),
                status,
                body[:4096],
            )
        content_type = raw.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if (
            allowed_types is not None
            and content_type not in allowed_types
            and not content_type.endswith("+json")
        ):
            raise self._error(
                path, f"unexpected content type {content_type or '(none)'} (asked for {accept})"
            )
        return Response(status, content_type, body, path)

    def _pieces(self, raw: requests.Response, deadline: float):
        """The body as sent (still compressed), as it arrives: each read returns what one
        receive brought (a server trickling a byte a second cannot make a read wait for a
        whole chunk), waits at most until the deadline, which is checked after every piece."""
        stream = raw.raw
        sock = _socket_of(stream)
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise _DeadlinePassed
            if sock is not None:
                try:
                    sock.settimeout(max(0.001, min(self.config.timeout_read, remaining)))
                except OSError:  # closed once the whole response was read
                    sock = None
            try:
                piece = stream.read1(_CHUNK, decode_content=False)  # inflated below, bounded
            except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
                if self.clock() >= deadline:
                    raise _DeadlinePassed from None
                raise requests.exceptions.ConnectionError("read timed out") from None
            if not piece:
                return
            yield piece

    # --- helpers --------------------------------------------------------------------------
    def _inside_base(self, url: str) -> bool:
        """Same scheme, host and port, and a path under the base path once percent-decoded
        (a redirect to `/base/%2e%2e/secret` is `/secret` to the server): no dot segments,
        no backslashes."""
        base, target = urlsplit(self.base), urlsplit(url)
        decoded = unquote(target.path)
        return (
            target.scheme == base.scheme
            and target.hostname == base.hostname
            and (target.port or _default_port(target.scheme))
            == (base.port or _default_port(base.scheme))
            and target.path.startswith(base.path)
            and decoded.startswith(unquote(base.path))
            and not target.username
            and not any(segment in (".", "..") for segment in decoded.split("/"))
            and "\\" not in decoded
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = self.config.backoff * (2**attempt)
        if retry_after is not None:
            return min(max(retry_after, backoff), self.config.retry_after_max)
        return backoff

    def _failed(self, path: str, method: str = "GET") -> None:
        if self.breaker.failed() and self.breaker.failures == self.config.breaker_failures:
            log.warning(
                "%s: circuit opened after %d consecutive failures (last: %s %s)",
                self.config.name,
                self.breaker.failures,
                method,
                path,
            )

    def _message(self, path: str, what: str, method: str = "GET") -> str:
        shown = urlsplit(urljoin(self.base, path.lstrip("/"))).path
        return f"{self.config.kind} backend {self.config.name!r}: {method} {shown}: {what}"

    def _error(self, path: str, what: str, method: str = "GET") -> SourceError:
        return SourceError(self._message(path, what, method))

    def _refuse(self, path: str, what: str, method: str = "GET") -> SourceError:
        message = self._message(path, what, method)
        log.warning("%s", message)
        return SourceError(message)


def _make_session(config: BackendConfig) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # fixed endpoints: no proxies, netrc or CA bundles from the env
    session.verify = config.ca_bundle or True
    if config.client_cert:
        session.cert = (
            (config.client_cert, config.client_key) if config.client_key else config.client_cert
        )
    if config.token:
        session.headers["Authorization"] = f"Bearer {config.token}"
    elif config.username:
        session.auth = (config.username, config.password or "")
    session.headers["Accept-Encoding"] = "gzip"
    session.headers["User-Agent"] = "alexandrite-trace-explorer"
    return session


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        detail = text.split("certificate verify failed:", 1)[-1].split("(")[0].strip(" )'\"")
        return f"certificate verify failed ({detail})" if detail else "certificate verify failed"
    if "EOF occurred" in text or "TLSV13_ALERT_CERTIFICATE_REQUIRED" in text:
        return "the server ended the handshake (does it require a client certificate?)"
    if "doesn't match" in text or "hostname mismatch" in text.lower():
        return "certificate does not match the host name"
    return text.split("(Caused by ")[-1].rstrip(")") if "(Caused by " in text else text


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    for marker, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host name"),
        ("No address associated", "unknown host name"),
        ("Temporary failure in name resolution", "host name lookup failed"),
        ("RemoteDisconnected", "the server closed the connection without answering"),
        ("Connection reset", "connection reset by the server"),
    ):
        if marker in text:
            return reason
    return text


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace").strip().replace("\n", " ")
    return text + ("..." if len(body) > limit else "") if text else "(empty body)"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return f"{n} bytes"


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
