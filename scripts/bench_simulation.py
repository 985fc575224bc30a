"""Benchmark of the simulated Alexandrite (issue 3).

Figures: simulate_500_orders_s (500 orders over 14 days; target under 60 s),
simulate_500_orders_spans (target 50,000 to 150,000), simulate_spans_per_s and
simulate_peak_rss_mb (the simulating process, which streams its spans to disk).
BENCH_SCALE multiplies the number of orders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Peak memory is the process's own VmHWM: ru_maxrss survives exec, so a child of the big
# benchmark process would report the parent's peak.
SCRIPT = """
import re, sys, time
from pathlib import Path
from explorer.simulation import SimulationConfig, simulate
started = time.perf_counter()
result = simulate(SimulationConfig(out=Path(sys.argv[1]), orders=int(sys.argv[2]), days=14))
status = Path("/proc/self/status").read_text()
print(result.spans, time.perf_counter() - started,
      re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
"""


def measure(workdir: Path) -> dict:
    orders = max(int(500 * float(os.environ.get("BENCH_SCALE", "1"))), 1)
    print(f"bench_simulation: simulating {orders} orders over 14 days", file=sys.stderr, flush=True)
    output = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(workdir / "simulation"), str(orders)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    spans, seconds, rss_kib = int(output[0]), float(output[1]), int(output[2])
    return {
        "simulate_500_orders_s": round(seconds, 2),
        "simulate_500_orders_spans": spans,
        "simulate_spans_per_s": round(spans / seconds),
        "simulate_peak_rss_mb": round(rss_kib / 1024, 1),
    }
