"""Pausing Python's cyclic garbage collector around bulk work on traces."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building or walking hundreds of thousands of small objects triggers the cyclic collector
    again and again for nothing (they are all alive); pause it meanwhile. Nested uses are fine:
    only the outermost one turns it back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
