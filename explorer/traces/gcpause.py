"""Pausing Python's cyclic garbage collector around bulk work on traces."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The collector is one switch for the whole process, and pauses overlap in threads (runserver's,
# the receiver's request threads): it is turned back on when the last pause ends, if it was on
# when the first began. Each thread remembering what it saw instead would let the first to
# finish turn it on under the others, or leave it off for a thread that began while another
# held it off.
_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building or walking hundreds of thousands of small objects triggers the cyclic collector
    again and again for nothing (they are all alive); pause it meanwhile. Nested uses and uses
    in several threads at once are fine (see above)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
