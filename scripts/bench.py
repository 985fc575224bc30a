"""The benchmark (`make bench`): runs every scripts/bench_*.py module's `measure(workdir)` in
name order and prints the merged figures as one JSON object on the last line of stdout.

Progress goes to stderr. Everything happens in a temporary folder with its own SQLite
database (EXPLORER_DATA_DIR and DATABASE_URL point there), removed at the end.
BENCH_SCALE (default 1) multiplies the data sizes: BENCH_SCALE=0.01 checks the harness in
seconds (the figures then mean nothing). BENCH_ONLY=core,journeys runs only those modules.
Whatever runs, the orjson decode floor (`orjson_spans_per_s`) is measured first and every
throughput is also printed as a share of it (`floor_shares`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def floor_shares(results: dict) -> dict:
    """Every throughput (a `*_spans_per_s*` key) also as a share of the orjson decode rate of
    the same run, `ingest_spans_per_s` -> `ingest_floor_share`: hosts of one kind differ by
    40 % and a shared one is noisy, the share much less (docs/benchmark.md)."""
    floor = results["orjson_spans_per_s"]
    return {
        key.replace("_spans_per_s", "") + "_floor_share": round(value / floor, 3)
        for key, value in results.items()
        if "_spans_per_s" in key and key not in FLOORS and isinstance(value, int | float)
    }


FLOORS = {"orjson_spans_per_s", "receive_floor_spans_per_s"}  # floors, not throughputs


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as folder:
        workdir = Path(folder)
        os.environ["EXPLORER_DATA_DIR"] = str(workdir)
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        os.environ["DJANGO_SETTINGS_MODULE"] = "explorer.settings"
        sys.path.insert(0, str(ROOT))
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)

        core = _load(ROOT / "scripts" / "bench_core.py")
        _, seconds, spans = core.decode_floor()
        results: dict = {"orjson_spans_per_s": round(spans / seconds)}
        failed = []
        only = {
            name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()
        }
        for path in sorted((ROOT / "scripts").glob("bench_*.py")):
            if only and path.stem.removeprefix("bench_") not in only:
                continue
            print(f"bench: {path.stem}...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            try:
                results.update(_load(path).measure(workdir))
            except Exception:  # one broken module must not hide the others' figures
                traceback.print_exc()
                failed.append(path.stem)
            print(
                f"bench: {path.stem} took {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    results.update(floor_shares(results))
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    print(json.dumps(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
