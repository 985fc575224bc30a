"""Stopping a long-running command (receive, watch, simulate --live) on SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(*events: threading.Event) -> Callable[[int, FrameType | None], None]:
    """Set these events on the first SIGTERM or SIGINT; returns the handler installed.

    Python runs a signal handler in the main thread between two of its instructions, which
    may be inside one of these events' own set(), holding the event's lock: a second signal
    there (a service manager's SIGTERM after a terminal's Ctrl-C, or both sent to a process
    group) would wait in set() for that lock forever, and the command would never stop. So
    only the first signal sets them; the flag is raised before any lock is taken."""
    received: list[int] = []

    def handler(number: int, frame: FrameType | None) -> None:
        if received:
            return
        received.append(number)
        for event in events:
            event.set()

    for number in STOP_SIGNALS:
        signal.signal(number, handler)
    return handler


# How often a main thread waiting for the stop looks at pending signals (see wait_for_stop).
SIGNAL_CHECK_S = 0.5


def wait_for_stop(stop: threading.Event) -> None:
    """Wait in the main thread until `stop` is set, waking every SIGNAL_CHECK_S.

    The kernel may hand a signal to any thread of the process. Python then only notes it and
    runs the handler when the main thread next runs Python code, but a main thread blocked in
    an Event.wait() without a timeout never does: `receive` under load, with waitress's
    threads about, sat out a whole burst of SIGTERM and SIGINT (tests/test_stopping.py)."""
    while not stop.wait(SIGNAL_CHECK_S):
        pass
