"""Benchmark of retention's pruning (issue 31 item 2; see scripts/bench.py).

A database of its own (the other modules' data would mix in): `simulate --orders 1000 --days 60`
(BENCH_SCALE multiplies the orders; about 110,000 spans), ingested, the order-status snapshot
refreshed, then explorer.orders.retention.prune with the default policy (30 days, problem
orders 180), in a process of its own:

- prune_spans_per_s: spans removed per second of the whole prune (choosing the traces, judging
  the problem orders, the batches of 300 with their records, status rows, giving the space back);
  (scripts/bench.py adds prune_floor_share, that rate as a share of the orjson floor of the run);
- prune_spans_removed, prune_mb_given_back: what went, and how much the SQLite file shrank.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
SCRIPT = """
import io, json, sys, time
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.orders.retention import prune
from explorer.orders.service import now_in

folder, orders = Path(sys.argv[1]), sys.argv[2]
call_command("migrate", verbosity=0)
call_command("simulate", "--orders", orders, "--days", "60", "--seed", "7",
             "--out", str(folder / "sim"), stdout=io.StringIO())
call_command("ingest", str(folder / "sim"), "--workers", "0", stdout=io.StringIO())
call_command("orders", "--refresh", stdout=io.StringIO())
database = folder / "retention.sqlite3"


def size() -> int:
    # The file's size once the write-ahead log is written into it and emptied: freed pages
    # are cut off the file only then.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database.stat().st_size


size_before = size()
source = get_source(None)
started = time.perf_counter()
report = prune(source, explorer_config(), now_in(source))
seconds = time.perf_counter() - started
print(json.dumps({
    "removed": report.spans,
    "seconds": seconds, "given_back": size_before - size(),
    "lines": report.lines(),
}))
"""


def log(message: str) -> None:
    print(f"bench_retention: {message}", file=sys.stderr, flush=True)


def measure(workdir: Path) -> dict:
    folder = workdir / "retention"
    folder.mkdir()
    env = {
        **os.environ,
        "EXPLORER_DATA_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'retention.sqlite3'}",
    }
    orders = str(max(int(1000 * SCALE), 20))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), orders],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the prune benchmark failed: {done.stderr[-2000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for line in found["lines"]:
        log(line)
    rate = found["removed"] / found["seconds"] if found["seconds"] else 0.0
    return {
        "prune_spans_per_s": round(rate),
        "prune_spans_removed": found["removed"],
        "prune_mb_given_back": round(found["given_back"] / 2**20, 1),
    }
