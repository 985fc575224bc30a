"""Benchmark of uploads into the upload store (issue 26 finding 5; see scripts/bench.py).

A gzip JSON-lines file of 40,000 one-span traces (BENCH_SCALE multiplies the count) is stored
by explorer.web.upload_store.store_upload, as the /upload/ page does, in a process of its own:
upload_40k_lines_cpu_s (its CPU time), upload_40k_lines_files (files the upload folder
holds), upload_40k_lines_disk_mb (their blocks) and upload_40k_lines_rss_mb (the process's
peak RSS growth while storing).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# VmHWM is the process's own peak (ru_maxrss survives exec: a child would report ours); the
# growth is counted from its RSS once Django is set up.
SCRIPT = """
import json, re, sys, time
from pathlib import Path
import django
django.setup()
from django.core.files import File
from explorer.web.upload_store import store_upload

def kib(key):
    return int(re.search(key + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))

folder = Path(sys.argv[1]) / "1" / "bench"
before = kib("VmRSS")
started = time.process_time()
with open(sys.argv[2], "rb") as raw:
    store_upload(File(raw, name="lines.jsonl.gz"), folder, "lines.jsonl.gz")
files = [p for p in folder.rglob("*") if p.is_file()]
print(json.dumps({
    "cpu_s": time.process_time() - started,
    "files": len(files),
    "disk": sum(p.stat().st_blocks * 512 for p in files),
    "rss_kib": kib("VmHWM") - before,
}))
"""


def _line(n: int) -> bytes:
    start = 1_740_000_000_000_000_000 + n * 10**6
    span = {
        "traceId": f"{n:032x}",
        "spanId": "0000000000000001",
        "name": "GET /line",
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1000),
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "shop-api"}}]}
    document = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(document).encode() + b"\n"


def measure(workdir: Path) -> dict:
    traces = max(int(40_000 * float(os.environ.get("BENCH_SCALE", "1"))), 1)
    print(f"bench_uploads: storing an upload of {traces} traces", file=sys.stderr, flush=True)
    uploads = workdir / "bench-uploads"
    path = workdir / "lines.jsonl.gz"
    with gzip.open(path, "wb") as out:
        for n in range(traces):
            out.write(_line(n))
    output = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(uploads), str(path)],
        cwd=ROOT,
        env={**os.environ, "EXPLORER_UPLOAD_DIR": str(uploads)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = json.loads(output.splitlines()[-1])
    return {
        "upload_40k_lines_cpu_s": round(figures["cpu_s"], 2),
        "upload_40k_lines_files": figures["files"],
        "upload_40k_lines_disk_mb": round(figures["disk"] / 2**20, 1),
        "upload_40k_lines_rss_mb": round(figures["rss_kib"] / 1024, 1),
    }
