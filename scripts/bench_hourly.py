"""Benchmark of the SLA, anomaly and drift pages over 60 days of hourly figures (issue 29), see
bench.py.

Builds its own data in WORKDIR/hourly (its own SQLite database): the issue's volume,
`simulate --orders 5000 --days 60 --seed 7` (about 140,000 traces, 580,000 spans), ingested.
Then each page is asked once, for the last 90 days (every trace of the 60), in a fresh process
(nothing cached, connections opened by the request): the view's time, from the request to the
rendered page, without the interpreter's and Django's start-up.

- sla_page_ms_60d_cold, anomalies_page_ms_60d_cold, drift_page_ms_60d_cold (target <= 300
  each); hourly_operation_rows: the rows of the 60 days (explorer.store.hourly_operations).
- hourly_ingest_spans_per_s: the ingest of those files (hourly figures included), and
  hourly_ingest_floor_share: as a share of the rate orjson decodes those files at (measured in
  the same run: the host's speed cancels out).
BENCH_SCALE shrinks the simulation (orders; the 60 days stay).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_web import _environment, _run  # noqa: E402  (the same steps, in their own folder)

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ORDERS = max(int(5000 * SCALE), 20)
DAYS = 60
PAGES = ("sla", "anomalies", "drift")


def log(message: str) -> None:
    print(f"bench_hourly: {message}", file=sys.stderr, flush=True)


def _timed(env: dict, *args: str) -> tuple[str, float]:
    """bench_web's _run (a manage.py step in its own process), and how long it took."""
    started = time.perf_counter()
    output = _run(env, *args)
    return output, time.perf_counter() - started


def page() -> None:
    """`python scripts/bench_hourly.py page NAME`: one cold page, its time on stdout."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.test import RequestFactory

    from explorer.web import analytics

    user = get_user_model().objects.get_or_create(username="bench-analyst", is_superuser=True)[0]
    request = RequestFactory().get(f"/{sys.argv[2]}/", {"window": "90d"}, HTTP_HOST="127.0.0.1")
    SessionMiddleware(lambda r: None).process_request(request)
    user.is_verified = lambda: True  # as django-otp marks a session past its second factor
    request.user = user
    view = getattr(analytics, sys.argv[2])
    started = time.perf_counter()
    response = view(request)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or b"newest" in response.content:
        raise RuntimeError(f"{sys.argv[2]}: {response.status_code}, or sampled")
    print(json.dumps({"ms": round(ms, 1)}))


def _decode_rate(traces: Path) -> float:
    """Spans a second orjson decodes the simulation's files at (the floor of any ingest)."""
    import orjson

    lines = [line for path in sorted(traces.iterdir()) for line in path.read_bytes().splitlines()]
    started = time.perf_counter()
    documents = [orjson.loads(line) for line in lines]
    seconds = time.perf_counter() - started
    spans = sum(
        len(scope["spans"])
        for doc in documents
        for resource in doc.get("resourceSpans", [])
        for scope in resource.get("scopeSpans", [])
    )
    return spans / seconds


def measure(workdir: Path) -> dict:
    folder = workdir / "hourly"
    folder.mkdir(exist_ok=True)
    env = _environment(folder)
    manage = str(ROOT / "manage.py")
    _run(env, manage, "migrate", "--no-input", "-v", "0")
    traces = folder / "traces"
    simulate = ("simulate", "--orders", str(ORDERS), "--days", str(DAYS), "--seed", "7")
    _run(env, manage, *simulate, "--out", str(traces))
    output, seconds = _timed(env, manage, "ingest", str(traces))
    spans = int(output.split("spans: ")[1].split(",")[0]) if "spans: " in output else 0
    results: dict = {}
    if spans:
        results["hourly_ingest_spans_per_s"] = round(spans / seconds)
        results["hourly_ingest_floor_share"] = round(spans / seconds / _decode_rate(traces), 3)
    for name in PAGES:
        out = _run(env, str(Path(__file__).resolve()), "page", name)
        results[f"{name}_page_ms_60d_cold"] = json.loads(out.strip().splitlines()[-1])["ms"]
    count = "from explorer.store.models import HourlyOperation as H; print(H.objects.count())"
    out = _run(env, manage, "shell", "-c", count)
    results["hourly_operation_rows"] = int(out.strip().splitlines()[-1])
    return results


if __name__ == "__main__" and sys.argv[1:2] == ["page"]:
    page()
