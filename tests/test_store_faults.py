"""Faults of the storage under the receiver and the pages: PostgreSQL restarting while the
real OpenTelemetry SDK exporters send (OTLP/HTTP and OTLP/gRPC), and a full disk under
SQLite. Nothing answered OK may be lost, the exporters' retries fill in what was refused
meanwhile, the receiver and its live worker go on once the database is back, and the pages
say the database is away (503 with Retry-After), not that the explorer broke."""

from __future__ import annotations

import errno
import json
import os
import pwd
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import requests
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace.export import SpanExportResult

from explorer.receiver.grpc_server import SERVICE
from explorer.store import faults
from explorer.store.trace_ids import unpack_trace_id
from explorer.web import outage
from tests.pages_support import Server
from tests.receiver_support import (
    ROOT,
    TOKEN,
    Running,
    migrate,
    receiver_env,
    start_receiver,
    stored_spans,
)
from tests.test_receiver import HEADERS, request_body, trace_id
from tests.test_receiver_process import sdk_batches, trace_of

AUTH = {"authorization": f"Bearer {TOKEN}"}
AUTH_METADATA = ("authorization", f"Bearer {TOKEN}")
# What the receiver logs for each request the database did not take.
REFUSED = "the database did not take the spans"
# What the live worker logs for each cycle that failed.
CYCLE_FAILED = "live worker: the cycle failed"


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
    is away) computes the orders once it is back. 5-9 s: two restarts, retries 1 s apart."""
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
    rows = postgres.connect("explorer_faults").execute(
        "SELECT trace_id, span_count FROM store_trace"
    )
    stored = {unpack_trace_id(trace_id): spans for trace_id, spans in rows.fetchall()}
    for sender in senders:
        assert {t: stored.get(t) for t in sender.acknowledged} == dict.fromkeys(
            sender.acknowledged, 5
        )
    assert trace_id(1) not in stored and trace_id(2) not in stored
    assert health.status_code == 200 and health.json()["worker"]["ok"], health.text


def exports_across_a_restart(running: Running, postgres) -> list[Sender]:
    return exports_across(running, postgres.stop, postgres.start, worker_fails=True)


def exports_across(running: Running, fault, repair, worker_fails: bool) -> list[Sender]:
    """Both exporters sending while `fault()` and, once four more requests were refused
    (and, if `worker_fails`, another cycle of the live worker failed), `repair()` happen;
    they are stopped after five more traces each were acknowledged."""
    senders = senders_of(running)
    threads = [sender.start() for sender in senders]
    try:
        wait_for(lambda: all(len(s.acknowledged) >= 5 for s in senders), "the first exports")
        refused, failed = (running.log_text().count(line) for line in (REFUSED, CYCLE_FAILED))
        fault()
        wait_for(lambda: running.log_text().count(REFUSED) >= refused + 4, "refusals meanwhile")
        if worker_fails:
            wait_for(lambda: running.log_text().count(CYCLE_FAILED) > failed, "a failed cycle")
        assert repair() is not False
        counts = [len(s.acknowledged) for s in senders]
        wait_for(
            lambda: all(len(s.acknowledged) >= n + 5 for s, n in zip(senders, counts, strict=True)),
            "exports after the repair",
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


@contextmanager
def tmpfs(folder: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (made here; root only: skips the test
    otherwise), unmounted afterwards."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the full disk: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs for the test."""
    with tmpfs(tmp_path / "disk") as disk:
        yield disk


def fill(disk: Path) -> Path:
    """A file taking every free byte of `disk`."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


# Every trace of the store read back through the store's own reader: trace id -> spans.
_READ_BACK = """
import json
from explorer.composition import get_source
from explorer.store.models import StoredTrace
ids = list(StoredTrace.objects.values_list("trace_id", flat=True))
print(json.dumps({t.trace_id: len(t.spans) for t in get_source("embedded").get_traces(ids)}))
"""


def read_back(env: dict[str, str]) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", _READ_BACK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class WhileFull:
    """Requests sent while the disk is full: the traces acknowledged (a write that still
    fits in SQLite's log is stored), the bodies refused, and the refusals each way."""

    acknowledged: list[str] = field(default_factory=list)
    refused: list[bytes] = field(default_factory=list)
    http: requests.Response | None = None
    rpc: grpc.RpcError | None = None


def new_operations_body(number: int) -> bytes:
    """A trace of two spans naming operations never seen before, one with a 60 KB
    attribute (filling SQLite's log quickly)."""
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(
        request_body(number, big=60_000)
    )
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.name = f"operation {number}"
    return request.SerializeToString()


def send_while_full(running: Running) -> WhileFull:
    """Requests over HTTP until one is refused, then over gRPC until one is (at most 60)."""
    sent = WhileFull()
    with grpc.insecure_channel(running.grpc_endpoint) as channel:
        export = channel.unary_unary(f"/{SERVICE}/Export")
        for number in range(100, 160):
            body = new_operations_body(number)
            if sent.http is None:
                answer = requests.post(running.url, data=body, headers=HEADERS, timeout=30)
                refused = answer.status_code != 200
                sent.http = answer if refused else None
            else:
                try:
                    export(body, metadata=(AUTH_METADATA,), timeout=30)
                    refused = False
                except grpc.RpcError as exc:
                    refused, sent.rpc = True, exc
            if refused:
                sent.refused.append(body)
            else:
                sent.acknowledged.append(trace_id(number))
            if sent.rpc is not None:
                return sent
    raise AssertionError(f"the full disk did not refuse both ways: {sent}")


@pytest.mark.slow
def test_a_full_disk_refuses_clearly_and_keeps_the_store(small_disk, tmp_path):
    """SQLite on a 16 MiB tmpfs that fills up while both exporters send: requests are
    answered 503 / RESOURCE_EXHAUSTED (with a retry delay) saying the disk is full, the
    store stays whole (integrity_check ok, every acknowledged trace read back while the disk
    is full), and once space is freed the exporters' retries and the refused requests sent
    again are stored (those naming new operations too: the writer forgot the operations of
    its rolled-back transaction). 6-13 s (a migration, a receiver, a read-back process and
    retries 1 s apart)."""
    env = receiver_env(
        small_disk, EXPLORER_LIVE_INTERVAL_SECONDS="0.2", EXPLORER_RECEIVER_WRITERS="1"
    )
    migrate(env)
    running = start_receiver(env, log_name=str(tmp_path / "receiver.log"))
    database = small_disk / "explorer.sqlite3"
    state: dict = {}

    def full() -> None:
        state["filler"] = fill(small_disk)
        state["while full"] = send_while_full(running)

    def freed() -> None:
        with sqlite3.connect(database) as db:
            state["integrity"] = db.execute("PRAGMA integrity_check").fetchall()
        state["read"] = read_back(env)
        state["filler"].unlink()
        state["resent"] = [
            requests.post(running.url, data=body, headers=HEADERS, timeout=30)
            for body in state["while full"].refused
        ]

    try:
        senders = exports_across(running, full, freed, worker_fails=False)
        health = requests.get(f"http://127.0.0.1:{running.http_port}/health", timeout=10)
    finally:
        running.stop()
    log = running.log_text()
    assert health.status_code == 200 and health.json()["worker"]["ok"], health.text
    assert all(not s.failed for s in senders), (log, [s.failed for s in senders])
    while_full: WhileFull = state["while full"]
    assert while_full.http is not None and while_full.rpc is not None
    assert while_full.http.status_code == 503, while_full.http.content
    assert while_full.http.headers["Retry-After"] == "1"
    status = status_pb2.Status.FromString(while_full.http.content)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "the database's disk is full" in status.message
    assert while_full.rpc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, log
    assert retry_delay_s(while_full.rpc) == 1
    assert [answer.status_code for answer in state["resent"]] == [200, 200], log
    assert state["integrity"] == [("ok",)]
    acknowledged = [t for s in senders for t in s.acknowledged]
    read = state["read"]
    assert set(read) >= set(while_full.acknowledged) and all(read[t] >= 2 for t in read)
    stored = stored_spans(small_disk)
    assert {t: stored.get(t) for t in acknowledged} == dict.fromkeys(acknowledged, 5)
    sent = [trace_id(n) for n in range(100, 100 + len(while_full.acknowledged) + 2)]
    assert {t: stored.get(t) for t in sent} == dict.fromkeys(sent, 2)
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.postgresql
@pytest.mark.slow
def test_pages_answer_503_with_retry_after_while_postgresql_is_down(postgres, migrated, tmp_path):
    """A signed-in viewer's page (its session is read from the database before any view)
    while PostgreSQL is stopped: 503 with Retry-After and a page saying so, in English and
    Russian; once it is back, the page is served again (here: the unknown session is sent to
    the login page). 2.5-4 s: a runserver start, a PostgreSQL stop and start."""
    url = postgres.create_database("explorer_pages", template=migrated)
    server = Server.start(tmp_path, DATABASE_URL=url)

    def page(language: str) -> requests.Response:
        return requests.get(
            f"{server.url}/",
            cookies={"sessionid": "x" * 32},
            headers={"Accept-Language": language},
            allow_redirects=False,
            timeout=30,
        )

    try:
        postgres.stop()
        try:
            english, russian = page("en"), page("ru")
        finally:
            assert postgres.start(), postgres.log_text()
        after = page("en")
    finally:
        server.stop()
    for answer in (english, russian):
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == str(outage.RETRY_AFTER_S)
        assert "OperationalError" not in answer.text and "127.0.0.1" not in answer.text
    assert "<h1>Database unavailable</h1>" in english.text and 'lang="en"' in english.text
    assert "it may be restarting" in english.text
    assert "<h1>База данных недоступна</h1>" in russian.text and 'lang="ru"' in russian.text
    assert after.status_code == 302 and "/accounts/login/" in after.headers["Location"]
    assert "Service Unavailable: /" in server.log.read_text()  # logged, with the traceback


def full_database_error(disk: Path) -> sqlite3.OperationalError:
    """The error SQLite gives when its disk is full, from a real write to a full disk."""
    with sqlite3.connect(disk / "full.sqlite3") as db:
        db.execute("CREATE TABLE filler (data BLOB)")
        try:
            while True:
                db.execute("INSERT INTO filler VALUES (zeroblob(1048576))")
                db.commit()
        except sqlite3.OperationalError as exc:
            return exc


def test_a_full_disk_is_told_as_such_on_pages(small_disk, rf):
    """The page and the receiver's refusal name the full disk (SQLITE_FULL, as Django
    raises it from the sqlite3 error); a database error of another kind is no outage."""
    from django.db import DataError, OperationalError

    error = full_database_error(small_disk)
    assert faults.disk_full(error) and faults.unavailable(error)
    wrapped = OperationalError(str(error))
    wrapped.__cause__ = error
    assert faults.disk_full(wrapped) and faults.unavailable(wrapped)
    assert not faults.unavailable(DataError("value too long"))
    request = rf.get("/", HTTP_ACCEPT_LANGUAGE="ru")
    answer = outage.database_unavailable(request, wrapped)
    assert answer.status_code == 503 and answer["Retry-After"] == str(outage.RETRY_AFTER_S)
    assert "закончилось место на диске" in answer.content.decode()


@pytest.mark.postgresql
def test_postgresql_out_of_disk_space_is_told_as_a_full_disk(postgres):
    """PostgreSQL's own "could not extend file" (a table in a tablespace on a full 4 MiB
    tmpfs in the server's folder, which its user can reach) is a full disk too, as psycopg
    raises it and as Django wraps it."""
    import psycopg
    from django.db import OperationalError

    with tmpfs(postgres.data.parent / "small", "4m") as disk, postgres.connect() as conn:
        if postgres.as_user:
            owner = pwd.getpwnam("postgres")
            os.chown(disk, owner.pw_uid, owner.pw_gid)
        conn.execute(f"CREATE TABLESPACE small LOCATION '{disk}'")
        conn.execute("CREATE TABLE filler (data text) TABLESPACE small")
        with pytest.raises(psycopg.Error) as caught:
            for _ in range(64):  # 320 KB a row, uncompressed (random text)
                conn.execute(
                    "INSERT INTO filler SELECT string_agg(md5(random()::text), '') "
                    "FROM generate_series(1, 10000)"
                )
        conn.execute("DROP TABLE filler")
        conn.execute("DROP TABLESPACE small")
    assert caught.value.sqlstate == faults.POSTGRESQL_DISK_FULL, caught.value
    wrapped = OperationalError(str(caught.value))
    wrapped.__cause__ = caught.value
    assert faults.disk_full(caught.value) and faults.disk_full(wrapped)


def test_the_embedded_store_away_inside_a_view_gives_the_same_page(rf):
    """A view reading the embedded store meets the database away (the store says so as a
    SourceError caused by it): the database page, not "tracing backend unavailable"."""
    from django.db import OperationalError

    from explorer.sources.base import SourceError
    from explorer.web.common import source_errors

    def view(request):
        try:
            raise OperationalError("connection refused")
        except OperationalError as exc:
            raise SourceError("embedded: the database did not answer") from exc

    answer = source_errors(view)(rf.get("/traces/ab/", HTTP_ACCEPT_LANGUAGE="en"))
    assert answer.status_code == 503 and answer["Retry-After"] == str(outage.RETRY_AFTER_S)
    assert "Database unavailable" in answer.content.decode()
