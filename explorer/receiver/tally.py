"""What the receiver counts for /metrics (explorer/web/metrics_figures.py): spans accepted and
rejected, export requests by HTTP status, and when it last answered one.

The counts are kept in memory per request and added to LiveMark rows (explorer.orders.models,
shared by every receiver process and read by the web app's scrape) every FLUSH_EVERY_S by a
thread of their own, and when the receiver stops: a request never waits for them, and a
database that is down only delays them (they are kept and added at the next flush that
works)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from django.db import DatabaseError, close_old_connections, transaction

from explorer.orders.arrivals import add_to_mark, set_mark

log = logging.getLogger("explorer.receiver")

FLUSH_EVERY_S = 5.0
# HTTP statuses counted by name; any other is counted as "other".
REQUEST_CODES = ("200", "400", "401", "403", "413", "415", "429", "500", "503", "other")
# LiveMark names: counts (value_ns holds the count) and, "last", a wall-clock time in ns.
RECEIVER_MARKS = {
    "accepted": "receiver_spans_accepted",
    "rejected": "receiver_spans_rejected",
    "last": "receiver_last_request",
    **{code: f"receiver_requests_{code}" for code in REQUEST_CODES},
}


class Tally:
    """The receiver's counts since the last flush (thread-safe)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._last_ns: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def count(self, status: int, accepted: int = 0, rejected: int = 0) -> None:
        """One request answered with `status`; for 200, the spans accepted and rejected."""
        code = str(status) if str(status) in REQUEST_CODES else "other"
        with self._lock:
            self._counts[RECEIVER_MARKS[code]] += 1
            self._counts[RECEIVER_MARKS["accepted"]] += accepted
            self._counts[RECEIVER_MARKS["rejected"]] += rejected
            self._last_ns = time.time_ns()

    def flush(self) -> bool:
        """Add the counts to the LiveMark rows; False (the counts kept for the next flush)
        when the database did not take them."""
        with self._lock:
            counts, self._counts = +self._counts, Counter()
            last, self._last_ns = self._last_ns, None
        if not counts and last is None:
            return True
        try:
            with transaction.atomic():
                for name, n in sorted(counts.items()):
                    add_to_mark(name, n)
                if last is not None:
                    set_mark(RECEIVER_MARKS["last"], last)
        except DatabaseError:
            log.exception("receiver: the counts for /metrics were not stored; kept for later")
            close_old_connections()
            with self._lock:
                self._counts.update(counts)
                self._last_ns = max(self._last_ns or 0, last or 0) or None
            return False
        return True

    def start(self) -> None:
        """Flush every FLUSH_EVERY_S in a thread of its own, until stop()."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="receiver-tally", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_EVERY_S):
            self.flush()
        close_old_connections()
