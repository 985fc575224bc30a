"""PostgreSQL, the production database option, against a real server started here.

A PostgreSQL server (Debian's `postgresql` package, see scripts/setup.sh) runs for this module
on a free port of 127.0.0.1 in its own temporary folder, as the unprivileged `postgres` user
when the tests run as root. The commands run as a user runs them (`manage.py ...` in
subprocesses) on one simulated data set, once with DATABASE_URL pointing at the server and
once on SQLite; their JSON must be the same. The cluster sorts text by ICU's en-US collation,
as a production database created with a linguistic locale does, so an order that only the
database decides shows up as a difference from SQLite's binary order.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from explorer.store.prepare import Batcher, Settings
from explorer.traces.model import Event, Resource, SpanKind, Trace
from tests.trace_support import make_span
from tests.trace_support import otlp_json as otlp_document

pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parent.parent
# Big enough for the bulk read of `orders` (explorer.journeys.report.BULK_MIN_ORDERS: 50) and,
# cut off on day 6, for complete, stuck and lost orders that the shipped tours pick from.
SIMULATION = ["--orders", "60", "--days", "3", "--until-days", "6", "--seed", "4"]
STORE_TABLES = (
    "store_trace",
    "store_chunk",
    "store_attribute",
    "store_operation",
    "store_trace_operation",
)


def postgresql_bin() -> Path | None:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if Path(p).with_name("pg_ctl").exists()
    ]
    return max(found, key=lambda p: int(p.parent.name), default=None)


@dataclass
class PostgresServer:
    port: int

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/{database}", autocommit=True
        )

    def create_database(self, name: str, template: str = "template0") -> str:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.url(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    binaries = postgresql_bin()
    if binaries is None:
        pytest.skip(
            "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl) are "
            "absent: `bash scripts/setup.sh` installs Debian's postgresql package"
        )
    # PostgreSQL refuses to run as root: the server runs as `postgres`, owning its folder.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="explorer-pg-"))
    if as_user:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, log = base / "data", base / "server.log"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=60)

    started = False
    try:
        initdb = run(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--locale-provider=icu",
            "--icu-locale=en-US",
            "--auth=trust",
            "--no-sync",
        )
        assert initdb.returncode == 0, initdb.stdout + initdb.stderr
        # Trust, over TCP from 127.0.0.1 only; no Unix socket.
        (data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
        for _attempt in range(3):  # the free port may be taken before the server binds it
            port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = run(
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "30",
                "-o",
                options,
                "start",
            )
            started = start.returncode == 0
            if started:
                break
        assert started, f"{start.stdout}{start.stderr}\n{log.read_text()}"
        yield PostgresServer(port)
    finally:
        if started:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def manage(
    *args: str, data_dir: Path, database_url: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "EXPLORER_DATA_DIR": str(data_dir)}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("simulated")
    manage("simulate", *SIMULATION, "--out", str(out), data_dir=out)
    return out


@pytest.fixture(scope="module")
def migrated(postgres, tmp_path_factory) -> str:
    """A migrated, empty database that the tests copy (CREATE DATABASE ... TEMPLATE)."""
    url = postgres.create_database("explorer_migrated")
    manage("migrate", "-v0", data_dir=tmp_path_factory.mktemp("migrate"), database_url=url)
    return "explorer_migrated"


@dataclass
class Outputs:
    ingests: list[str]
    orders: list[dict]
    journeys: dict[str, dict]
    tours_imported: str
    tours: dict


def order_sample(orders: list[dict]) -> list[str]:
    """An order of each status and the first anomalous one."""
    picked: dict[str, str] = {}
    for row in orders:
        picked.setdefault(row["status"], row["order_id"])
        if row["anomalous"]:
            picked.setdefault("anomalous", row["order_id"])
    return sorted(set(picked.values()))


def run_commands(simulated: Path, data_dir: Path, database_url: str | None) -> Outputs:
    def run(*args: str) -> str:
        return manage(*args, data_dir=data_dir, database_url=database_url).stdout

    if database_url is None:
        run("migrate", "-v0")
    ingests = [run("ingest", str(simulated)), run("ingest", str(simulated))]
    run("orders", "--refresh")
    orders = json.loads(run("orders", "--json"))["orders"]
    journeys = {
        order_id: json.loads(run("journey", order_id, "--json"))
        for order_id in order_sample(orders)
    }
    tours_imported = run("tours", "import", "--shipped")
    tours = json.loads(run("tours", "export", "--json"))
    return Outputs(ingests, orders, journeys, tours_imported, tours)


@pytest.fixture(scope="module")
def on_sqlite(simulated, tmp_path_factory) -> tuple[Outputs, Path]:
    data_dir = tmp_path_factory.mktemp("sqlite")
    return run_commands(simulated, data_dir, None), data_dir / "explorer.sqlite3"


@pytest.fixture(scope="module")
def on_postgres(simulated, postgres, migrated, tmp_path_factory) -> tuple[Outputs, str]:
    url = postgres.create_database("explorer_commands", template=migrated)
    return run_commands(simulated, tmp_path_factory.mktemp("postgres"), url), "explorer_commands"


def postgres_rows(postgres: PostgresServer, database: str, query: str) -> list[tuple]:
    with postgres.connect(database) as conn:
        return conn.execute(query).fetchall()


def sqlite_rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


def counts(rows_of, where) -> dict[str, int]:
    return {
        table: rows_of(where, f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608
        for table in STORE_TABLES
    }


# What identifies a row of each store table apart from its key: each must appear once.
UNIQUE_ROWS = {
    "store_trace": "trace_id",
    "store_chunk": "trace_id, seq",
    "store_attribute": "trace_id, key, value",
    "store_operation": "service, name",
    "store_trace_operation": "trace_id, operation_id",
}


def test_ingest_twice_on_postgresql_stores_each_trace_once(postgres, on_postgres, on_sqlite):
    outputs, database = on_postgres
    first, second = outputs.ingests
    assert first.startswith("files: 6, traces: ") and first.rstrip().endswith("rejected: 0")
    assert second == first
    stored = counts(lambda db, q: postgres_rows(postgres, db, q), database)
    assert stored["store_trace"] == int(first.split("traces: ")[1].split(",")[0])
    for table, columns in UNIQUE_ROWS.items():
        distinct = postgres_rows(
            postgres,
            database,
            f"SELECT count(*) FROM (SELECT DISTINCT {columns} "  # noqa: S608
            f"FROM {table}) AS t",
        )[0][0]
        assert distinct == stored[table], table
    sqlite_outputs, sqlite_file = on_sqlite
    assert sqlite_outputs.ingests == outputs.ingests
    assert counts(sqlite_rows, sqlite_file) == stored


def test_hourly_operation_figures_are_the_same_on_postgresql_and_sqlite(
    postgres, on_postgres, on_sqlite
):
    """explorer.store.hourly_operations' plain SQL (locking, bytes, JSON) on both databases:
    the same files ingested twice leave the same rows."""
    query = (
        "SELECT hour, element, service, operation, kind, customer_type, count, errors, "
        "limit_ms, over_limit, sketch, slowest FROM store_hourlyoperation"
    )

    def normal(rows) -> list[tuple]:
        return sorted(
            (
                *row[:10],
                bytes(row[10]),
                row[11] if isinstance(row[11], list) else json.loads(row[11]),
            )
            for row in rows
        )

    on_pg = normal(postgres_rows(postgres, on_postgres[1], query))
    assert on_pg and on_pg == normal(sqlite_rows(on_sqlite[1], query))


def test_order_snapshots_are_the_same_on_postgresql_and_sqlite(postgres, on_postgres, on_sqlite):
    columns = (
        "order_id, customer_id, customer_type, channel, status, state, state_since_ns, "
        "state_limit_ns, in_flight_since_ns, violations, anomalous, anomaly_summary, "
        "anomalous_operations, anomalous_operation_count, first_seen_ns, last_seen_ns, as_of_ns"
    )
    query = f"SELECT {columns} FROM journeys_orderstatus ORDER BY order_id"  # noqa: S608
    _, database = on_postgres
    on_pg = postgres_rows(postgres, database, query)
    on_lite = [
        (*row[:9], json.loads(row[9]), bool(row[10]), row[11], json.loads(row[12]), *row[13:])
        for row in sqlite_rows(on_sqlite[1], query)
    ]
    assert len(on_pg) == 60
    assert on_pg == on_lite
    statuses = {row[4] for row in on_pg}
    assert {"complete", "in_progress"} <= statuses


def without_stored_at(journey: dict) -> dict:
    """The journey less the wall-clock time its reference was stored by `orders --refresh`
    (different in every run); that it was stored, rather than computed, is kept."""
    assert journey["reference"]["stored_at"], journey["reference"]
    return {**journey, "reference": {**journey["reference"], "stored_at": "stored"}}


def test_commands_print_the_same_json_on_postgresql_and_sqlite(on_postgres, on_sqlite):
    pg, lite = on_postgres[0], on_sqlite[0]
    assert len(pg.orders) == 60
    assert pg.orders == lite.orders
    assert len(pg.journeys) >= 3  # several statuses and an anomalous order
    assert pg.journeys.keys() == lite.journeys.keys()
    for order_id, journey in pg.journeys.items():
        assert journey["steps"], order_id
        assert without_stored_at(journey) == without_stored_at(lite.journeys[order_id])
    assert pg.tours_imported == lite.tours_imported
    assert [t["example_order"] for t in pg.tours["tours"]].count(None) < len(pg.tours["tours"])
    assert pg.tours == lite.tours


def store_contents(postgres: PostgresServer, database: str) -> dict[str, list[tuple]]:
    """What the store holds, by trace id and operation name rather than generated keys."""
    queries = {
        "traces": "SELECT trace_id, start_ns, end_ns, span_count, error_count, root_service, "
        "root_name, services, attributes, warnings FROM store_trace",
        "spans": "SELECT t.trace_id, c.seq, c.span_count FROM store_chunk c "
        "JOIN store_trace t ON t.id = c.trace_id",
        "attributes": "SELECT t.trace_id, a.key, a.value FROM store_attribute a "
        "JOIN store_trace t ON t.id = a.trace_id",
        "operations": "SELECT t.trace_id, o.service, o.name FROM store_trace_operation r "
        "JOIN store_trace t ON t.id = r.trace_id "
        "JOIN store_operation o ON o.id = r.operation_id",
        "catalogue": "SELECT service, name FROM store_operation",
    }
    return {
        name: sorted(postgres_rows(postgres, database, query), key=repr)
        for name, query in queries.items()
    }


def waiting_for_store_trace(postgres: PostgresServer) -> int:
    """Sessions waiting for a lock on the store_trace table of explorer_concurrent."""
    return postgres_rows(
        postgres,
        "explorer_concurrent",
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'store_trace'::regclass",
    )[0][0]


def test_two_ingests_at_once_on_postgresql_store_the_union(
    postgres, migrated, on_postgres, simulated, tmp_path
):
    days = sorted(simulated.glob("alexandrite-day-*.jsonl"))
    assert len(days) == 6
    # The first day in both folders: both processes start by writing its traces at once.
    folders = {"odd": days[0::2], "even": days[:1] + days[1::2]}
    for name, files in folders.items():
        (tmp_path / name).mkdir()
        for file in files:
            (tmp_path / name / file.name).symlink_to(file)
    url = postgres.create_database("explorer_concurrent", template=migrated)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "EXPLORER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": url,
    }
    with postgres.connect("explorer_concurrent") as gate:
        # Both writers are held at their first insert until both are there: then they insert
        # the same traces at the same time, and one of them has to find the other's and merge.
        with gate.transaction():
            gate.execute("LOCK TABLE store_trace IN EXCLUSIVE MODE")
            processes = [
                subprocess.Popen(
                    [sys.executable, "manage.py", "ingest", str(tmp_path / folder)],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for folder in folders
            ]
            try:
                deadline = time.monotonic() + 60
                while waiting_for_store_trace(postgres) < 2:
                    assert all(p.poll() is None for p in processes), "an ingest ended early"
                    assert time.monotonic() < deadline, "the ingests never reached the lock"
                    time.sleep(0.05)
            except BaseException:
                for process in processes:
                    process.kill()
                raise
        outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err
        assert "rejected: 0" in out
    assert store_contents(postgres, "explorer_concurrent") == store_contents(
        postgres, on_postgres[1]
    )


# Names that ICU (and glibc's en_US) collation sorts unlike code points: case, "_" against
# letters and digits, letters with diacritics.
ODD_NAMES = ["B_1", "a-2", "A-10", "b1", "Äpfel-3", "Z-4", "_5"]


def odd_traces() -> list[Trace]:
    """One trace per name: it is the order id, the customer id, the service and the span
    name; every trace starts at the same time (ties broken by trace id)."""
    traces = []
    for n, name in enumerate(ODD_NAMES):
        trace_id = f"t-{name}"
        resource = Resource(name, {"service.name": name})
        span = make_span(
            f"s{n}",
            trace_id=trace_id,
            name=name,
            kind=SpanKind.SERVER,
            start_ns=10**18,
            end_ns=10**18 + 10**6,
            resource=resource,
            attributes={"order.id": name, "customer.id": name},
        )
        other = make_span(
            f"s{n}b",
            f"s{n}",
            trace_id=trace_id,
            name=name.lower(),
            start_ns=10**18,
            end_ns=10**18 + 10,
            resource=Resource("shop-api", {"service.name": "shop-api"}),
        )
        traces.append(Trace(trace_id, [span, other]))
    return traces


# Prints what the embedded store lists, in the order it lists it.
STORE_LISTS = """
import json
from explorer.sources.base import TraceQuery
from explorer.store.source import StoreSource
store = StoreSource()
print(json.dumps({
    "order_ids": store.attribute_values("order.id"),
    "services": store.services(),
    "operations": store.operations("shop-api"),
    "search": [s.trace_id for s in store.search(TraceQuery())],
}))
"""


def on_both_databases(
    postgres: PostgresServer, migrated: str, tmp_path: Path, traces: list[Trace], commands
) -> dict[str, object]:
    """`commands(run)` on SQLite and on a fresh PostgreSQL database, after ingesting `traces`
    into each; run(*args) runs a manage.py command there and returns what it printed."""
    export = tmp_path / "traces.json"
    export.write_bytes(orjson.dumps(otlp_document(traces)))
    database = f"explorer_{tmp_path.name.lower()}"[:60]
    found = {}
    for name, database_url in {
        "sqlite": None,
        "postgresql": postgres.create_database(database, migrated),
    }.items():
        data_dir = tmp_path / name
        data_dir.mkdir()

        def run(*args: str, url=database_url, data_dir=data_dir) -> str:
            return manage(*args, data_dir=data_dir, database_url=url).stdout

        if database_url is None:
            run("migrate", "-v0")
        assert "rejected: 0" in run("ingest", str(export))
        found[name] = commands(run)
    return found


def test_lists_follow_code_points_on_postgresql_as_on_sqlite(postgres, migrated, tmp_path):
    traces = odd_traces()

    def lists(run) -> dict:
        orders = json.loads(run("orders", "--json"))["orders"]
        listed = json.loads(run("shell", "--no-imports", "-c", STORE_LISTS))
        return {**listed, "orders": [row["order_id"] for row in orders]}

    listed = on_both_databases(postgres, migrated, tmp_path, traces, lists)
    assert listed["postgresql"] == listed["sqlite"]
    assert listed["postgresql"] == {
        "order_ids": sorted(ODD_NAMES),
        "orders": sorted(ODD_NAMES),
        "services": sorted([*ODD_NAMES, "shop-api"]),
        "operations": sorted(name.lower() for name in ODD_NAMES),
        "search": sorted(t.trace_id for t in traces),
    }


def hostile_traces() -> list[Trace]:
    """Values PostgreSQL refuses as they are: NUL characters, and text longer than the order
    snapshot's columns (customer id 200 characters, customer type 64)."""
    at = 10**18
    long = make_span(
        "a" * 16,
        trace_id="1" * 32,
        name="POST /api/orders",
        kind=SpanKind.SERVER,
        start_ns=at,
        end_ns=at + 10**6,
        resource=Resource("shop-api", {"service.name": "shop-api"}),
        attributes={"order.id": "A-1", "customer.id": "C" * 300, "customer.type": "t" * 100},
        events=[Event("order.state_changed", at + 10, {"order.state.new": "S" * 300})],
    )
    nul = make_span(
        "b" * 16,
        trace_id="2" * 32,
        name="POST /api/\x00orders",
        kind=SpanKind.SERVER,
        start_ns=at,
        end_ns=at + 10**6,
        resource=Resource("shop\x00api", {"service.name": "shop\x00api"}),
        attributes={"order.id": "A-\x002", "customer.id": "C-\x00", "customer.type": "re\x00tail"},
    )
    return [Trace(span.trace_id, [span]) for span in (long, nul)]


SNAPSHOT = """
import json
from explorer.orders.models import OrderStatus
print(json.dumps(list(OrderStatus.objects.values_list("order_id", "customer_id",
                                                      "customer_type", "state"))))
"""


def test_nul_characters_and_long_values_are_stored_alike_on_both(postgres, migrated, tmp_path):
    def commands(run) -> dict:
        # The NUL of "A-\x002" is stored as U+FFFD, which names no order (security.md, "Order
        # ids"): on both databases only A-1 gets a status.
        assert "1 order statuses stored" in run("orders", "--refresh")
        return {
            "orders": json.loads(run("orders", "--json"))["orders"],
            "snapshot": json.loads(run("shell", "--no-imports", "-c", SNAPSHOT)),
            "services": json.loads(run("shell", "--no-imports", "-c", STORE_LISTS))["services"],
            "journey": json.loads(run("journey", "A-1", "--json")),
        }

    found = on_both_databases(postgres, migrated, tmp_path, hostile_traces(), commands)
    assert without_stored_at(found["postgresql"]["journey"]) == without_stored_at(
        found["sqlite"]["journey"]
    )
    del found["postgresql"]["journey"], found["sqlite"]["journey"]
    assert found["postgresql"] == found["sqlite"]
    snapshot = sorted(found["postgresql"]["snapshot"])
    assert snapshot == [["A-1", "C" * 200, "t" * 64, "S" * 200]]  # cut to the columns
    assert found["postgresql"]["services"] == ["shop-api", "shop\ufffdapi"]


def test_a_trace_id_with_a_nul_character_is_rejected_alone():
    config = Settings(
        business_keys=("order.id",), batch_spans=100, batch_traces=100, chunk_spans=100
    )
    batcher = Batcher(config)
    resource = Resource("shop-api", {"service.name": "shop-api"})
    for trace_id in ("t\x00x", "t-ok"):
        span = make_span(
            "s1",
            trace_id=trace_id,
            name="GET /",
            kind=SpanKind.SERVER,
            start_ns=1,
            end_ns=2,
            resource=resource,
        )
        batcher.add(Trace(trace_id, [span]), "upload.json")
    batch = batcher.take()
    assert [t.trace_id for t in batch.traces] == ["t-ok"]
    assert [str(r) for r in batch.rejected] == [
        "upload.json: 't\\x00x': trace id holds a NUL character, which databases cannot store"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["full", "index"])
def test_the_receiver_writes_on_postgresql(postgres, migrated, tmp_path, mode):
    """The receiver's own SQL (plain inserts, upserts of arrivals, the index) on PostgreSQL:
    a trace arriving in two requests is merged, a resent request changes nothing, and the
    orders are marked for the live worker (which `watch --once` runs in full mode)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    from tests.receiver_support import TOKEN, receiver_env, start_receiver
    from tests.test_receiver_process import sdk_batches, trace_of

    database = f"explorer_receiver_{mode}"
    url = postgres.create_database(database, template=migrated)
    env = {**receiver_env(tmp_path, EXPLORER_RECEIVER_MODE=mode), "DATABASE_URL": url}
    running = start_receiver(env, args=("--no-worker",))
    batches = sdk_batches(4)
    try:
        exporter = OTLPSpanExporter(
            endpoint=running.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        pieces = [batches[0][:2], batches[0][2:], *batches[1:], batches[1]]  # the last resent
        assert [exporter.export(p) for p in pieces] == [SpanExportResult.SUCCESS] * len(pieces)
    finally:
        running.stop()
    table = "store_trace" if mode == "full" else "receiver_trace"
    spans = dict(postgres_rows(postgres, database, f"SELECT trace_id, span_count FROM {table}"))  # noqa: S608
    assert spans == {trace_of(b): 5 for b in batches}
    marked = postgres_rows(
        postgres, database, "SELECT order_id, pending FROM journeys_orderarrival ORDER BY 1"
    )
    if mode == "index":  # the index marks its orders itself, in the write's transaction
        assert marked == [(f"K-{n}", True) for n in range(4)]
        return
    watched = manage("watch", "--once", data_dir=tmp_path, database_url=url).stdout
    assert "4 orders marked, 4 computed again" in watched
    statuses = postgres_rows(postgres, database, "SELECT order_id FROM journeys_orderstatus")
    assert sorted(order for (order,) in statuses) == [f"K-{n}" for n in range(4)]


# Writes spans FIRST..FIRST+2 of one trace (index or store) in a transaction that stays open
# HOLD seconds.
_PIECE = """
import time
from django.db import transaction
from explorer.receiver import index
from explorer.store.ingest import store_traces
from explorer.traces.model import Resource, Span, Trace
shop = Resource("shop-api", {{"service.name": "shop-api"}})
spans = [
    Span("ab" * 16, f"{{n + 1:016x}}", None if n == 0 else f"{{1:016x}}", "op", 2, n, n + 1, shop)
    for n in range({first}, {first} + 3)
]
with transaction.atomic():
    {write}([Trace("ab" * 16, spans)])
    print("written", flush=True)
    time.sleep({hold})
"""


@pytest.mark.parametrize(
    ("write", "table"), [("index.write", "receiver_trace"), ("store_traces", "store_trace")]
)
def test_two_writers_merging_into_one_trace_lose_nothing(
    postgres, migrated, tmp_path, write, table
):
    """On PostgreSQL two receivers may merge pieces of one trace at once: the second waits
    for the first's row instead of overwriting it with what it read before."""
    database = f"explorer_race_{table}"
    url = postgres.create_database(database, template=migrated)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "EXPLORER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": url,
    }

    def piece(first: int, hold: float) -> subprocess.Popen:
        code = _PIECE.format(first=first, hold=hold, write=write)
        command = [sys.executable, "manage.py", "shell", "-v", "0", "-c", code]
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)

    assert piece(0, 0).wait(60) == 0
    holding = piece(3, 3)  # merges, then keeps its transaction (and the row) 3 s
    assert holding.stdout.readline().strip() == "written"
    merging = piece(6, 0)  # merges meanwhile
    assert merging.wait(60) == 0 and holding.wait(60) == 0
    rows = postgres_rows(postgres, database, f"SELECT span_count FROM {table}")  # noqa: S608
    assert rows == [(9,)]
