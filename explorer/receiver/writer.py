"""One writer thread behind a bounded queue: the network side never outruns the database.

Requests hand their decoded spans to `SpanQueue.offer`; past `capacity` spans waiting, the
offer is refused and the sender is told to retry later (429 / RESOURCE_EXHAUSTED) instead of
memory growing. The writer takes everything waiting, commits it in one transaction, and only
then wakes the requests, which answer 200/OK: a sender is never told "stored" for spans a
crash could still lose. Writing is idempotent (as `ingest` is), so a sender's retry of spans
already committed changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections, transaction

from explorer.traces.model import Trace

log = logging.getLogger("explorer.receiver")

# Store function of a mode: writes the traces (inside the writer's transaction).
Store = Callable[[list[Trace]], None]


@dataclass(slots=True, eq=False)
class Job:
    traces: list[Trace]
    spans: int
    sender: str
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None  # why the write failed; None once committed


class SpanQueue:
    """Jobs waiting for the writer, bounded by their number of spans."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.pending: list[Job] = []
        self.spans = 0
        self.cond = threading.Condition()
        self.closed = False

    def offer(self, job: Job) -> bool:
        """Queue the job, or False when that would pass the capacity. A job bigger than the
        whole capacity is taken only into an empty queue, so that it can ever be served."""
        with self.cond:
            if self.closed:
                return False
            if self.pending and self.spans + job.spans > self.capacity:
                return False
            self.pending.append(job)
            self.spans += job.spans
            self.cond.notify()
            return True

    def take(self, timeout: float) -> list[Job]:
        with self.cond:
            if not self.pending:
                self.cond.wait(timeout)
            jobs, self.pending, self.spans = self.pending, [], 0
            return jobs

    def close(self) -> list[Job]:
        with self.cond:
            self.closed = True
            jobs, self.pending, self.spans = self.pending, [], 0
            return jobs


class Writer(threading.Thread):
    """Commits queued jobs, all waiting ones in one transaction (a group commit)."""

    def __init__(self, queue: SpanQueue, store: Store) -> None:
        super().__init__(name="receiver-writer", daemon=True)
        self.queue = queue
        self.store = store
        self.stopping = threading.Event()
        self.committed_spans = 0
        # Small database writes other threads hand over (audit entries): one writer only.
        self.notes: deque[Callable[[], None]] = deque()

    def run(self) -> None:
        while not self.stopping.is_set():
            jobs = self.queue.take(timeout=0.5)
            if jobs:
                self._commit(jobs)
            while self.notes:
                note = self.notes.popleft()
                try:
                    note()
                except Exception:  # noqa: BLE001 - an audit write must not stop the writer
                    log.exception("receiver: a note to the database failed")
        for job in self.queue.close():
            job.error = "the receiver is shutting down"
            job.done.set()
        close_old_connections()

    def stop(self) -> None:
        self.stopping.set()
        with self.queue.cond:
            self.queue.cond.notify_all()

    def _commit(self, jobs: list[Job]) -> None:
        traces = [trace for job in jobs for trace in job.traces]
        spans = sum(job.spans for job in jobs)
        started = time.monotonic()
        try:
            with transaction.atomic():
                self.store(traces)
        except Exception as exc:  # noqa: BLE001 - every failure is answered, none kills the writer
            log.exception("receiver: writing %d spans failed", spans)
            for job in jobs:
                job.error = f"the database did not take the spans: {type(exc).__name__}"
                job.done.set()
            close_old_connections()  # a broken connection is replaced on the next write
            return
        self.committed_spans += spans
        for job in jobs:
            job.done.set()
        log.debug(
            "receiver: committed %d spans of %d requests in %.0f ms",
            spans,
            len(jobs),
            (time.monotonic() - started) * 1000,
        )
