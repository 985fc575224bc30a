"""Benchmark of the store's size on disk (issue 31).

Figures: store_bytes_per_span (the SQLite database file after VACUUM, every table and index
included, divided by the spans stored; target at most 120), store_spans, and
store_bytes_per_span_data, which says what was ingested: the scale benchmark's data (5,000
orders over 60 days) when it is there, else 500 orders simulated over 14 days (the
simulation benchmark's, or simulated here). BENCH_STORE_DATA names another folder of
simulated files. store_table_bytes_per_span: the same per table and index (SQLite's dbstat),
to see where the bytes go.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDERS, DAYS = 500, 14


def _data(workdir: Path) -> tuple[Path, str]:
    """The folder of simulated files to ingest, and what it holds."""
    named = os.environ.get("BENCH_STORE_DATA", "").strip()
    if named:
        return Path(named), f"BENCH_STORE_DATA={named}"
    scale = workdir / "scale"
    if scale.is_dir():
        return scale, "the scale benchmark's data (5,000 orders over 60 days)"
    simulated = workdir / "simulation"  # bench_simulation's, BENCH_SCALE times 500 orders
    orders = max(int(ORDERS * float(os.environ.get("BENCH_SCALE", "1"))), 1)
    if not simulated.is_dir():
        simulated = workdir / "store-simulation"
        _manage(
            workdir,
            "simulate",
            "--orders",
            str(orders),
            "--days",
            str(DAYS),
            "--out",
            str(simulated),
        )
    return simulated, f"{orders} orders simulated over {DAYS} days"


def _manage(workdir: Path, *args: str) -> str:
    """Run manage.py on the benchmark's own database for this figure."""
    folder = workdir / "store-size"
    folder.mkdir(exist_ok=True)
    environment = {
        **os.environ,
        "EXPLORER_DATA_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'store.sqlite3'}",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def measure(workdir: Path) -> dict:
    data, described = _data(workdir)
    print(f"bench_store: ingesting {described}", file=sys.stderr, flush=True)
    _manage(workdir, "migrate", "-v0")
    print("bench_store: " + _manage(workdir, "ingest", str(data)).strip(), file=sys.stderr)
    path = workdir / "store-size" / "store.sqlite3"
    with closing(sqlite3.connect(path)) as database:
        database.execute("VACUUM")
        (spans,) = database.execute("SELECT sum(span_count) FROM store_trace").fetchone()
        try:
            tables = database.execute(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
        except sqlite3.OperationalError:  # an SQLite built without dbstat
            tables = []
    size = path.stat().st_size
    return {
        "store_bytes_per_span": round(size / spans, 1),
        "store_spans": spans,
        "store_bytes_per_span_data": described,
        "store_table_bytes_per_span": {name: round(b / spans, 1) for name, b in tables[:12]},
    }
