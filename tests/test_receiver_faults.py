"""Faults of the storage under the receiver: PostgreSQL restarting while the real OpenTelemetry
SDK exporters send (OTLP/HTTP and OTLP/gRPC), and a full disk under SQLite. Nothing answered
OK may be lost, the exporters' retries fill in what was refused meanwhile, and the receiver
and its live worker go on once the database is back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import grpc
import pytest
import requests
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from explorer.receiver.grpc_server import SERVICE
from tests.receiver_support import TOKEN, Running, receiver_env, start_receiver
from tests.test_receiver import HEADERS, request_body, trace_id
from tests.test_receiver_process import sdk_batches, trace_of

AUTH = {"authorization": f"Bearer {TOKEN}"}
AUTH_METADATA = ("authorization", f"Bearer {TOKEN}")
# What the receiver logs for each request the database did not take.
REFUSED = "the database did not take the spans"


@dataclass
class Sender:
    """A thread exporting one batch (a whole trace) after another until stopped; the traces
    its exporter was told were stored, and those it was told were not."""

    exporter: HttpExporter | GrpcExporter
    batches: list[list]
    done: threading.Event = field(default_factory=threading.Event)
    acknowledged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def run(self) -> None:
        for batch in self.batches:
            if self.done.is_set():
                break
            result = self.exporter.export(batch)
            (self.acknowledged if result == SpanExportResult.SUCCESS else self.failed).append(
                trace_of(batch)
            )

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread


def wait_for(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def senders_of(running: Running) -> list[Sender]:
    return [
        Sender(HttpExporter(endpoint=running.url, headers=AUTH, timeout=20), sdk_batches(400)),
        Sender(
            GrpcExporter(endpoint=running.grpc_endpoint, headers=AUTH, insecure=True, timeout=20),
            sdk_batches(400),
        ),
    ]


def raw_answers(running: Running, trace_byte: int) -> tuple[requests.Response, grpc.RpcError]:
    """One request each way, as an exporter sends it: the HTTP answer and the gRPC error."""
    http = requests.post(running.url, data=request_body(trace_byte), headers=HEADERS, timeout=30)
    with grpc.insecure_channel(running.grpc_endpoint) as channel:
        export = channel.unary_unary(f"/{SERVICE}/Export")  # raw bytes both ways
        with pytest.raises(grpc.RpcError) as caught:
            export(request_body(trace_byte + 1), metadata=(AUTH_METADATA,), timeout=30)
    return http, caught.value


def retry_delay_s(error: grpc.RpcError) -> int:
    retry = error_details_pb2.RetryInfo.FromString(
        dict(error.trailing_metadata())["google.rpc.retryinfo-bin"]
    )
    return retry.retry_delay.seconds


@pytest.mark.postgresql
@pytest.mark.slow
def test_postgresql_restarting_loses_nothing_acknowledged(postgres, migrated, tmp_path):
    """PostgreSQL down from the receiver's first request on (its writers had never read the
    mapping: a 500 before, which exporters drop), then stopping (`pg_ctl stop -m fast`, its
    sessions ended) and starting again while both exporters send: requests meanwhile are
    answered 503 / UNAVAILABLE with a retry delay, the exporters retry, every trace they
    were told was stored is stored, and the live worker (cycles failing while the database
    is away) computes the orders once it is back. About 5 s: two restarts, retries 1 s apart."""
    url = postgres.create_database("explorer_faults", template=migrated)
    env = {**receiver_env(tmp_path, EXPLORER_LIVE_INTERVAL_SECONDS="0.2"), "DATABASE_URL": url}
    running = start_receiver(env)
    try:
        postgres.stop()
        http, rpc = raw_answers(running, 1)
        assert postgres.start(), postgres.log_text()
        assert http.status_code == 503 and http.headers["Retry-After"] == "1", http.content
        status = status_pb2.Status.FromString(http.content)
        assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert "the database is unavailable (OperationalError)" in status.message
        assert "retry later" in status.message and "127.0.0.1" not in status.message
        assert rpc.code() == grpc.StatusCode.UNAVAILABLE and retry_delay_s(rpc) == 1
        senders = exports_across_a_restart(running, postgres)
        wait_for(lambda: order_statuses(postgres) >= {"K-0", "K-1"}, "the live worker's orders")
        health = requests.get(f"http://127.0.0.1:{running.http_port}/health", timeout=10)
    finally:
        running.stop()
    log = running.log_text()
    assert all(not s.failed for s in senders), (log, [s.failed for s in senders])
    stored = dict(
        postgres.connect("explorer_faults")
        .execute("SELECT trace_id, span_count FROM store_trace")
        .fetchall()
    )
    for sender in senders:
        assert {t: stored.get(t) for t in sender.acknowledged} == dict.fromkeys(
            sender.acknowledged, 5
        )
    assert trace_id(1) not in stored and trace_id(2) not in stored
    assert health.status_code == 200 and health.json()["worker"]["ok"], health.text


def exports_across_a_restart(running: Running, postgres) -> list[Sender]:
    """Both exporters sending while PostgreSQL stops and starts again; they are stopped
    after five more traces each were acknowledged."""
    senders = senders_of(running)
    threads = [sender.start() for sender in senders]
    try:
        wait_for(lambda: all(len(s.acknowledged) >= 5 for s in senders), "the first exports")
        postgres.stop()
        wait_for(lambda: running.log_text().count(REFUSED) >= 4, "refusals while it is down")
        wait_for(lambda: "live worker: the cycle failed" in running.log_text(), "a failed cycle")
        assert postgres.start(), postgres.log_text()
        counts = [len(s.acknowledged) for s in senders]
        wait_for(
            lambda: all(len(s.acknowledged) >= n + 5 for s, n in zip(senders, counts, strict=True)),
            "exports after the restart",
        )
    finally:
        for sender in senders:
            sender.done.set()
        for thread in threads:
            thread.join(30)
    return senders


def order_statuses(postgres) -> set[str]:
    with postgres.connect("explorer_faults") as conn:
        rows = conn.execute("SELECT order_id FROM journeys_orderstatus").fetchall()
    return {order for (order,) in rows}
