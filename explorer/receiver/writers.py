"""Writer processes: each request is decoded, prepared and committed in one of them.

Decoding a body and preparing its traces (explorer.receiver.decoding) costs tens of
microseconds a span in Python, and writing them as many again: in the receiving process that
would all hold one GIL, which the network threads and the live worker need too. A pool of
spawned processes, each with its own database connection, does both instead; the request's
thread hands over the body as it came (compressed bodies stay small on the way) and answers
once its writer says the spans are committed. On SQLite the writers take turns for the
transaction itself (a lock shared by the pool: waiting on SQLite's busy handler would sleep
past the moment the database is free), so one decodes while another commits; on PostgreSQL
they write at once.

On SQLite the writer processes do not checkpoint the write-ahead log themselves: a checkpoint
writes the pages back into the database file and syncs it, and would hold the turn meanwhile.
A thread of the pool does it every CHECKPOINT_S instead, beside them but for a last short
turn of its own (see checkpoint()).

With 0 processes (EXPLORER_RECEIVER_WRITERS=0) requests are decoded and written in their own
thread, taking turns through the same kind of lock.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from explorer.receiver.auth import Refused
from explorer.receiver.decoding import Stored

log = logging.getLogger("explorer.receiver")


@dataclass(slots=True, frozen=True)
class _Refusal:
    """Refused, as a writer process returns it (an exception with its own constructor
    arguments does not survive pickling)."""

    status: int
    message: str
    storage_full: bool = False


# How often a writer process checks that its receiver still runs.
PARENT_CHECK_S = 1.0
# How often the pool checkpoints SQLite's write-ahead log for its writer processes: a log of
# a quarter second's writes kept index mode quicker than one of a second (docs/receiver.md).
CHECKPOINT_S = 0.25
# A writer process's lock for its transactions (None: PostgreSQL, no turns), set at its start.
_turns: Any = None


def _start(turns: Any) -> None:
    global _turns
    _turns = turns
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    import django

    django.setup()  # DJANGO_SETTINGS_MODULE and the settings' variables come from the parent
    if turns is not None:  # SQLite: the pool checkpoints
        from django.db.backends.signals import connection_created

        connection_created.connect(_no_checkpoints)
    # Each request makes and drops thousands of objects that hold no cycles: collecting the
    # young generation every 700 allocations would only cost time.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _exit_with(parent: int) -> None:
    """Exit once the receiver that started this process is gone (killed with SIGKILL, it
    could not stop its pool): an orphan would hold its memory and a database connection.
    A request it was writing is not acknowledged, so its sender sends it again."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _no_checkpoints(sender, connection, **kwargs) -> None:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(cursor: Any, turns: Any) -> None:
    """Checkpoint SQLite's write-ahead log beside the writers (the bulk of it, syncing the
    database file while they go on), then, in a turn of its own, what they wrote meanwhile.
    A checkpoint that has caught up lets the next write start the log over; one that never
    does (writers always appending) would leave it growing for as long as they write."""
    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    with turns:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _checkpoint_every(seconds: float, turns: Any, stopped: threading.Event) -> None:
    """checkpoint() until `stopped` (the pool's thread, on SQLite)."""
    from django.db import DatabaseError, connection

    while not stopped.wait(seconds):
        try:
            with connection.cursor() as cursor:
                checkpoint(cursor, turns)
        except DatabaseError:
            log.exception("receiver: checkpointing the write-ahead log failed; trying again")
            connection.close()  # a new connection next time
    connection.close()


def _store_in_process(body: bytes, encoding: str | None, fmt: str, sender: str):
    from explorer.receiver.storing import store_request  # once Django is set up

    try:
        return store_request(body, encoding, fmt, sender, _turns)
    except Refused as exc:
        return _Refusal(exc.status, str(exc), exc.storage_full)


class WriterPool:
    """Decodes and commits requests in `processes` spawned processes (0: in the calling
    thread). `sqlite`: the writers take turns for their transactions."""

    def __init__(self, processes: int, sqlite: bool) -> None:
        self.processes = processes
        context = multiprocessing.get_context("spawn")
        self._turns = (context.Lock() if processes else threading.Lock()) if sqlite else None
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._stopped = threading.Event()
        self._checkpoints = (
            threading.Thread(
                target=_checkpoint_every,
                args=(CHECKPOINT_S, self._turns, self._stopped),
                daemon=True,
            )
            if sqlite and processes
            else None
        )

    def start(self) -> None:
        """Start the processes now (not on the first request, which would wait for them)."""
        if self.processes:
            with self._lock:
                executor = self._executor = self._new_executor()
            # A first task makes the pool start every process and set up Django.
            for future in [executor.submit(os.getpid) for _ in range(self.processes)]:
                future.result()
        if self._checkpoints is not None:
            self._checkpoints.start()

    def stop(self) -> None:
        """Stop after the requests being written."""
        self._stopped.set()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def health(self) -> dict:
        """ok when every writer process is alive (or none are configured): configured and
        alive processes."""
        with self._lock:
            executor = self._executor
        if not self.processes:
            return {"ok": True, "configured": 0, "alive": 0}
        # ProcessPoolExecutor tells its processes only through this attribute.
        processes = getattr(executor, "_processes", None) or {}
        alive = sum(1 for process in processes.values() if process.is_alive())
        return {"ok": alive == self.processes, "configured": self.processes, "alive": alive}

    def store(self, body: bytes, encoding: str | None, fmt: str, sender: str) -> Stored:
        """The request of `sender` (its token's name) committed (or Refused)."""
        if not self.processes:
            from explorer.receiver.storing import store_request

            return store_request(body, encoding, fmt, sender, self._turns)
        with self._lock:
            executor = self._executor
        if executor is None:
            raise Refused(503, "the receiver is shutting down; retry later")
        try:
            result = executor.submit(_store_in_process, body, encoding, fmt, sender).result()
        except BrokenProcessPool:
            # A writer process died (killed, out of memory): this request is answered, the
            # sender retries, and later requests get fresh processes. What it committed stays.
            log.error("receiver: a writer process stopped unexpectedly; starting new ones")
            self._replace(executor)
            raise Refused(503, "a writer process stopped unexpectedly; retry later") from None
        if isinstance(result, _Refusal):
            raise Refused(result.status, result.message, result.storage_full)
        return result

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = self._new_executor()
        broken.shutdown(wait=False)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self._turns,),
        )
