"""explorer.traces.gcpause: the collector paused around bulk work and turned back on when the
last pause ends, in one thread or several. Each case runs in a fresh interpreter: the
collector is one switch for the whole process, and a test run's other threads (a live
server's) pause it too."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PREAMBLE = """
import gc, threading
from explorer.traces.gcpause import gc_paused
"""

CASES = {
    "an exception inside": """
try:
    with gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("judging failed")
except RuntimeError:
    pass
assert gc.isenabled()
""",
    "nested": """
with gc_paused():
    with gc_paused():
        pass
    assert not gc.isenabled()
assert gc.isenabled()
""",
    "off before": """
gc.disable()
with gc_paused():
    pass
assert not gc.isenabled()
""",
    "two threads, the first ends first": """
inside, first_may_end, second_ended = threading.Event(), threading.Event(), threading.Event()
seen = []
def second():
    with gc_paused():
        inside.set()
        first_may_end.wait()
        seen.append(gc.isenabled())  # the first has ended: still off for this one
    second_ended.set()
with gc_paused():
    worker = threading.Thread(target=second)
    worker.start()
    inside.wait()
first_may_end.set()
second_ended.wait()
worker.join()
assert seen == [False], seen
assert gc.isenabled()
""",
    "two threads, the first ends last": """
inside, second_may_end = threading.Event(), threading.Event()
def second():
    with gc_paused():
        inside.set()
        second_may_end.wait()
with gc_paused():
    worker = threading.Thread(target=second)
    worker.start()
    inside.wait()
    second_may_end.set()
    worker.join()
    assert not gc.isenabled()
assert gc.isenabled()
""",
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_collector_is_back_as_it_was_when_the_last_pause_ends(case):
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", PREAMBLE + CASES[case]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
