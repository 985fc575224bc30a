"""Benchmark of the OTLP receiver (issue 12), see scripts/bench.py.

Spans are made by the OpenTelemetry SDK (order traces of 10 spans over three services, a
message producer linked to its consumer) and encoded by the SDK's OTLP encoder in batches of
512 (the BatchSpanProcessor's default) before the clock starts: the SDK encodes ~15,000 spans
a second per core, so encoding inside the measured window would measure the client. The SDK's
OTLP/HTTP exporter client then sends them (its retries and Retry-After handling included) from
several threads to a real `manage.py receive` process on a free loopback port, each with its
own SQLite database. A batch counts when it was answered 200, which the receiver sends only
after committing it.

receive_spans_per_s_full / _index: spans acknowledged per second of wall time, with
EXPLORER_RECEIVER_MODE full and index (targets >= 30,000 and >= 100,000), the receiver
started with --no-worker (its live worker can run in another process); one receiver process
with its writer processes, one per core (BENCH_RECEIVER_PROCESSES=N: receive --processes N).
receive_floor_spans_per_s: the same senders and batches against a sink that only reads each
body and answers 200 (Python's http.server in a process of its own, nothing decoded or
stored): what the SDK's client and Python's HTTP take on this machine, the ceiling of any
Python receiver here. receive_sink_share_full / _index: the receiver's throughput as a share
of that floor, measured in the same run (steadier than spans/s on a shared, noisy host).
receive_cpu_us_per_span_full / _index: CPU time of the receiver process and its writer
processes (user and system, from /proc) per span acknowledged in those runs: what the
receiver costs, whatever else the host runs meanwhile.
receive_peak_rss_mb: the receiver's peak RSS (VmHWM, its writer processes' added) while 10
times more senders than in the throughput runs send at once (target <= 500); receive_burst_429
how many answers told a sender to come back later meanwhile.
receive_lost_spans: spans answered 200 that are missing after the receiver was SIGKILLed in the
middle of a stream and restarted on the same port while the exporters retried (target 0).
receive_lag_p95_ms: with one sender at 5,000 spans a second for LAG_SECONDS (orders of 101
spans, as simulated ones have about a hundred), the 95th percentile over orders of the time from
the export of an order's last batch to its status row stored by the live worker that `receive`
runs (its computed_at; target <= 5,000).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.receiver_support import TOKEN, migrate, receiver_env, start_receiver  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
BATCH = 512
SENDERS = 4
BURST_SENDERS = 10 * SENDERS
LAG_RATE = 5_000  # spans a second
LAG_SECONDS = max(round(20 * SCALE), 2)  # 20 s; 2 at the harness check's scale
# Orders of the lag run have 101 spans, as the simulated Alexandrite's have about a hundred
# (`simulate --orders 500`: 50,000 to 150,000 spans): 50 orders change a second.
LAG_CALLS = 14


def log(message: str) -> None:
    print(f"bench_receiver: {message}", file=sys.stderr, flush=True)


def spans_per_order(calls: int) -> int:
    return 3 + 7 * calls


def sdk_batches(orders: int, calls: int = 1) -> list[tuple[bytes, int]]:
    """(OTLP protobuf body, spans) per batch of BATCH spans made and encoded by the SDK; order
    n owns spans_per_order(calls) spans from n * spans_per_order(calls) on (3 * calls database
    calls in the shop's trace, 4 * calls in the MES's)."""
    from opentelemetry import trace as api
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    kept: list = []

    class Keep(SpanExporter):
        def export(self, spans):
            kept.extend(spans)
            return SpanExportResult.SUCCESS

    tracers = {}
    for service in ("shop-api", "crm-api", "mes-api"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(Keep()))
        tracers[service] = provider.get_tracer("bench")
    shop, mes = tracers["shop-api"], tracers["mes-api"]
    server, client = api.SpanKind.SERVER, api.SpanKind.CLIENT
    for number in range(orders):
        order = {"order.id": f"A-{number:07d}", "customer.type": "retail"}
        with shop.start_as_current_span(
            "POST /orders",
            kind=server,
            attributes={
                **order,
                "http.request.method": "POST",
                "url.path": "/orders",
                "http.response.status_code": 201,
            },
        ):
            for _ in range(3 * calls):
                with shop.start_as_current_span(
                    "INSERT shop.orders",
                    kind=client,
                    attributes={
                        "db.system": "postgresql",
                        "db.statement": "INSERT INTO orders VALUES ($1, $2, $3)",
                    },
                ):
                    pass
            with shop.start_as_current_span(
                "orders publish",
                kind=api.SpanKind.PRODUCER,
                attributes={"messaging.system": "rabbitmq", "messaging.destination.name": "orders"},
            ) as producer:
                context = producer.get_span_context()
        with mes.start_as_current_span(
            "orders process",
            kind=api.SpanKind.CONSUMER,
            links=[api.Link(context)],
            context=api.set_span_in_context(api.INVALID_SPAN),
            attributes={"messaging.system": "rabbitmq"},
        ):
            for _ in range(4 * calls):
                with mes.start_as_current_span(
                    "SELECT mes.orders", kind=client, attributes={"db.system": "postgresql"}
                ):
                    pass
    return [
        (encode_spans(kept[i : i + BATCH]).SerializePartialToString(), len(kept[i : i + BATCH]))
        for i in range(0, len(kept), BATCH)
    ]


def exporter(url: str, timeout: float = 60):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(
        endpoint=url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=timeout
    )


def send_all(
    url: str, batches: list[tuple[bytes, int]], senders: int, acknowledged: list | None = None
) -> tuple[float, int]:
    """Send every batch from `senders` threads (each its own SDK exporter); returns (seconds,
    spans answered 200). `acknowledged` collects the indexes of the batches answered 200."""
    from opentelemetry.exporter.otlp.common import http as otlp_http

    statuses: list[int] = []
    next_batch = iter(range(len(batches)))
    lock = threading.Lock()
    done_spans = [0]
    original = otlp_http._OTLPHTTPClient._submit

    def counting(self, data, timeout):
        result = original(self, data, timeout)
        with lock:
            statuses.append(getattr(result, "status_code", None) or 0)
        return result

    otlp_http._OTLPHTTPClient._submit = counting

    def run() -> None:
        client = exporter(url)._client  # the SDK exporter's own sender, retries included
        while True:
            with lock:
                index = next(next_batch, None)
            if index is None:
                return
            body, spans = batches[index]
            if client.export(body).success:
                with lock:
                    done_spans[0] += spans
                    if acknowledged is not None:
                        acknowledged.append(index)

    threads = [threading.Thread(target=run) for _ in range(senders)]
    started = time.perf_counter()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        otlp_http._OTLPHTTPClient._submit = original
    send_all.statuses = statuses
    return time.perf_counter() - started, done_spans[0]


def stored_span_count(data_dir: Path, mode: str) -> int:
    table = "store_trace" if mode == "full" else "receiver_trace"
    with sqlite3.connect(data_dir / "explorer.sqlite3") as db:
        return db.execute(f"SELECT COALESCE(SUM(span_count), 0) FROM {table}").fetchone()[0]  # noqa: S608


def peak_rss_mb(pid: int) -> float:
    """The peak RSS (VmHWM) of the process and of its children (the writer processes),
    summed: what the receiver took at most, whichever peaked when."""
    pids = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listed:
            pids += [int(child) for child in listed.read().split()]
    total = 0
    for each in pids:
        with open(f"/proc/{each}/status") as status:
            total += sum(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the process (its threads, ended ones included) and of its
    children (the writer processes)."""
    pids = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        # A thread that ended meanwhile has no file any more.
        with (
            contextlib.suppress(FileNotFoundError),
            open(f"/proc/{pid}/task/{task}/children") as listed,
        ):
            pids += [int(child) for child in listed.read().split()]
    ticks = 0
    for each in pids:
        with open(f"/proc/{each}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def fresh(workdir: Path, name: str, **settings: str) -> dict[str, str]:
    folder = workdir / name
    folder.mkdir()
    env = receiver_env(folder, **settings)
    migrate(env)
    return env


def _sink(port: int) -> None:
    """The floor's server (run as `bench_receiver.py --sink PORT`): reads each body, answers
    200 with an empty ExportTraceServiceResponse, keeps nothing."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the receiver

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", port), Sink) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


def floor(batches, results: dict) -> None:
    import subprocess

    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(sink.stdout.readline())
        seconds, spans = send_all(f"http://127.0.0.1:{port}/v1/traces", batches, SENDERS)
        results["receive_floor_spans_per_s"] = round(spans / seconds)
        log(f"floor: {spans} spans answered by a sink that keeps nothing in {seconds:.1f} s")
    finally:
        sink.kill()
        sink.wait()


def throughput(workdir: Path, mode: str, batches, results: dict) -> None:
    # receiver_env leaves out the caller's EXPLORER_RECEIVER_* settings; this one is passed
    # on (and said in the results), so that its cost in index mode can be measured.
    traffic = os.environ.get("EXPLORER_RECEIVER_INDEX_TRAFFIC", "0")
    results["receive_index_traffic"] = traffic.strip().lower() in {"1", "true", "yes", "on"}
    env = fresh(
        workdir,
        f"receive-{mode}",
        EXPLORER_RECEIVER_MODE=mode,
        EXPLORER_RECEIVER_INDEX_TRAFFIC=traffic,
    )
    # The receiver alone: its live worker (measured by the lag run) may run elsewhere. One
    # process: on SQLite more would only take turns writing (docs/receiver.md).
    processes = os.environ.get("BENCH_RECEIVER_PROCESSES", "1")
    running = start_receiver(env, args=("--no-worker", "--processes", processes))
    try:
        cpu_before = cpu_seconds(running.process.pid)
        seconds, spans = send_all(running.url, batches, SENDERS)
        cpu = cpu_seconds(running.process.pid) - cpu_before
        results[f"receive_spans_per_s_{mode}"] = round(spans / seconds)
        results[f"receive_cpu_us_per_span_{mode}"] = round(cpu / spans * 1e6, 1)
        if "receive_floor_spans_per_s" in results:
            share = spans / seconds / results["receive_floor_spans_per_s"]
            results[f"receive_sink_share_{mode}"] = round(share, 2)
        log(
            f"{mode}: {spans} spans acknowledged in {seconds:.1f} s; "
            f"{stored_span_count(running.data_dir, mode)} stored"
        )
    finally:
        running.stop()


def burst(workdir: Path, batches, results: dict) -> None:
    env = fresh(workdir, "receive-burst")
    running = start_receiver(env)
    try:
        seconds, spans = send_all(running.url, batches, BURST_SENDERS)
        results["receive_peak_rss_mb"] = round(peak_rss_mb(running.process.pid), 1)
        results["receive_burst_429"] = send_all.statuses.count(429)
        log(f"burst: {spans} spans in {seconds:.1f} s, {results['receive_burst_429']} answers 429")
    finally:
        running.stop()


def lost_after_kill(workdir: Path, batches, results: dict) -> None:
    env = fresh(workdir, "receive-kill")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = start_receiver(env, http_port=port)
    acknowledged: list[int] = []
    total = sum(spans for _, spans in batches)

    def kill_then_restart() -> None:
        while len(acknowledged) < len(batches) // 3:
            time.sleep(0.01)
        os.kill(running.process.pid, signal.SIGKILL)
        running.process.wait()
        log(f"killed the receiver after {len(acknowledged)} acknowledged batches")
        restarted.append(start_receiver(env, "receiver-2.log", http_port=port))

    restarted: list = []
    killer = threading.Thread(target=kill_then_restart)
    killer.start()
    try:
        _, spans = send_all(running.url, batches, SENDERS, acknowledged)
        killer.join()
        acked_spans = sum(batches[i][1] for i in acknowledged)
        stored_now = stored_span_count(running.data_dir, "full")
        # Every batch carries whole, distinct traces, so stored spans count exactly.
        results["receive_lost_spans"] = max(acked_spans - stored_now, 0)
        results["receive_unacknowledged_spans"] = total - acked_spans
        log(f"kill: {acked_spans} of {total} spans acknowledged, {stored_now} stored")
    finally:
        for receiver in [running, *restarted]:
            receiver.stop()


def lag(workdir: Path, results: dict) -> None:
    import datetime
    import statistics

    per_order = spans_per_order(LAG_CALLS)
    batches = sdk_batches(LAG_RATE * LAG_SECONDS // per_order + 1, LAG_CALLS)
    env = fresh(workdir, "receive-lag")
    running = start_receiver(env)
    count = min(len(batches), LAG_RATE * LAG_SECONDS // BATCH)
    sent: dict[str, float] = {}  # order id -> when the batch with its last span was sent
    client = exporter(running.url)._client
    try:
        started = time.time()
        for index in range(count):
            due = started + index * BATCH / LAG_RATE
            time.sleep(max(due - time.time(), 0))
            now = time.time()
            if not client.export(batches[index][0]).success:
                raise RuntimeError("the lag run's export failed")
            first, last = index * BATCH, index * BATCH + batches[index][1] - 1
            # Orders whose spans this batch ends (their last span in it); an order cut off by
            # the end of the run is not counted: the rest of it was never sent.
            for order in range(first // per_order, (last + 1) // per_order):
                sent[f"A-{order:07d}"] = now
        lags: dict[str, float] = {}
        deadline = time.time() + 120
        while len(lags) < len(sent) and time.time() < deadline:
            time.sleep(0.5)
            with sqlite3.connect(running.data_dir / "explorer.sqlite3") as db:
                rows = db.execute("SELECT order_id, computed_at FROM journeys_orderstatus")
                for order, computed in rows.fetchall():
                    at = (
                        datetime.datetime.fromisoformat(computed)
                        .replace(tzinfo=datetime.UTC)
                        .timestamp()
                    )
                    if order in sent and at >= sent[order]:
                        lags[order] = at - sent[order]
        if len(lags) < len(sent):
            log(f"lag: {len(sent) - len(lags)} of {len(sent)} orders never got a status")
        values = sorted(lags.values())
        results["receive_lag_p95_ms"] = (
            round(statistics.quantiles(values, n=20)[18] * 1000) if len(values) >= 20 else None
        )
        results["receive_lag_orders"] = len(lags)
        log(f"lag: {len(lags)} orders, p95 {results['receive_lag_p95_ms']} ms")
    finally:
        running.stop()


def measure(workdir: Path) -> dict:
    """BENCH_RECEIVER_PARTS (default all: throughput,burst,kill,lag) runs only those parts."""
    parts = set(os.environ.get("BENCH_RECEIVER_PARTS", "throughput,burst,kill,lag").split(","))
    results: dict = {}
    if parts & {"throughput", "burst", "kill"}:
        orders = max(int(30_000 * SCALE), 200)
        log(f"making and encoding the spans of {orders} orders with the SDK")
        batches = sdk_batches(orders)
        if "throughput" in parts:
            floor(batches, results)
            throughput(workdir, "full", batches, results)
            throughput(workdir, "index", batches, results)
        if "burst" in parts:
            burst(workdir, batches, results)
        if "kill" in parts:
            lost_after_kill(workdir, batches[: max(len(batches) // 2, 20)], results)
        batches = None
    if "lag" in parts:
        lag(workdir, results)
    return results


if __name__ == "__main__" and sys.argv[1:2] == ["--sink"]:
    _sink(int(sys.argv[2]))
elif __name__ == "__main__":  # run alone: python scripts/bench_receiver.py
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as folder:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "explorer.settings")
        print(json.dumps(measure(Path(folder))))
