"""Benchmark of the foundation: parsing, analysis, the embedded store (issue 2).

Generates its own OTLP JSON: order traces of shop-api, crm-api and mes-api with client/server
pairs, database, S3 and RabbitMQ calls, ~10 attributes a span and the business attributes.
Figures (targets in the README): orjson_ms_50k, parse_ratio_50k, analysis_ratio_50k,
analysis_growth_10x, ingest_spans_per_s, lookup_ms, peak_rss_mb_ingest_1m,
ingest_pieces_spans_per_s, peak_rss_mb_ingest_pieces (issue 12).
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
MS = 1_000_000
SPANS_PER_UNIT = 10  # spans of one order's processing, see OtlpGenerator.unit
UNITS_PER_TRACE = 4  # the traces of the 1,000,000-span file: 41 spans each
TRACES_PER_ORDER = 5
UNITS_PER_RESOURCE_SPANS = 500  # a big trace is written as many resourceSpans entries


def scaled(count: int) -> int:
    return max(int(count * SCALE), 2 * SPANS_PER_UNIT + 1)


def log(message: str) -> None:
    print(f"bench_core: {message}", file=sys.stderr, flush=True)


def _value(value) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": value}


def attrs(**values) -> list[dict]:
    return [{"key": k.replace("__", "."), "value": _value(v)} for k, v in values.items()]


def kv(key: str, value) -> dict:
    return {"key": key, "value": _value(value)}


RESOURCES = {
    service: {
        "attributes": [
            kv("service.name", service),
            kv("service.version", version),
            kv("service.namespace", "alexandrite"),
            kv("host.name", f"{service}-7c9f"),
            kv("telemetry.sdk.language", language),
            kv("deployment.environment.name", "production"),
        ]
    }
    for service, version, language in (
        ("shop-api", "3.4.1", "java"),
        ("crm-api", "2.0.7", "java"),
        ("mes-api", "5.12.0", "dotnet"),
    )
}
SCOPES = {
    "shop-api": {"name": "io.opentelemetry.spring-webmvc-6.0", "version": "2.9.0"},
    "crm-api": {"name": "io.opentelemetry.spring-webmvc-6.0", "version": "2.9.0"},
    "mes-api": {"name": "OpenTelemetry.Instrumentation.AspNetCore", "version": "1.9.0"},
}
# Attributes that are the same on every span of their kind: shared objects, cheap to build.
STATIC = {
    "server": attrs(
        http__request__method="POST",
        url__path="/api/orders",
        http__route="/api/orders",
        http__response__status_code=201,
        server__address="shop-api.alexandrite.local",
        server__port=8080,
        network__protocol__version="1.1",
    ),
    "shop_db": attrs(
        db__system__name="postgresql",
        db__namespace="shop",
        db__operation__name="INSERT",
        db__collection__name="orders",
        db__query__text="INSERT INTO orders (id, customer_id, state) VALUES (?, ?, ?)",
        server__address="shop-db.alexandrite.local",
        server__port=5432,
    ),
    "crm_db": attrs(
        db__system__name="postgresql",
        db__namespace="shop",
        db__operation__name="UPDATE",
        db__collection__name="orders",
        db__query__text="UPDATE orders SET state = ? WHERE id = ?",
        server__address="shop-db.alexandrite.local",
        server__port=5432,
    ),
    "mes_db": attrs(
        db__system__name="postgresql",
        db__namespace="mes",
        db__operation__name="INSERT",
        db__collection__name="assignments",
        db__query__text="INSERT INTO assignments (order_id, operator_id) VALUES (?, ?)",
        server__address="mes-db.alexandrite.local",
        server__port=5432,
    ),
    "s3": attrs(
        http__request__method="PUT",
        url__full="https://files.alexandrite.local/models/ring.stl",
        server__address="files.alexandrite.local",
        server__port=443,
        http__response__status_code=200,
        aws__s3__bucket="models",
    ),
    "publish": attrs(
        messaging__system="rabbitmq",
        messaging__destination__name="orders.created",
        messaging__operation__type="publish",
        messaging__rabbitmq__destination__routing_key="orders.created",
        server__address="rabbitmq.alexandrite.local",
        server__port=5672,
    ),
    "process": attrs(
        messaging__system="rabbitmq",
        messaging__destination__name="orders.created",
        messaging__operation__type="process",
        messaging__consumer__group__name="crm-api",
        server__address="rabbitmq.alexandrite.local",
    ),
    "mes_client": attrs(
        http__request__method="POST",
        url__full="http://mes-api.alexandrite.local/api/mes/orders",
        server__address="mes-api.alexandrite.local",
        server__port=80,
        http__response__status_code=200,
    ),
    "mes_server": attrs(
        http__request__method="POST",
        url__path="/api/mes/orders",
        http__route="/api/mes/orders",
        server__address="mes-api.alexandrite.local",
        server__port=80,
        http__response__status_code=200,
    ),
    "internal": attrs(code__namespace="com.alexandrite.shop.orders.OrderService"),
}


class OtlpGenerator:
    """Synthetic OTLP JSON order traces with sequential, unique hex ids."""

    def __init__(self, seed: int = 42) -> None:
        self.rng = random.Random(seed)
        self.next_span = 1
        self.start_ns = 1_750_000_000_000_000_000

    def _span(self, trace_id, parent, name, kind, start, end, attributes, events=None) -> dict:
        span_id = f"{self.next_span:016x}"
        self.next_span += 1
        span = {
            "traceId": trace_id,
            "spanId": span_id,
            "parentSpanId": parent,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end),
            "attributes": attributes,
        }
        if events:
            span["events"] = events
        return span

    def unit(self, trace_id: str, parent: str, start: int, order: int, out: dict) -> int:
        """The 10 spans of one order going from shop-api over RabbitMQ to crm-api and mes-api;
        appends them per service to `out`, returns when the unit ends."""
        rng = self.rng
        jitter = rng.randint(0, 3 * MS)
        business = attrs(
            order__id=f"A-{100000 + order}",
            customer__id=f"C-{order % 3000:05d}",
            customer__type=("retail", "b2b_partner", "vip")[order % 3],
            thread__id=rng.randint(1, 200),
        )
        t = start
        shop, crm, mes = out["shop-api"], out["crm-api"], out["mes-api"]

        def span(target, parent_id, name, kind, begin, finish, static, events=None):
            made = self._span(
                trace_id,
                parent_id,
                name,
                kind,
                t + begin * MS,
                t + finish * MS + jitter,
                business + STATIC[static],
                events,
            )
            target.append(made)
            return made["spanId"]

        process = span(shop, parent, "OrderService.process", 1, 0, 40, "internal")
        span(shop, process, "INSERT shop.orders", 3, 1, 4, "shop_db")
        span(shop, process, "PUT", 3, 4, 12, "s3")
        publish = span(shop, process, "orders.created publish", 4, 12, 13, "publish")
        consume = span(crm, publish, "orders.created process", 5, 14, 38, "process")
        call = span(crm, consume, "POST", 3, 15, 30, "mes_client")
        changed = [
            {
                "timeUnixNano": str(t + 21 * MS),
                "name": "order.state_changed",
                "attributes": attrs(
                    order__state__previous="CONFIRMED", order__state__new="IN_WORK"
                ),
            }
        ]
        served = span(mes, call, "POST /api/mes/orders", 2, 16, 29, "mes_server", changed)
        if rng.random() < 0.02:
            mes[-1]["status"] = {"code": 2, "message": "operator pool exhausted"}
        span(mes, served, "INSERT mes.assignments", 3, 17, 20, "mes_db")
        span(mes, served, "PriceCalculator.calculate", 1, 20, 28, "internal")
        span(crm, consume, "UPDATE shop.orders", 3, 31, 36, "crm_db")
        return t + 41 * MS + jitter

    def trace(
        self,
        trace_no: int,
        units: int,
        order: int | None = None,
        group_units: int = UNITS_PER_RESOURCE_SPANS,
    ) -> Iterator[bytes]:
        """One trace (a shop-api SERVER root and `units` order units, all of `order`, or of
        orders 0, 1, 2... when None) as OTLP JSON, in pieces to join: a huge trace never
        exists as one Python object tree. Each `group_units` units make one resourceSpans
        entry per service."""
        trace_id = f"{trace_no + 1:032x}"
        root_id = f"{self.next_span:016x}"
        self.next_span += 1
        start = self.start_ns + trace_no * 60_000 * MS
        t = start + MS
        yield b'{"resourceSpans":['
        first = True
        for begin in range(0, units, group_units):
            out = {service: [] for service in RESOURCES}
            for index in range(begin, min(begin + group_units, units)):
                t = self.unit(trace_id, root_id, t, index if order is None else order, out)
            if first:
                business = attrs(
                    order__id=f"A-{100000 + (order or 0)}",
                    customer__id=f"C-{(order or 0) % 3000:05d}",
                )
                root = {
                    "traceId": trace_id,
                    "spanId": root_id,
                    "name": "POST /api/orders",
                    "kind": 2,
                    "startTimeUnixNano": str(start),
                    "endTimeUnixNano": str(start + MS * 45 * units + 2 * MS),
                    "attributes": business + STATIC["server"],
                }
                out["shop-api"].insert(0, root)
            for service, spans in out.items():
                entry = {
                    "resource": RESOURCES[service],
                    "scopeSpans": [{"scope": SCOPES[service], "spans": spans}],
                }
                yield (b"" if first else b",") + orjson.dumps(entry)
                first = False
        yield b"]}"


def trace_bytes(spans: int, trace_no: int = 0) -> bytes:
    units = max((spans - 1) // SPANS_PER_UNIT, 1)
    return b"".join(OtlpGenerator(seed=trace_no).trace(trace_no, units))


def write_jsonl(path: Path, spans: int) -> tuple[int, int]:
    """A JSON-lines file of order traces (one a line); returns (spans, traces)."""
    generator = OtlpGenerator()
    per_trace = 1 + UNITS_PER_TRACE * SPANS_PER_UNIT
    traces = max(spans // per_trace, 1)
    with path.open("wb") as out:
        for trace_no in range(traces):
            for piece in generator.trace(
                trace_no, UNITS_PER_TRACE, order=trace_no // TRACES_PER_ORDER
            ):
                out.write(piece)
            out.write(b"\n")
    return traces * per_trace, traces


def write_pieces(path: Path, spans: int, pieces: int, trace_no: int) -> int:
    """One trace of `spans` spans as `pieces` JSON lines, one ExportTraceServiceRequest each,
    as the Collector's file exporter writes a long trace; returns the spans written."""
    units = max((spans - 1) // SPANS_PER_UNIT, pieces)
    group = -(-units // pieces)
    generator = OtlpGenerator(seed=trace_no)
    entries: list[bytes] = []
    with path.open("wb") as out:
        for part in generator.trace(trace_no, units, group_units=group):
            if part in (b'{"resourceSpans":[', b"]}"):
                continue
            entries.append(part.removeprefix(b","))
            if len(entries) == len(RESOURCES):  # one entry per service: one group of units
                out.write(b'{"resourceSpans":[' + b",".join(entries) + b"]}\n")
                entries = []
    return units * SPANS_PER_UNIT + 1


def best_of(runs: int, call: Callable[[], object], gc_off: bool = False) -> float:
    """The fastest of `runs` calls, in seconds."""
    times = []
    for _ in range(runs):
        gc.collect()
        if gc_off:
            gc.disable()
        try:
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        finally:
            gc.enable()
    return min(times)


def decode_floor() -> tuple[bytes, float, int]:
    """The floor every figure is measured against: a 50,000-span OTLP JSON trace, the best
    of seven plain `orjson.loads` of it (collector off); (its bytes, seconds, spans)."""
    units = max((scaled(50_000) - 1) // SPANS_PER_UNIT, 1)
    log(f"generating a {units * SPANS_PER_UNIT + 1}-span trace")
    data = b"".join(OtlpGenerator(seed=0).trace(0, units))
    return data, best_of(7, lambda: orjson.loads(data), gc_off=True), units * SPANS_PER_UNIT + 1


def analysis_parts() -> list[Callable] | None:
    """Critical path, service graph and statistics, or None while a part is missing."""
    try:
        from explorer.analysis import critical_path, operation_stats, service_graph
    except ImportError:
        return None
    return [critical_path, lambda trace: service_graph([trace]), lambda t: operation_stats([t])]


def analyse(parts: list[Callable], trace) -> None:
    for part in parts:
        part(trace)


# Runs the command given as arguments and prints its exit status, peak memory in KiB (the
# larger of the biggest process's own peak (RUSAGE_CHILDREN) and the peak of the whole process
# tree (ingest's worker processes included) sampled every 20 ms from /proc) and CPU seconds
# of the whole tree. A fresh
# interpreter in between because a child's ru_maxrss starts from its parent's RSS at fork
# time, and the benchmark process is large by now.
RSS_LAUNCHER = """
import json, os, resource, subprocess, sys, time

def tree_rss_kib(root):
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                parents[int(name)] = (int(fields[1]), int(fields[21]))
            except (OSError, IndexError, ValueError):
                pass
    tree, total, grew = {root}, 0, True
    while grew:
        more = {pid for pid, (ppid, _) in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    return sum(parents[pid][1] for pid in tree if pid in parents) * page_kib

process = subprocess.Popen(sys.argv[1:], stdout=sys.stderr)
peak = 0
while process.poll() is None:
    peak = max(peak, tree_rss_kib(process.pid))
    time.sleep(0.02)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps([process.returncode, max(peak, usage.ru_maxrss), cpu]))
"""


def run_ingest(path: Path) -> tuple[float, float, float, str]:
    """Run `manage.py ingest` on one file: (seconds, CPU seconds, peak RSS in MB, output)."""
    command = [sys.executable, str(ROOT / "manage.py"), "ingest", str(path)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RSS_LAUNCHER, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the RSS launcher failed: {done.stderr[-2000:]}")
    status, peak_kib, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    if status != 0:
        raise RuntimeError(f"ingest failed ({status}): {done.stderr[-2000:]}")
    return elapsed, cpu, peak_kib / 1024, done.stderr


def measure(workdir: Path) -> dict:
    results: dict = {}
    measure_parse_and_analysis(results)
    gc.collect()
    measure_store(workdir, results)
    return results


def measure_parse_and_analysis(results: dict) -> None:
    from explorer.traces.parsers import parse_bytes

    data, floor, _ = decode_floor()
    results["orjson_ms_50k"] = round(floor * 1000, 2)

    parsed = parse_bytes(data)
    if parsed.errors or len(parsed.traces) != 1:
        raise RuntimeError(f"the generated trace does not parse: {parsed.errors[:3]}")
    results["parse_ratio_50k"] = round(best_of(3, lambda: parse_bytes(data)) / floor, 2)

    parts = analysis_parts()
    if parts is None:
        results.update(analysis_ratio_50k=None, analysis_growth_10x=None)
        return
    trace = parsed.traces[0]
    analysis_50k = best_of(3, lambda: analyse(parts, trace))
    results["analysis_ratio_50k"] = round(analysis_50k / floor, 2)
    parsed = trace = data = None  # free the 50k trace before building the 500k one

    spans_500k = scaled(500_000)
    log(f"generating a {spans_500k}-span trace")
    big = parse_bytes(trace_bytes(spans_500k)).traces[0]
    results["analysis_growth_10x"] = round(
        best_of(2, lambda: analyse(parts, big)) / analysis_50k, 2
    )


def measure_store(workdir: Path, results: dict) -> None:
    from explorer.store.source import StoreSource

    path = workdir / "spans-1m.jsonl"
    log(f"writing {path.name}")
    spans, traces = write_jsonl(path, scaled(1_000_000))
    log(f"ingesting {spans} spans in {traces} traces")
    seconds, cpu_seconds, peak_mb, output = run_ingest(path)
    log(output.strip().splitlines()[-1] if output.strip() else "ingest said nothing")
    path.unlink()
    results["ingest_spans_per_s"] = round(spans / seconds)
    # Spans per CPU second of all its processes: what the rate would be on one free core,
    # whatever else the machine is running meanwhile.
    results["ingest_spans_per_cpu_s"] = round(spans / cpu_seconds)
    results["peak_rss_mb_ingest_1m"] = round(peak_mb, 1)

    source = StoreSource()
    orders = traces // TRACES_PER_ORDER
    samples = [f"A-{100000 + orders * k // 8}" for k in range(1, 8)]

    def lookup(order_id: str) -> None:
        found = source.find_traces("order.id", order_id)
        if not found:
            raise RuntimeError(f"order {order_id} not found in the store")
        for summary in found:
            source.get_trace(summary.trace_id)

    lookup(samples[0])  # opens the connection
    times = []
    for order_id in samples:
        started = time.perf_counter()
        lookup(order_id)
        times.append(time.perf_counter() - started)
    results["lookup_ms"] = round(statistics.median(times) * 1000, 2)
    measure_pieces(workdir, results)


def measure_pieces(workdir: Path, results: dict) -> None:
    """ingest_pieces_spans_per_s, peak_rss_mb_ingest_pieces: one 1,000,000-span trace in 200
    JSON lines, merged piece by piece into the store (target: at least half the rate of
    ingest_spans_per_s, at most 600 MB). The trace is removed afterwards: bench_query queries
    the 1,000,000 spans of measure_store, and this trace, the newest and longest, would be
    the candidate each of its queries evaluated first (10 s to read, for every query)."""
    from explorer.store.removal import delete_traces

    path = workdir / "trace-in-pieces.jsonl"
    log(f"writing {path.name}")
    trace_no = 10**6
    spans = write_pieces(path, scaled(1_000_000), 200, trace_no=trace_no)
    log(f"ingesting one {spans}-span trace in 200 pieces")
    seconds, _, peak_mb, output = run_ingest(path)
    log(output.strip().splitlines()[-1] if output.strip() else "ingest said nothing")
    path.unlink()
    results["ingest_pieces_spans_per_s"] = round(spans / seconds)
    results["peak_rss_mb_ingest_pieces"] = round(peak_mb, 1)
    delete_traces([f"{trace_no + 1:032x}"])  # its id, as OtlpGenerator.trace makes it
