"""`simulate --live`: Alexandrite goes on from where the demo's files stop, in accelerated time,
exported by the SDK's OTLP/HTTP exporter to a real HTTP server as the spans end."""

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from explorer.simulation import (
    EPOCH_NS,
    LiveConfig,
    SimulationConfig,
    SimulationError,
    simulate,
    simulate_live,
)
from explorer.simulation.lifecycle import DAY, HOUR
from explorer.simulation.telemetry import HeldUntilDue
from explorer.traces.parsers import iter_file

ORDERS, DAYS, SEED = 12, 2, 4
CUT_NS = EPOCH_NS + DAYS * DAY
MS = 1_000_000
ROOT = Path(__file__).resolve().parent.parent


class _Collector(BaseHTTPRequestHandler):
    """Decodes ExportTraceServiceRequest bodies: (trace, span, parent, end, order id)."""

    spans: list[tuple[str, str, str, int, str]] = []
    received: list[float] = []  # time.monotonic() when each of `spans` arrived
    tokens: set[str] = set()
    fail_first = 0

    def do_POST(self):
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Collector.fail_first > 0:
            _Collector.fail_first -= 1
            self.send_response(400)  # not retried by the exporter
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        _Collector.tokens.add(self.headers.get("Authorization", ""))
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    order = next(
                        (a.value.string_value for a in span.attributes if a.key == "order.id"), ""
                    )
                    _Collector.received.append(time.monotonic())
                    _Collector.spans.append(
                        (
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.end_time_unix_nano,
                            order,
                        )
                    )
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    _Collector.spans, _Collector.received = [], []
    _Collector.tokens, _Collector.fail_first = set(), 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def run_live(
    endpoint: str,
    seconds: float,
    speed: float,
    warnings: list[str],
    orders: int = ORDERS,
    days: int = DAYS,
) -> int:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    started = time.monotonic()
    try:
        result = simulate_live(
            SimulationConfig(out=None, orders=orders, days=days, seed=SEED),
            LiveConfig(endpoint, "demo-token", days, speed),
            stop,
            warnings.append,
        )
    finally:
        timer.cancel()
    assert time.monotonic() - started < seconds + 5  # stops when asked
    return result.spans


@pytest.mark.slow
def test_live_goes_on_from_the_files_in_accelerated_time(collector, tmp_path):
    simulate(SimulationConfig(out=tmp_path, orders=ORDERS, days=DAYS, seed=SEED, until_days=DAYS))
    in_files = {
        (s.trace_id, s.span_id): s
        for path in sorted(tmp_path.iterdir())
        for result in iter_file(path)
        for trace in result.traces
        for s in trace.spans
    }
    warnings: list[str] = []
    speed = 4 * DAY / 1e9  # four simulated days a second
    began = time.monotonic()
    exported = run_live(collector, 4, speed, warnings)
    elapsed = time.monotonic() - began
    live = _Collector.spans
    assert warnings == []
    assert exported == len(live) > 20
    assert _Collector.tokens == {"Bearer demo-token"}
    # Nothing the files hold, nothing that ended at or before their cut-off...
    assert not {(t, s) for t, s, _, _, _ in live} & set(in_files)
    assert min(end for _, _, _, end, _ in live) > CUT_NS
    # ...and not ahead of the wall clock at the speed asked (a step may end a little later).
    assert max(end for _, _, _, end, _ in live) < CUT_NS + (elapsed + 1) * speed * 1e9
    # Every parent is in the files or arrived live: together they are whole traces.
    known = {s for _, s in in_files} | {s for _, s, _, _, _ in live}
    assert all(parent in known for _, _, parent, _, _ in live if parent)
    orders = {order for *_, order in live if order}
    assert {o for o in orders if o <= f"A-{100000 + ORDERS}"}  # the files' orders go on
    assert {o for o in orders if o > f"A-{100000 + ORDERS}"}  # and new orders come in


@pytest.mark.slow
def test_no_span_arrives_before_the_clock_reaches_its_end(collector):
    """A step makes its spans at once, some ending hours later (a seller closing an order by
    hand in working hours): they are sent when the clock reaches their end. After 14 days of
    300 orders many are closing; sent at once, spans came up to 9.5 simulated hours early."""
    speed = HOUR / 1e9  # an hour a second
    began = time.monotonic()  # before the live clock starts: its reading is ahead, if anything
    warnings: list[str] = []
    run_live(collector, 4, speed, warnings, orders=300, days=14)
    assert warnings == [] and len(_Collector.spans) > 20
    cut = EPOCH_NS + 14 * DAY
    early = [
        (end - cut) / HOUR - (received - began)
        for (*_, end, _), received in zip(_Collector.spans, _Collector.received, strict=True)
        if end > cut + (received - began) * speed * 1e9 + MS
    ]
    assert early == [], "simulated hours ahead of the clock when sent"


@pytest.mark.slow
def test_resuming_sends_nothing_before_and_paces_from_there(collector):
    resume = CUT_NS + 6 * HOUR
    speed = HOUR / 1e9
    stop = threading.Event()
    timer = threading.Timer(3, stop.set)
    timer.start()
    began = time.monotonic()
    try:
        simulate_live(
            SimulationConfig(out=None, orders=ORDERS, days=DAYS, seed=SEED),
            LiveConfig(collector, None, DAYS, speed, resume_ns=resume),
            stop,
            print,
        )
    finally:
        timer.cancel()
    ends = [end for *_, end, _ in _Collector.spans]
    assert ends and min(ends) > resume
    assert all(
        end <= resume + (received - began) * speed * 1e9 + MS
        for end, received in zip(ends, _Collector.received, strict=True)
    )


@pytest.mark.slow
def test_the_demo_goes_on_where_the_store_stops(collector, tmp_path):
    """`simulate --live --resume-from-store`, as scripts/demo.sh runs it: after the store has
    received a day more than the files (an earlier live run), it goes on from there."""
    env = {**os.environ, "EXPLORER_DATA_DIR": str(tmp_path)}
    manage = [sys.executable, "manage.py"]
    options = ["--orders", str(ORDERS), "--days", str(DAYS), "--seed", str(SEED)]
    live = [*manage, "simulate", *options, "--live", "--otlp-endpoint", collector]
    live += ["--resume-from-store", "--speed", "3600"]

    def first_line() -> str:
        process = subprocess.Popen(live, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        line = process.stdout.readline()
        process.terminate()
        process.communicate(timeout=30)
        return line

    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    assert "(the end of day 2)" in first_line()  # nothing stored yet
    out = tmp_path / "files"
    simulate_files = [*manage, "simulate", *options, "--until-days", "3", "--out", str(out)]
    subprocess.run(simulate_files, cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*manage, "ingest", str(out)], cwd=ROOT, env=env, check=True, capture_output=True
    )
    newest = max(
        s.end_ns
        for path in out.iterdir()
        for r in iter_file(path)
        for t in r.traces
        for s in t.spans
    )
    assert CUT_NS < newest <= CUT_NS + DAY
    line = first_line()
    assert "(where the newest trace stored ends)" in line
    assert datetime.fromtimestamp(newest / 1e9, UTC).strftime("%Y-%m-%d %H:%M") in line


def test_held_spans_go_on_in_the_order_they_end_once_due():
    passed: list[str] = []

    class Inner(SpanProcessor):
        def on_end(self, span):
            passed.append(span.name)

    held = HeldUntilDue(Inner())
    provider = TracerProvider()
    provider.add_span_processor(held)
    tracer = provider.get_tracer("test")
    for name, start, end in [
        ("late", 0, 50),
        ("soon", 0, 10),
        ("also soon", 5, 10),
        ("never", 0, 99),
    ]:
        tracer.start_span(name, start_time=start).end(end_time=end)
    assert passed == []
    held.release(9)
    assert passed == []
    held.release(10)
    assert passed == ["soon", "also soon"]
    held.release(60)
    assert passed == ["soon", "also soon", "late"]
    provider.shutdown()  # "never" has not happened yet
    assert passed == ["soon", "also soon", "late"]


def test_a_failed_export_is_reported_and_the_live_run_goes_on(collector):
    _Collector.fail_first = 2
    warnings: list[str] = []
    run_live(collector, 1.5, 8 * DAY / 1e9, warnings)
    assert len(warnings) == 2 and "could not export" in warnings[0]
    assert _Collector.spans  # the exports after them arrived


def test_live_options_are_checked(collector):
    config = SimulationConfig(out=None, orders=ORDERS, days=DAYS, seed=SEED)
    with pytest.raises(SimulationError, match="--until-days"):
        simulate_live(config, LiveConfig(collector, None, DAYS - 1), threading.Event(), print)
    with pytest.raises(SimulationError, match="speed"):
        simulate_live(config, LiveConfig(collector, None, DAYS, 0), threading.Event(), print)
