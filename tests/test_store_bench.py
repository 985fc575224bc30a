"""The benchmark harness must keep working: a tiny run prints every figure (never timed here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE_KEYS = {
    "orjson_ms_50k",
    "parse_ratio_50k",
    "analysis_ratio_50k",
    "analysis_growth_10x",
    "ingest_spans_per_s",
    "lookup_ms",
    "peak_rss_mb_ingest_1m",
    "ingest_pieces_spans_per_s",
    "peak_rss_mb_ingest_pieces",
}
# The receiver's figures (scripts/bench_receiver.py): counted ones may be 0.
RECEIVER_KEYS = {
    "receive_floor_spans_per_s",
    "receive_spans_per_s_full",
    "receive_sink_share_full",
    "receive_spans_per_s_index",
    "receive_sink_share_index",
    "receive_peak_rss_mb",
    "receive_lag_p95_ms",
}
# The scale module's (scripts/bench_scale.py) and the floor shares scripts/bench.py adds.
SCALE_KEYS = {
    "orders_refresh_s_5k",
    "store_bytes_per_span",
    "order_page_ms_first",
    "sla_page_ms_60d_cold",
    "anomalies_page_ms_60d_cold",
    "drift_page_ms_60d_cold",
    "hourly_operation_rows",
}
SHARE_KEYS = {"orjson_spans_per_s", "ingest_floor_share", "receive_full_floor_share"}
RECEIVER_COUNTS = {"receive_burst_429", "receive_lost_spans", "receive_unacknowledged_spans"}
# Retention's (scripts/bench_retention.py).
RETENTION_KEYS = {"prune_spans_per_s", "prune_floor_share", "prune_spans_removed"}


@pytest.mark.slow  # runs the whole harness in a subprocess
def test_bench_prints_one_json_object_with_every_figure(tmp_path):
    env = {**os.environ, "BENCH_SCALE": "0.01", "EXPLORER_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) >= (
        CORE_KEYS | RECEIVER_KEYS | RECEIVER_COUNTS | SCALE_KEYS | SHARE_KEYS | RETENTION_KEYS
    )
    for key in CORE_KEYS | RECEIVER_KEYS | SCALE_KEYS | SHARE_KEYS | RETENTION_KEYS:
        assert isinstance(figures[key], int | float) and figures[key] > 0, key
    for key in RECEIVER_COUNTS:
        assert isinstance(figures[key], int) and figures[key] >= 0, key
    # Nothing answered 200 is lost, even in a tiny run.
    assert figures["receive_lost_spans"] == 0
