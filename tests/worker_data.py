"""A pytest plugin loaded before anything else (`-p tests.worker_data` in pyproject.toml):
under pytest-xdist each worker process gets a data folder of its own,
EXPLORER_DATA_DIR/<worker id>, set before Django reads its settings, so that caches, uploads,
keys and the collected static files of two workers never meet. Without xdist it does nothing."""

import os
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    _base = Path(os.environ.get("EXPLORER_DATA_DIR") or Path(__file__).parent.parent / "data")
    (_base / _worker).mkdir(parents=True, exist_ok=True)
    os.environ["EXPLORER_DATA_DIR"] = str(_base / _worker)
