"""One simulation per set of options for the whole test session.

    def test_x(simulation):
        run = simulation(orders=40, days=3, seed=3)   # the `simulation` fixture (conftest.py)
        run.folder, run.truth, run.traces()

simulated(**options) is the same outside fixtures (tours_support). Options are those of
explorer.simulation.SimulationConfig (fault_rates as a dict). Files are written once, into a
folder removed when the session ends; traces() parses them anew on each call, so a test may
change what it gets without touching another test's data.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from explorer.simulation import SimulationConfig, simulate
from explorer.traces.model import Trace
from explorer.traces.parsers import iter_file

_lock = threading.Lock()
_runs: dict[str, Simulated] = {}
_root: Path | None = None


@dataclass(frozen=True)
class Simulated:
    folder: Path  # the trace files (alexandrite-day-NNN.jsonl); do not write into it
    truth: dict  # the --truth document: orders and faults

    @property
    def files(self) -> list[Path]:
        return sorted(self.folder.iterdir())

    def traces(self) -> list[Trace]:
        return [t for path in self.files for result in iter_file(path) for t in result.traces]


def simulated(**options) -> Simulated:
    """The simulation with these options, run on first use."""
    global _root
    key = json.dumps(options, sort_keys=True)
    with _lock:
        if key not in _runs:
            if _root is None:
                _root = Path(tempfile.mkdtemp(prefix="explorer-simulations-"))
                atexit.register(shutil.rmtree, _root, True)
            run_dir = _root / f"run-{len(_runs)}"
            simulate(
                SimulationConfig(out=run_dir / "traces", truth=run_dir / "truth.json", **options)
            )
            _runs[key] = Simulated(
                run_dir / "traces", json.loads((run_dir / "truth.json").read_text())
            )
        return _runs[key]


def empty_store_and_orders() -> None:
    """Every row of the store's and the orders' tables deleted (the Django app labels `store`
    and `journeys`): what a module that stored a simulation for all its tests, outside their
    transactions, does at its end, since the tests of other modules expect those tables empty
    (the catalogue of operations and the hourly figures as much as the traces)."""
    from django.apps import apps

    for label in ("store", "journeys"):
        # Last defined first: a trace before the operation set it points to (PROTECT).
        for model in reversed(list(apps.get_app_config(label).get_models())):
            if model._meta.managed:
                model.objects.all().delete()


@contextmanager
def ingested(run: Simulated, django_db_blocker) -> Iterator[Simulated]:
    """The run ingested into the store for a module's tests (a module-scoped fixture yields
    inside it), the store's and orders' tables emptied at the end."""
    from explorer.store.ingest import ingest

    with django_db_blocker.unblock():
        ingest(run.files, workers=1)
        try:
            yield run
        finally:
            empty_store_and_orders()
