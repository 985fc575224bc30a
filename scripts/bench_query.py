"""Benchmark of queries (docs/query.md) on the embedded store holding 1,000,000 spans: an
attribute equality (the index of business attributes) and duration queries (the summary
column; a common duration evaluated here on the newest candidates). Reuses the store that
bench_core filled when it ran first; else writes and ingests its own 1,000,000 spans.

Keys: query_ms_1m (the slowest of the three), query_ms_1m_attribute, query_ms_1m_duration,
query_ms_1m_duration_common; each the median of 7 runs of `query_traces` with limit 20.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
QUERIES = {
    "query_ms_1m_attribute": '{ .order.id = "%s" }',
    "query_ms_1m_duration": "{ duration > 1s }",  # no trace that long: the column says so
    "query_ms_1m_duration_common": (
        '{ kind = server && duration >= 12ms && name = "POST /api/mes/orders" }'
    ),
}


def log(message: str) -> None:
    print(f"bench_query: {message}", file=sys.stderr, flush=True)


def _core():
    spec = importlib.util.spec_from_file_location("bench_core", SCRIPTS / "bench_core.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stored_spans() -> tuple[int, int]:
    from django.db.models import Count, Sum

    from explorer.store.models import StoredTrace

    totals = StoredTrace.objects.aggregate(spans=Sum("span_count"), traces=Count("pk"))
    return totals["spans"] or 0, totals["traces"] or 0


def measure(workdir: Path) -> dict:
    from explorer.composition import get_source
    from explorer.configuration import explorer_config
    from explorer.orders.service import query_traces
    from explorer.query.parser import parse
    from explorer.sources.querying import QueryRun

    core = _core()
    wanted = core.scaled(1_000_000)
    spans, traces = _stored_spans()
    if spans < wanted:
        path = workdir / "query-spans-1m.jsonl"
        log(f"the store holds {spans} spans: ingesting {wanted}")
        core.write_jsonl(path, wanted)
        core.run_ingest(path)
        path.unlink()
        spans, traces = _stored_spans()
    log(f"querying {spans} stored spans in {traces} traces")
    source, config = get_source(), explorer_config()
    orders = traces // core.TRACES_PER_ORDER
    results: dict = {}
    for key, text in QUERIES.items():
        times = []
        for k in range(8):
            order_id = f"A-{100000 + orders * (k + 1) // 9}"
            query = parse(text % order_id if "%s" in text else text)
            started = time.perf_counter()
            result = query_traces(source, config, query, QueryRun(limit=20))
            if k:  # the first opens the connection and warms the caches
                times.append(time.perf_counter() - started)
            if key != "query_ms_1m_duration" and not result.hits:
                raise RuntimeError(f"{key}: {query.text} found nothing")
        results[key] = round(statistics.median(times) * 1000, 2)
        log(f"{key}: {results[key]} ms ({result.notes[0]})")
    results["query_ms_1m"] = max(results.values())
    return results
