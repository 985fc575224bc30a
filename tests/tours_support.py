"""A small deterministic Alexandrite for the tour tests: simulated once per session (seed 7,
the demo's seed; more lost messages than the demo so a few dozen orders include one lost
between MES and CRM) and served from memory as the configured trace source."""

from __future__ import annotations

import functools

from explorer import composition
from explorer.simulation import parse_fault_rates
from explorer.sources.memory import MemorySource
from explorer.traces.model import Trace
from tests.simulation_support import simulated

SMALL_ORDERS = 40


@functools.cache
def small_demo_traces() -> tuple[Trace, ...]:
    return tuple(
        simulated(
            orders=SMALL_ORDERS,
            days=2,
            seed=7,
            fault_rates=parse_fault_rates(["lost_message=0.25"]),
        ).traces()
    )


def serve_from_memory(monkeypatch, traces=None) -> MemorySource:
    """Makes the configured trace source (the embedded store) answer from these traces."""
    source = MemorySource(small_demo_traces() if traces is None else traces, name="store")
    monkeypatch.setitem(composition.FACTORIES, "store", lambda name, options: source)
    return source
