"""What both protocols share: checking the sender, taking turns, and waiting for the commit.

`Receiver.export` takes one request as the network side saw it and gives an `Outcome`: an
HTTP status (200, or why not) plus, for 200, the spans rejected and why (OTLP partial
success). The gRPC side maps the status to its codes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError

from accounts import audit
from accounts.models import AuditAction
from explorer.receiver.auth import Refused, check_address, sender_for
from explorer.receiver.config import ReceiverConfig
from explorer.receiver.decoding import format_of
from explorer.receiver.tally import Tally
from explorer.receiver.writers import WriterPool

log = logging.getLogger("explorer.receiver")

# A refused address or token is audited at most once per address in this many seconds.
AUDIT_REFUSAL_EVERY_S = 60.0
# A request waits this long for its turn (EXPLORER_RECEIVER_IN_FLIGHT) before being told to
# retry: bodies wait in the senders' sockets, not in memory.
ADMISSION_WAIT_S = 2.0


@dataclass(slots=True)
class Request:
    read_body: Callable[[], bytes]  # called once sender and size are accepted, in turn
    size: int  # the body's size as announced
    content_type: str | None
    content_encoding: str | None
    authorization: str | None
    peer: str  # the connection's address
    forwarded_for: str = ""


@dataclass(slots=True)
class Outcome:
    status: int  # HTTP status: 200, or 400/401/403/413/415/429/503
    message: str = ""
    rejected: int = 0  # for 200: spans rejected (partial success)
    retry_after_s: int = 0  # for 429/503
    storage_full: bool = False  # for 503: the database's disk is full (gRPC: RESOURCE_EXHAUSTED)
    accepted: int = 0  # for 200: spans stored


class Receiver:
    def __init__(self, config: ReceiverConfig, sqlite: bool) -> None:
        """`sqlite`: the database is SQLite, whose writers take turns."""
        self.config = config
        self.pool = WriterPool(config.writers, sqlite)
        # Set whenever spans were committed: the live worker starts its cycle then.
        self.committed = threading.Event()
        # The live worker's health in this process (receive sets it): health() is not ok
        # when it says {"ok": False, ...}.
        self.worker_health: Callable[[], dict] | None = None
        self.senders_seen: set[str] = set()
        self.refusals_audited: dict[str, float] = {}
        self.lock = threading.Lock()
        self.turns = threading.BoundedSemaphore(config.in_flight)
        self.in_flight = 0  # requests being served now (waiting for a turn included)
        self.tally = Tally()  # what /metrics says of the receiver (explorer/receiver/tally.py)

    def start(self) -> None:
        self.pool.start()
        self.tally.start()

    def stop(self) -> None:
        self.pool.stop()
        self.tally.stop()

    def export(self, request: Request, fmt: str | None = None) -> Outcome:
        """Serve one export; `fmt` given (gRPC) skips the content-type check. A failure that
        is not the request's fault is logged and answered 500, never left unanswered."""
        with self.lock:
            self.in_flight += 1
        try:
            outcome = self._export(request, fmt)
        except Exception:  # noqa: BLE001 - a bug must not kill the connection's thread silently
            log.exception("receiver: a request from %s failed", request.peer)
            outcome = Outcome(500, "internal error in the receiver (logged)")
        finally:
            with self.lock:
                self.in_flight -= 1
        self.tally.count(outcome.status, outcome.accepted, outcome.rejected)
        return outcome

    def health(self) -> dict:
        """What `GET /health` answers: ok (all writer processes alive and, when `receive`
        runs the live worker, the worker ok), the writers, the requests in flight and the
        worker's own health."""
        writers = self.pool.health()
        health: dict = {"ok": writers["ok"], "writers": writers, "in_flight": self.in_flight}
        if self.worker_health is not None:
            try:
                worker = self.worker_health()
            except Exception as exc:  # noqa: BLE001 - a failing probe is an unhealthy worker
                worker = {"ok": False, "error": f"health check failed: {exc}"}
            health["worker"] = worker
            health["ok"] = health["ok"] and worker.get("ok") is True
        return health

    def _export(self, request: Request, fmt: str | None) -> Outcome:
        address = request.peer
        sender = "?"
        try:
            address = check_address(request.peer, request.forwarded_for, self.config)
            try:
                sender = sender_for(request.authorization, self.config.tokens)
            except Refused as exc:
                self._audit_refusal(address, str(exc))
                raise
            if request.size > self.config.max_bytes:
                raise Refused(
                    413,
                    f"request body of {request.size} bytes is over the limit "
                    f"of {self.config.max_bytes} (EXPLORER_RECEIVER_MAX_BYTES)",
                )
            fmt = fmt or format_of(request.content_type)
            if not self.turns.acquire(timeout=ADMISSION_WAIT_S):
                return Outcome(
                    429,
                    "the receiver is busy with other requests; retry later",
                    retry_after_s=self.config.retry_after_s,
                )
            try:
                body = request.read_body()
                self._audit_sender(sender, address)
                stored = self.pool.store(body, request.content_encoding, fmt, sender)
            finally:
                self.turns.release()
        except Refused as exc:
            log.warning(
                "receiver: refused a request from %s (sender %s): %s %s",
                address,
                sender,
                exc.status,
                exc,
            )
            retry = self.config.retry_after_s if exc.status in (429, 503) else 0
            return Outcome(exc.status, str(exc), retry_after_s=retry, storage_full=exc.storage_full)
        if stored.spans:
            self.committed.set()
        if stored.rejected:
            log.warning(
                "receiver: %d spans from %s (%s) rejected: %s",
                stored.rejected,
                sender,
                address,
                stored.message,
            )
        return Outcome(200, stored.message, stored.rejected, accepted=stored.spans)

    def _audit_sender(self, sender: str, address: str) -> None:
        """Audit a sender's first export since the receiver started."""
        with self.lock:
            if sender in self.senders_seen:
                return
            self.senders_seen.add(sender)
        log.info("receiver: sender %s sends from %s", sender, address)
        self._audit(AuditAction.LOGIN, sender, address, "OTLP sender accepted")

    def _audit_refusal(self, address: str, why: str) -> None:
        now = time.monotonic()
        with self.lock:
            if (
                now - self.refusals_audited.get(address, -AUDIT_REFUSAL_EVERY_S)
                < AUDIT_REFUSAL_EVERY_S
            ):
                return
            self.refusals_audited[address] = now
        self._audit(AuditAction.LOGIN_FAILED, "", address, f"OTLP sender refused: {why}")

    def _audit(self, action: str, sender: str, address: str, detail: str) -> None:
        try:
            audit.record(None, action, "receiver", sender, detail, username=sender, address=address)
        except DatabaseError:
            log.exception("receiver: the audit entry %r of %s was not written", detail, address)
