"""What both protocols share: checking, decoding, queueing and waiting for the commit.

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

from accounts import audit
from accounts.models import AuditAction
from explorer.receiver import index
from explorer.receiver.auth import Refused, check_address, sender_for
from explorer.receiver.config import ReceiverConfig
from explorer.receiver.decoding import Decoded, decode, format_of, inflated
from explorer.receiver.writer import Job, SpanQueue, Store, Writer
from explorer.store.ingest import store_traces
from explorer.traces.model import Trace

log = logging.getLogger("explorer.receiver")

# How long a request waits for its spans to be committed before answering 503 (the sender
# retries; a late commit makes the retry a no-op).
COMMIT_WAIT_S = 30.0
# A refused address or token is audited at most once per address in this many seconds.
AUDIT_REFUSAL_EVERY_S = 60.0
# Requests read and decoded at once (decoding holds the GIL: more would only hold more
# bodies in memory); a request waits this long for its turn before being told to retry.
DECODERS = 8
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


def _store_full(traces: list[Trace]) -> None:
    report = store_traces(traces, source="receiver")
    for rejection in report.rejected:
        log.warning("receiver: %s", rejection)


STORES: dict[str, Store] = {"full": _store_full, "index": index.write}


class Receiver:
    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.queue = SpanQueue(config.queue_spans)
        self.writer = Writer(self.queue, STORES[config.mode])
        self.senders_seen: set[str] = set()
        self.refusals_audited: dict[str, float] = {}
        self.lock = threading.Lock()
        # Turns to read and decode a request: bodies wait in the sockets, not in memory.
        self.decoders = threading.BoundedSemaphore(DECODERS)

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()
        self.writer.join(timeout=COMMIT_WAIT_S)

    def export(self, request: Request, fmt: str | None = None) -> Outcome:
        """Serve one export; `fmt` given (gRPC) skips the content-type check. A failure that
        is not the request's fault is logged and answered 500, never left unanswered."""
        try:
            return self._export(request, fmt)
        except Exception:  # noqa: BLE001 - a bug must not kill the connection's thread silently
            log.exception("receiver: a request from %s failed", request.peer)
            return Outcome(500, "internal error in the receiver (logged)")

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
            if not self.decoders.acquire(timeout=ADMISSION_WAIT_S):
                return Outcome(
                    429,
                    "too many requests at once; retry later",
                    retry_after_s=self.config.retry_after_s,
                )
            try:
                data = inflated(
                    request.read_body(), request.content_encoding, self.config.max_bytes
                )
                decoded = decode(
                    data, fmt, self.config.max_attribute_bytes, f"request from {sender}"
                )
            finally:
                self.decoders.release()
        except Refused as exc:
            log.warning(
                "receiver: refused a request from %s (sender %s): %s %s",
                address,
                sender,
                exc.status,
                exc,
            )
            return Outcome(exc.status, str(exc))
        self._audit_sender(sender, address)
        outcome = self._commit(decoded, sender)
        if outcome.status != 200:
            log.warning(
                "receiver: %d spans from %s (%s) not stored: %s %s",
                decoded.spans,
                sender,
                address,
                outcome.status,
                outcome.message,
            )
        elif decoded.rejected:
            log.warning(
                "receiver: %d spans from %s (%s) rejected: %s",
                decoded.rejected,
                sender,
                address,
                decoded.message,
            )
        return outcome

    def _commit(self, decoded: Decoded, sender: str) -> Outcome:
        partial = Outcome(200, decoded.message, decoded.rejected)
        if not decoded.traces:
            return partial
        job = Job(decoded.traces, decoded.spans, sender)
        retry = self.config.retry_after_s
        if not self.queue.offer(job):
            return Outcome(
                429, "the receiver is behind its writer; retry later", retry_after_s=retry
            )
        if not job.done.wait(COMMIT_WAIT_S):
            return Outcome(
                503, "the spans were not committed in time; retry later", retry_after_s=retry
            )
        if job.error is not None:
            return Outcome(503, f"{job.error}; retry later", retry_after_s=retry)
        return partial

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
        # Written by the writer thread (one database writer), in its next transaction.
        def entry() -> None:
            audit.record(None, action, "receiver", sender, detail, username=sender, address=address)

        self.writer.notes.append(entry)
        with self.queue.cond:
            self.queue.cond.notify()
