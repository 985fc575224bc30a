"""Long-running commands stop on SIGTERM or SIGINT, also when signals come in a burst (a
terminal's Ctrl-C, then a service manager's SIGTERM; both sent to a process group): seen in
the demo, a second signal inside the first one's Event.set() left `receive` hanging forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from explorer.management.stopping import STOP_SIGNALS, stop_on_signals
from tests.receiver_support import migrate, receiver_env, start_receiver

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def default_handlers():
    saved = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def test_a_signal_inside_the_first_ones_set_does_not_set_again(default_handlers):
    class SignalledWhileSetting(threading.Event):
        """An event that a second signal interrupts inside set(), as the eval loop may."""

        sets = 0

        def set(self) -> None:
            self.sets += 1
            handler(signal.SIGINT, None)  # the second signal, the lock of set() held
            super().set()

    first, second = SignalledWhileSetting(), threading.Event()
    handler = stop_on_signals(first, second)
    assert signal.getsignal(signal.SIGTERM) is handler is signal.getsignal(signal.SIGINT)
    handler(signal.SIGTERM, None)
    assert first.sets == 1 and first.is_set() and second.is_set()


def test_a_real_signal_sets_the_events(default_handlers):
    stop = threading.Event()
    stop_on_signals(stop)
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.wait(5)


def burst(process: subprocess.Popen) -> None:
    """SIGINT and SIGTERM in turn, as fast as they go, until the process ends (at most 400);
    it must then end within 20 s (the old handler hung on the first attempt)."""
    for number in [signal.SIGINT, signal.SIGTERM] * 200:
        if process.poll() is not None:
            break
        os.kill(process.pid, number)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("the command did not stop after a burst of SIGINT and SIGTERM")


@pytest.mark.slow
def test_receive_stops_after_a_burst_of_signals(tmp_path):
    env = receiver_env(tmp_path)
    migrate(env)
    for attempt in range(3):
        running = start_receiver(env, f"receiver-{attempt}.log")
        burst(running.process)
        assert "receiver stopped" in running.log_text()


@pytest.mark.slow
def test_watch_stops_after_a_burst_of_signals(tmp_path):
    env = receiver_env(tmp_path)
    migrate(env)
    command = [sys.executable, "manage.py", "watch", "--interval", "0.1"]
    for _ in range(3):
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().startswith("watching ")
        burst(process)
        assert process.stdout.read().strip().endswith("stopped")
