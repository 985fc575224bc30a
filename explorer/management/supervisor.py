"""Keeping the live worker running (receive, watch): a thread that died, or that showed no
progress for EXPLORER_LIVE_STALE_SECONDS (a cycle or a batch of it done), is replaced by a
new one, logged and counted; health() says how the worker is, for the receiver's health answer.

    supervisor = Supervisor(lambda stop, stats: run_worker(stop, None, ..., stats=stats), stop)
    supervisor.start()      # the worker thread, and a watcher thread checking it
    receiver.worker_health = supervisor.health
    ...
    supervisor.join(30)     # after `stop` was set

Python cannot end a thread from outside: a stuck one is told to stop (its own event) and left
to finish its cycle; at most MAX_ABANDONED of them are left running, then no more are started
and health() stays not ok until one ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings

from explorer.orders.live import WorkerStats

log = logging.getLogger("explorer.live")

CHECK_S = 5.0  # how often the watcher looks at the worker
MAX_ABANDONED = 3  # stuck threads left running before no new one is started

Worker = Callable[[threading.Event, WorkerStats], None]


class Supervisor:
    def __init__(
        self,
        worker: Worker,
        stop: threading.Event,
        stale_s: float | None = None,
        check_s: float = CHECK_S,
        name: str = "live-worker",
    ) -> None:
        """`worker(own_stop, stats)` runs cycles until `own_stop` is set (run_worker);
        `stop` ends everything; `stale_s`: EXPLORER_LIVE_STALE_SECONDS when None."""
        self.worker = worker
        self.stop = stop
        self.stale_s = settings.EXPLORER_LIVE_STALE_SECONDS if stale_s is None else stale_s
        self.check_s = check_s
        self.name = name
        self.restarts = 0
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.own_stop = threading.Event()
        self.stats = WorkerStats()
        self.errors_before = 0  # errors counted by the threads replaced
        self.abandoned: list[threading.Thread] = []
        self.watcher: threading.Thread | None = None

    def start(self) -> None:
        """The worker thread, and the watcher thread that checks it every `check_s`."""
        self._start_worker()
        self.watcher = threading.Thread(target=self._watch, name=f"{self.name}-watch", daemon=True)
        self.watcher.start()

    def _start_worker(self) -> None:
        self.own_stop = threading.Event()
        self.stats = WorkerStats()
        self.thread = threading.Thread(
            target=self._run, args=(self.own_stop, self.stats), name=self.name, daemon=True
        )
        self.thread.start()

    def _run(self, own_stop: threading.Event, stats: WorkerStats) -> None:
        try:
            self.worker(own_stop, stats)
        except BaseException:  # logged here; the watcher starts a new thread
            log.exception("live worker: the thread ended with an error")

    def _watch(self) -> None:
        while not self.stop.wait(self.check_s):
            self.check()
        self.own_stop.set()

    def check(self) -> None:
        """Start a new worker thread if the current one died or showed no progress for
        stale_s (after the previous restart, at most once per call)."""
        with self.lock:
            if self.stop.is_set() or self.thread is None:
                return
            self.abandoned = [t for t in self.abandoned if t.is_alive()]
            if not self.thread.is_alive():
                why = "the worker thread died"
            elif time.monotonic() - self.stats.progress_at > self.stale_s:
                why = f"the worker showed no progress for {self.stale_s:g} s"
                if len(self.abandoned) >= MAX_ABANDONED:
                    log.error(
                        "live worker: %s; %d stuck threads left, none started",
                        why,
                        len(self.abandoned),
                    )
                    return
                self.own_stop.set()
                self.abandoned.append(self.thread)
            else:
                return
            self.errors_before += self.stats.errors
            self.restarts += 1
            log.error("live worker: %s; starting it again (restart %d)", why, self.restarts)
            self._start_worker()

    def health(self) -> dict:
        """{"ok", "alive", "last_cycle_age_s" (None: no cycle completed yet), "restarts",
        "errors", "cycles"}: ok while the thread runs and its last completed cycle (or its
        start, before the first) is at most stale_s old."""
        stats, thread = self.stats, self.thread
        alive = thread is not None and thread.is_alive()
        age = (
            (time.time_ns() - stats.last_cycle_ns) / 1e9
            if stats.last_cycle_ns is not None
            else None
        )
        waited = age if age is not None else time.monotonic() - stats.started_at
        return {
            "ok": alive and waited <= self.stale_s,
            "alive": alive,
            "last_cycle_age_s": None if age is None else round(age, 3),
            "restarts": self.restarts,
            "errors": self.errors_before + stats.errors,
            "cycles": stats.cycles,
        }

    def join(self, timeout: float) -> None:
        """After `stop` was set: tell the worker to stop and wait for it up to `timeout`."""
        self.own_stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
