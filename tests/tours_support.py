"""A small deterministic Alexandrite for the tour tests: simulated once per session (seed 7,
the demo's seed; more lost messages than the demo so a few dozen orders include one lost
between MES and CRM) and served from memory as the configured trace source."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from explorer.simulation import SimulationConfig, parse_fault_rates, simulate
from explorer.sources import registry
from explorer.sources.memory import MemorySource
from explorer.traces.model import Trace
from explorer.traces.parsers import iter_file

SMALL_ORDERS = 40


@functools.cache
def small_demo_traces() -> tuple[Trace, ...]:
    with tempfile.TemporaryDirectory(prefix="tours-sim-") as folder:
        simulate(SimulationConfig(out=Path(folder), orders=SMALL_ORDERS, days=2, seed=7,
                                  fault_rates=parse_fault_rates(["lost_message=0.25"])))
        return tuple(trace for path in sorted(Path(folder).iterdir())
                     for result in iter_file(path) for trace in result.traces)


def serve_from_memory(monkeypatch, traces=None) -> MemorySource:
    """Makes the configured trace source (the embedded store) answer from these traces."""
    source = MemorySource(small_demo_traces() if traces is None else traces, name="store")
    monkeypatch.setitem(registry.FACTORIES, "store", lambda name, options: source)
    return source
