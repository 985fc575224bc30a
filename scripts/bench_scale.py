"""The scale benchmark (`BENCH_ONLY=scale make bench`, issues 29 and 31), see bench.py.

Alexandrite at a realistic volume: `simulate --orders 5000 --days 60 --seed 7` (about 140,000
traces and 580,000 spans) ingested into its own SQLite database in WORKDIR/scale, then:

- orders_refresh_s_5k: `manage.py orders --refresh` over those orders, the whole process
  (target <= 30).
- store_bytes_per_span: the database file after VACUUM (every table and index) over the
  stored spans (target <= 120); store_db_mb is that file's size.
- order_page_ms_first: the first order page a fresh server process answers, after the login
  (target <= 500).
- hourly_operation_rows: the rows of the hourly figures per operation those 60 days left.
- sla_page_ms_60d_cold, anomalies_page_ms_60d_cold, drift_page_ms_60d_cold: each page over
  the 60 days (`?window=90d`, the longest the pages offer), the first request of its own fresh
  server process (target <= 300 each).
- metrics_scrape_ms_5k: the first /metrics scrape (bearer token, as Prometheus makes it) of
  a fresh server process over those orders (bench_web's metrics_scrape_ms at 500 orders:
  target <= 200).

Every server is gunicorn with one worker, so that "fresh" means one cold process. BENCH_SCALE
shrinks the simulation (orders and days alike); the keys keep their names.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ORDERS = max(int(5000 * SCALE), 50)
DAYS = max(int(60 * SCALE), 3)
WINDOW = "90d"  # the longest window the pages offer: all 60 days


def _bench_web():
    """bench_web.py's server, login and process helpers (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_web", ROOT / "scripts" / "bench_web.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


web = _bench_web()


def log(message: str) -> None:
    print(f"bench_scale: {message}", file=sys.stderr, flush=True)


def prepare() -> None:
    """An analyst (the role of the SLA, anomaly and drift pages) and an order to open;
    printed as JSON (runs in a subprocess)."""
    import django

    django.setup()
    from explorer.orders.models import OrderStatus

    order = OrderStatus.objects.order_by("order_id").values_list("order_id", flat=True)
    print(json.dumps({"order": order[len(order) // 2], **web.bench_user("analyst")}))


def bytes_per_span(database: Path) -> tuple[float, float]:
    """(bytes a span, megabytes) of the database file after VACUUM, WAL included."""
    vacuumed = database.with_name("vacuumed.sqlite3")
    vacuumed.unlink(missing_ok=True)
    with sqlite3.connect(database) as connection:
        connection.execute("VACUUM INTO ?", (str(vacuumed),))
        spans = connection.execute("SELECT SUM(span_count) FROM store_trace").fetchone()[0]
    size = vacuumed.stat().st_size
    vacuumed.unlink()
    return round(size / max(spans or 0, 1), 1), round(size / 2**20, 1)


def first_answers_ms(env: dict, folder: Path, data: dict, pages: dict[str, str]) -> dict:
    """Milliseconds of the first request for each page, each to a fresh one-worker server
    after one request for the login page (the session logs in once: a TOTP code counts
    once); None for a page the explorer answers 404 (one it does not have yet)."""
    session = None
    results: dict = {}
    for key, path in pages.items():
        with web.Server(env, 1, folder / "gunicorn.log") as server:
            if session is None:
                session = web.log_in(server.url, data)
            else:
                web.login_page(session, server.url)
            started = time.perf_counter()
            answer = session.get(f"{server.url}{path}", timeout=300)
            elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code not in (200, 404):
            raise RuntimeError(f"GET {path}: {answer.status_code}")
        results[key] = round(elapsed, 1) if answer.status_code == 200 else None
    return results


def first_scrape_ms(env: dict, folder: Path) -> float:
    """The first /metrics scrape of a fresh one-worker server, once it answers."""
    import requests

    with web.Server(env, 1, folder / "gunicorn.log") as server:
        web.login_page(requests.Session(), server.url)
        return web.metrics_scrape_ms(server.url)


def measure(workdir: Path) -> dict:
    folder = workdir / "scale"
    folder.mkdir(exist_ok=True)
    env = web.server_environment(folder)
    database = folder / "web.sqlite3"
    manage = str(ROOT / "manage.py")
    web.run_step(env, manage, "migrate", "--no-input", "-v", "0")
    web.run_step(env, manage, "collectstatic", "--no-input", "-v", "0")
    traces = folder / "traces"
    days = str(DAYS)
    web.run_step(
        env,
        manage,
        "simulate",
        "--orders",
        str(ORDERS),
        "--days",
        days,
        "--seed",
        "7",
        "--out",
        str(traces),
    )
    web.run_step(env, manage, "ingest", str(traces))
    results: dict = {"scale_orders": ORDERS, "scale_days": DAYS}
    started = time.perf_counter()
    web.run_step(env, manage, "orders", "--refresh")
    results["orders_refresh_s_5k"] = round(time.perf_counter() - started, 1)
    results["store_bytes_per_span"], results["store_db_mb"] = bytes_per_span(database)
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT COUNT(*) FROM store_hourlyoperation").fetchone()[0]
    results["hourly_operation_rows"] = rows
    data = json.loads(web.run_step(env, __file__, "prepare").strip().splitlines()[-1])
    pages = {
        "order_page_ms_first": f"/orders/{data['order']}/",
        "sla_page_ms_60d_cold": f"/sla/?window={WINDOW}",
        "anomalies_page_ms_60d_cold": f"/anomalies/?window={WINDOW}",
        "drift_page_ms_60d_cold": f"/drift/?window={WINDOW}",
    }
    results.update(first_answers_ms(env, folder, data, pages))
    results["metrics_scrape_ms_5k"] = first_scrape_ms(env, folder)
    log(json.dumps(results))
    return results


if __name__ == "__main__":
    if sys.argv[1:] == ["prepare"]:
        prepare()
    else:
        sys.exit("usage: bench_scale.py prepare  (the benchmark runs it through scripts/bench.py)")
