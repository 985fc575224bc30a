"""The simulated Alexandrite: deterministic OTLP JSON lines from the real OpenTelemetry SDK."""

import json
import os
import re
import subprocess
import sys
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from explorer.c4.loader import load_model
from explorer.journeys.state_graph import load_state_graph
from explorer.simulation import FAULT_KINDS, SimulationConfig, SimulationError, simulate
from explorer.simulation.faults import parse_fault_rates
from explorer.traces.model import SpanKind, StatusCode
from explorer.traces.parsers import iter_file

ROOT = Path(__file__).resolve().parent.parent
ALEXANDRITE = ROOT / "explorer" / "alexandrite"
NO_FAULTS = dict.fromkeys(FAULT_KINDS, 0.0)
TEN_STATES = [
    "INITIATED",
    "FILE_UPLOADED",
    "SUBMITTED",
    "PRICE_CALCULATED",
    "MANUFACTURING_APPROVED",
    "MANUFACTURING_STARTED",
    "MANUFACTURING_COMPLETED",
    "PACKAGING",
    "SHIPPED",
    "CLOSED",
]


def run(tmp: Path, **options) -> tuple[list[Path], dict]:
    config = SimulationConfig(out=tmp / "out", truth=tmp / "truth.json", **options)
    result = simulate(config)
    return result.files, json.loads((tmp / "truth.json").read_text())


def read_bytes(files: list[Path]) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in files}


def parsed_spans(files: list[Path]) -> list:
    spans, errors = [], []
    for path in files:
        for result in iter_file(path):
            errors.extend(result.errors)
            spans.extend(s for t in result.traces for s in t.spans)
    assert errors == []
    return spans


def state_events(spans) -> dict[str, list[tuple[int, str | None, str, str]]]:
    """order id -> [(time, previous, new, service)] in time order."""
    events = defaultdict(list)
    for span in spans:
        for event in span.events:
            if event.name == "order.state_changed":
                events[span.attributes["order.id"]].append(
                    (
                        event.time_ns,
                        event.attributes.get("order.state.previous"),
                        event.attributes["order.state.new"],
                        span.service,
                    )
                )
    return {order: sorted(changes) for order, changes in events.items()}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    files, truth = run(tmp, orders=40, days=3, seed=5, fault_rates=NO_FAULTS)
    return files, truth, parsed_spans(files)


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faulty")
    files, truth = run(
        tmp, orders=200, days=7, seed=11, fault_rates=dict.fromkeys(FAULT_KINDS, 0.14)
    )
    return files, truth, parsed_spans(files)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    first, _ = run(tmp_path / "a", orders=15, days=2, seed=3)
    second, _ = run(tmp_path / "b", orders=15, days=2, seed=3)
    other, _ = run(tmp_path / "c", orders=15, days=2, seed=4)
    assert len(first) > 1
    assert read_bytes(first) == read_bytes(second)
    assert read_bytes(first) != read_bytes(other)
    assert (tmp_path / "a" / "truth.json").read_bytes() == (
        tmp_path / "b" / "truth.json"
    ).read_bytes()


def test_output_does_not_depend_on_the_hash_seed(tmp_path):
    files, _ = run(tmp_path / "here", orders=15, days=2, seed=3)
    script = (
        "import sys; from pathlib import Path; "
        "from explorer.simulation import SimulationConfig, simulate; "
        "simulate(SimulationConfig(out=Path(sys.argv[1]), orders=15, days=2, seed=3))"
    )
    env = {
        **os.environ,
        "PYTHONHASHSEED": "12345",
        "OTEL_TRACES_SAMPLER": "always_off",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=intruder",
    }
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "there")],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    there = sorted((tmp_path / "there").glob("*.jsonl"))
    assert read_bytes(files) == read_bytes(there)


def test_a_second_run_replaces_the_files_of_the_first(tmp_path):
    run(tmp_path, orders=30, days=6, seed=1)
    files, _ = run(tmp_path, orders=3, days=1, seed=1)
    assert sorted((tmp_path / "out").glob("*.jsonl")) == sorted(files)


def test_lines_are_collector_file_exporter_requests(clean_run):
    files, _, spans = clean_run
    line = json.loads(files[0].read_text().splitlines()[0])
    resource_spans = line["resourceSpans"][0]
    keys = {a["key"] for a in resource_spans["resource"]["attributes"]}
    assert {"service.name", "service.version", "deployment.environment.name"} <= keys
    span = resource_spans["scopeSpans"][0]["spans"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
    assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
    assert span["startTimeUnixNano"].isdigit() and isinstance(span["kind"], int)
    assert sum(len(f.read_text().splitlines()) for f in files) < len(spans)


def test_every_container_that_runs_code_appears_as_a_service(clean_run):
    _, _, spans = clean_run
    model = load_model(ALEXANDRITE / "model.dsl")  # databases and the queue have kinds of their own
    code = [e.id for e in model.elements.values() if e.kind == "container"]
    assert len(code) == 6
    mapping = json.loads((ALEXANDRITE / "mapping.json").read_text())
    names = {rule["element"]: rule["match"]["service.name"] for rule in mapping["services"]}
    assert {names[c] for c in code} <= {s.service for s in spans}


def test_without_faults_shop_and_partner_orders_pass_all_ten_states(clean_run):
    _, truth, spans = clean_run
    events = state_events(spans)
    kinds = {(o["source"], o["customer_type"]) for o in truth["orders"].values()}
    assert {("shop", "retail"), ("partner_api", "b2b_partner")} <= kinds
    for order, facts in truth["orders"].items():
        assert [new for _, _, new, _ in events[order]] == TEN_STATES, order
        assert [prev for _, prev, _, _ in events[order]] == [None, *TEN_STATES[:-1]]
        assert facts["final_state"] == "CLOSED"
    assert all(not kinds for kinds in truth["faults"].values())


def test_each_state_is_set_by_a_container_that_owns_it(clean_run):
    _, _, spans = clean_run
    graph = load_state_graph(ALEXANDRITE / "states.json")
    mapping = json.loads((ALEXANDRITE / "mapping.json").read_text())
    element_of = {rule["match"]["service.name"]: rule["element"] for rule in mapping["services"]}
    for changes in state_events(spans).values():
        for _, previous, new, service in changes:
            assert element_of[service] in graph.owners(new)
            assert previous is None or graph.is_allowed(previous, new)


def test_traces_propagate_across_services_and_consumers_link_to_producers(clean_run):
    _, _, spans = clean_run
    by_id = {s.span_id: s for s in spans}
    servers = [s for s in spans if s.kind == SpanKind.SERVER and s.parent_id]
    assert servers and all(by_id[s.parent_id].trace_id == s.trace_id for s in servers)
    assert {(by_id[s.parent_id].service, s.service) for s in servers} >= {
        ("internet-shop", "shop-api"),
        ("crm", "crm-api"),
        ("mes", "mes-api"),
        ("shop-api", "mes-api"),
    }  # the price quote the model lacks
    consumers = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert consumers
    for consumer in consumers:
        assert consumer.parent_id is None and len(consumer.links) == 1
        producer = by_id[consumer.links[0].span_id]
        assert producer.kind == SpanKind.PRODUCER and producer.trace_id != consumer.trace_id
        assert (
            producer.attributes["messaging.message.id"]
            == consumer.attributes["messaging.message.id"]
        )
    topics = {s.attributes["messaging.destination.name"] for s in consumers}
    assert len(topics) >= 4


def test_spans_carry_semantic_conventions_and_business_attributes(clean_run):
    _, _, spans = clean_run
    db = [s for s in spans if "db.system.name" in s.attributes]
    assert {s.attributes["db.namespace"] for s in db} == {"shop", "mes"}
    assert all(
        s.attributes["db.system.name"] == "postgresql"
        and "db.query.text" in s.attributes
        and "db.operation.name" in s.attributes
        for s in db
    )
    s3 = [s for s in spans if s.attributes.get("rpc.system") == "aws-api"]
    assert s3 and all(s.attributes["aws.s3.bucket"] for s in s3)
    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    assert all(
        {"http.request.method", "http.route", "url.path", "http.response.status_code"}
        <= s.attributes.keys()
        for s in servers
    )
    messaging = [s for s in spans if "messaging.system" in s.attributes]
    assert {s.attributes["messaging.operation.type"] for s in messaging} == {
        "publish",
        "receive",
        "process",
    }
    with_order = [s for s in spans if "order.id" in s.attributes]
    assert len(with_order) > 0.8 * len(spans)
    assert all(
        s.attributes["customer.type"] in {"retail", "b2b_partner", "vip"}
        and s.attributes["customer.id"].startswith("C-")
        for s in with_order
    )
    # every span of a trace that handles one order carries it
    order_traces = {s.trace_id for s in with_order}
    assert all("order.id" in s.attributes for s in spans if s.trace_id in order_traces)


def test_operators_work_in_working_hours(clean_run):
    _, _, spans = clean_run
    clicks = [s for s in spans if s.service == "mes" and s.name.startswith("click")]
    assert clicks
    for click in clicks:
        hour = click.start_ns // 3_600_000_000_000 % 24
        weekday = (click.start_ns // 86_400_000_000_000 + 3) % 7  # 1970-01-01 was a Thursday
        assert 8 <= hour < 20 and weekday < 6


def test_each_fault_appears_at_its_rate_in_the_truth(faulty_run):
    _, truth, _ = faulty_run
    for kind in FAULT_KINDS:
        assert 0.7 * 28 <= len(truth["faults"][kind]) <= 1.3 * 28, kind
    lost = set(truth["faults"]["lost_message"])
    for order, facts in truth["orders"].items():
        assert (facts["final_state"] != "CLOSED") == (order in lost), order


def _orders_where(spans, predicate) -> set[str]:
    return {s.attributes["order.id"] for s in spans if "order.id" in s.attributes and predicate(s)}


def test_each_fault_is_visible_in_the_traces(faulty_run):
    _, truth, spans = faulty_run
    faults = {kind: set(orders) for kind, orders in truth["faults"].items()}
    consumed = defaultdict(int)
    for s in spans:
        if s.kind == SpanKind.CONSUMER:
            consumed[s.attributes["messaging.message.id"]] += 1
    produced = [s for s in spans if s.kind == SpanKind.PRODUCER]
    assert (
        _orders_where(produced, lambda s: not consumed[s.attributes["messaging.message.id"]])
        == faults["lost_message"]
    )
    assert (
        _orders_where(produced, lambda s: consumed[s.attributes["messaging.message.id"]] == 2)
        == faults["duplicate_delivery"]
    )
    assert (
        _orders_where(
            spans, lambda s: s.name == "PriceCalculator.Calculate" and s.duration_ns > 5e9
        )
        == faults["slow_price"]
    )
    assert all(
        s.status_code != StatusCode.ERROR for s in spans if s.name == "PriceCalculator.Calculate"
    )
    assert (
        _orders_where(
            spans,
            lambda s: (
                s.service == "crm-api"
                and s.kind == SpanKind.SERVER
                and s.attributes["http.response.status_code"] >= 500
                and s.is_error
            ),
        )
        == faults["crm_5xx"]
    )
    retried = _orders_where(spans, lambda s: s.attributes.get("http.request.resend_count", 0))
    assert retried == faults["crm_5xx"]
    assert (
        _orders_where(spans, lambda s: "db.system.name" in s.attributes and s.is_error)
        == faults["db_timeout"]
    )
    graph = load_state_graph(ALEXANDRITE / "states.json")
    events = state_events(spans)
    mismatched = {
        order
        for order, changes in events.items()
        if any(
            service == "crm-api" and "mes_api" in graph.owners(new)
            for _, _, new, service in changes
        )
    }
    assert mismatched == faults["state_mismatch"]
    disallowed = {
        order
        for order, changes in events.items()
        if any(
            prev is not None and not graph.is_allowed(prev, new) and service == "mes-api"
            for _, prev, new, service in changes
        )
    }
    assert disallowed == faults["disallowed_transition"]


class _Receiver(BaseHTTPRequestHandler):
    """A minimal OTLP/HTTP receiver: decodes ExportTraceServiceRequest protobuf bodies."""

    received: list[tuple[str, str]]

    def do_POST(self):
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                self.received.extend((service, span.span_id.hex()) for span in scope_spans.spans)
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def test_otlp_http_export_sends_the_same_spans_as_the_files(tmp_path):
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        files, _ = run(tmp_path, orders=12, days=2, seed=2, otlp_endpoint=endpoint)
    finally:
        server.shutdown()
        server.server_close()
    in_files = [(s.service, s.span_id) for s in parsed_spans(files)]
    assert len(in_files) > 500
    assert sorted(_Receiver.received) == sorted(in_files)


def test_an_unreachable_otlp_endpoint_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0.5")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    port = server.server_port
    server.server_close()  # nothing listens there now
    with pytest.raises(SimulationError, match=f"127.0.0.1:{port}/v1/traces"):
        run(
            tmp_path,
            orders=1,
            days=1,
            seed=1,
            otlp_endpoint=f"http://127.0.0.1:{port}",
            fault_rates=NO_FAULTS,
        )


def test_fault_rate_options_are_checked():
    assert parse_fault_rates(["all=0", "slow_price=0.25"]) == {**NO_FAULTS, "slow_price": 0.25}
    for bad, message in [
        ("typo=0.1", "KIND=RATE"),
        ("slow_price", "KIND=RATE"),
        ("slow_price=2", "from 0 to 1"),
        ("slow_price=x", "from 0 to 1"),
        ("all=0.5", "add up to"),
    ]:
        with pytest.raises(SimulationError, match=message):
            parse_fault_rates([bad])


def test_the_command_writes_files_and_reports_bad_options(tmp_path, capsys):
    call_command(
        "simulate",
        "--orders",
        "3",
        "--days",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--truth",
        str(tmp_path / "truth.json"),
        "--fault-rate",
        "all=0",
    )
    assert "spans of 3 orders" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "truth.json").read_text())["orders"]) == 3
    for args, message in [
        (["--orders", "0"], "--orders"),
        (["--fault-rate", "x=1"], "KIND"),
        (["--otlp-endpoint", "ftp://x"], "http://"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("simulate", "--out", str(tmp_path / "bad"), *args)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CommandError, match="output directory"):
        call_command("simulate", "--orders", "1", "--out", str(blocker / "sub"))


@pytest.mark.slow
def test_2000_orders_run_in_bounded_memory(tmp_path):
    script = (
        "import resource, sys; from pathlib import Path; "
        "from explorer.simulation import SimulationConfig, simulate; "
        "r = simulate(SimulationConfig(out=Path(sys.argv[1]), orders=int(sys.argv[2]), "
        "days=14, seed=1)); "
        "print(r.spans, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )

    def measure(orders: int) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / str(orders)), str(orders)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout.split()
        return int(out[0]), int(out[1])

    small_spans, small_kib = measure(100)
    spans, kib = measure(2000)
    assert spans > 15 * small_spans
    # 20 times the spans, yet only the orders in progress are held: a few MB more at most.
    assert kib - small_kib < 40 * 1024, (small_kib, kib)
