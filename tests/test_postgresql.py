"""PostgreSQL, the production database option, against a real server started here.

A PostgreSQL server runs for this module (the `postgres` fixture of tests/postgresql_support.py,
registered in conftest). The commands run as a user runs them (`manage.py ...` in
subprocesses) on one simulated data set, once with DATABASE_URL pointing at the server and
once on SQLite; their JSON must be the same. The cluster sorts text by ICU's en-US collation,
as a production database created with a linguistic locale does, so an order that only the
database decides shows up as a difference from SQLite's binary order.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from explorer.store.models import unpack_json
from explorer.store.prepare import Batcher, Settings
from explorer.store.trace_ids import unpack_trace_id
from explorer.traces.model import Event, Resource, SpanKind, Trace
from tests.postgresql_support import PostgresServer, manage
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
    "store_attribute_key",
    "store_operation",
    "store_operation_set",
    "store_operation_set_member",
)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("simulated")
    manage("simulate", *SIMULATION, "--out", str(out), data_dir=out)
    return out


@dataclass
class Outputs:
    ingests: list[str]
    orders: list[dict]
    journeys: dict[str, dict]
    tours_imported: str
    tours: dict
    queries: dict[str, dict]  # `query --json` of QUERIES (docs/query.md)


# Queries through the index tables, the summary columns and the order-status rows.
QUERIES = (
    '{ resource.service.name = "crm-api" && kind = server } >> { duration > 1ms }',
    '{ .customer.type = "b2b_partner" } && { duration > 5ms }',
    "order.status = in_progress || order.status = complete",
)


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
    queries = {text: json.loads(run("query", text, "--json", "--limit", "50")) for text in QUERIES}
    return Outputs(ingests, orders, journeys, tours_imported, tours, queries)


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
    "store_attribute": "trace_id, key_code, value",
    "store_attribute_key": "key",
    "store_operation": "service, name",
    "store_operation_set": "digest",
    "store_operation_set_member": "operation_set_id, operation_id",
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
        "limit_ms, over_limit, sketch, slowest FROM store_hourlyoperation h "
        "JOIN store_hourly_key k ON k.id = h.key_id"  # the key's number may differ
    )

    def normal(rows) -> list[tuple]:
        return sorted(
            (
                *row[:10],
                bytes(row[10]),
                bytes(row[11]),  # examples packed: byte for byte the same
            )
            for row in rows
        )

    on_pg = normal(postgres_rows(postgres, on_postgres[1], query))
    assert on_pg and on_pg == normal(sqlite_rows(on_sqlite[1], query))


def test_order_snapshots_are_the_same_on_postgresql_and_sqlite(postgres, on_postgres, on_sqlite):
    columns = (
        "order_id, customer_id, customer_type, channel, status, state, state_since_ns, "
        "state_limit_ns, in_flight_since_ns, violations, anomalous, anomaly_summary, "
        "anomalous_operations, anomalous_operation_count, first_seen_ns, last_seen_ns, as_of_ns, "
        "finished_dwells, sample"
    )
    query = f"SELECT {columns} FROM journeys_orderstatus ORDER BY order_id"  # noqa: S608
    _, database = on_postgres
    # The samples compared as what they unpack to (bytea, BLOB).
    on_pg = [(*row[:18], unpack_json(row[18])) for row in postgres_rows(postgres, database, query)]
    on_lite = [
        (
            *row[:9],
            json.loads(row[9]),
            bool(row[10]),
            row[11],
            json.loads(row[12]),
            *row[13:17],
            json.loads(row[17]),
            unpack_json(row[18]),
        )
        for row in sqlite_rows(on_sqlite[1], query)
    ]
    assert len(on_pg) == 60 and all(row[18] for row in on_pg)  # every order's sample kept
    assert on_pg == on_lite
    statuses = {row[4] for row in on_pg}
    assert {"complete", "in_progress"} <= statuses


def test_order_steps_are_the_same_on_postgresql_and_sqlite(postgres, on_postgres, on_sqlite):
    """The step figures written by executemany (explorer.orders.models.OrderStep.replace)."""
    columns = (
        "order_id, customer_type, state, next_state, entered_ns, left_ns, duration_ns, "
        "elapsed_ns, limit_ns, over_limit"
    )
    query = f"SELECT {columns} FROM journeys_orderstep ORDER BY order_id, entered_ns"  # noqa: S608
    on_pg = postgres_rows(postgres, on_postgres[1], query)
    on_lite = [(*row[:9], bool(row[9])) for row in sqlite_rows(on_sqlite[1], query)]
    assert len(on_pg) > 60 and on_pg == on_lite
    # The page's figures and its count of orders without steps (a JSON comparison) agree.
    script = (
        "from explorer.orders.step_figures import StepFilter, figures, orders_without_steps\n"
        "found = figures(StepFilter(0, 2**62))\n"
        "print(orders_without_steps(), sorted((s, d.count, d.over_limit, d.quantiles()[0.95])"
        " for s, d in found.states.items()))"
    )
    sqlite_dir = on_sqlite[1].parent
    lite = manage("shell", "-c", script, data_dir=sqlite_dir).stdout
    pg_url = postgres.url(on_postgres[1])
    assert "\n0 [(" in lite  # no order without steps
    assert manage("shell", "-c", script, data_dir=sqlite_dir, database_url=pg_url).stdout == lite


def test_metrics_scrapes_are_the_same_on_postgresql_and_sqlite(postgres, on_postgres, on_sqlite):
    """/metrics' queries (the JSON column read as text, the statuses decided in SQL) say the
    same on both databases. Found that PostgreSQL dropped the stuck test of stuck_at()."""
    script = "from explorer.web.metrics import scrape; print(scrape().decode())"
    sqlite_dir = on_sqlite[1].parent
    on_lite = manage("shell", "-c", script, data_dir=sqlite_dir).stdout
    on_pg = manage(
        "shell", "-c", script, data_dir=sqlite_dir, database_url=postgres.url(on_postgres[1])
    ).stdout
    assert 'explorer_orders{customer_type="' in on_lite
    assert "explorer_order_step_dwell_seconds_bucket{" in on_lite
    assert on_pg == on_lite


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
    assert [text for text in QUERIES if not pg.queries[text]["traces"]] == []
    assert pg.queries == lite.queries


# Horizons within the simulation's six days: every band of the policy has traces.
RETENTION = {
    "EXPLORER_RETENTION_TRACE_DAYS": "1",
    "EXPLORER_RETENTION_PROBLEM_DAYS": "3",
    "EXPLORER_RETENTION_STATUS_DAYS": "4",
}


def test_prune_removes_the_same_on_postgresql_as_on_sqlite(
    postgres, on_postgres, on_sqlite, tmp_path
):
    """`manage.py prune` (docs/store.md#retention) on copies of both databases: the same
    traces go for the same reasons, with the same records; a dry run removes nothing."""
    url = postgres.create_database("explorer_prune", template=on_postgres[1])
    sqlite_dir = tmp_path / "sqlite"
    sqlite_dir.mkdir()
    shutil.copy(on_sqlite[1], sqlite_dir / "explorer.sqlite3")
    pg_dir = tmp_path / "postgres"
    pg_dir.mkdir()

    def pruned(data_dir: Path, database_url: str | None, *args: str) -> list[str]:
        done = manage("prune", *args, data_dir=data_dir, database_url=database_url, **RETENTION)
        return [
            line
            for line in done.stdout.splitlines()
            if not line.startswith(("took ", "space given back", "note: "))
        ]

    dry = pruned(pg_dir, url, "--dry-run")
    assert dry[0].startswith("would remove: ") and dry[0] != "would remove: 0 traces, 0 spans"
    traces = "SELECT trace_id FROM store_trace ORDER BY trace_id"
    before = postgres_rows(postgres, "explorer_prune", traces)
    assert before == sqlite_rows(sqlite_dir / "explorer.sqlite3", traces)
    removed = pruned(pg_dir, url)
    assert removed == pruned(sqlite_dir, None)
    assert removed[0] == dry[0].replace("would remove", "removed")
    after = postgres_rows(postgres, "explorer_prune", traces)
    assert after == sqlite_rows(sqlite_dir / "explorer.sqlite3", traces)
    assert len(after) < len(before)
    records = "SELECT trace_id, order_id, start_ns FROM store_removed_trace ORDER BY trace_id"
    assert postgres_rows(postgres, "explorer_prune", records) == sqlite_rows(
        sqlite_dir / "explorer.sqlite3", records
    )


def store_contents(postgres: PostgresServer, database: str) -> dict[str, list[tuple]]:
    """What the store holds, by trace id and operation name rather than generated keys."""
    queries = {
        "traces": "SELECT trace_id, start_ns, duration_ns, span_count, error_count, o.service, "
        "o.name, attributes, warnings FROM store_trace t "
        "JOIN store_operation o ON o.id = t.root_id",
        "spans": "SELECT t.trace_id, c.seq, c.span_count FROM store_chunk c "
        "JOIN store_trace t ON t.id = c.trace_id",
        "attributes": "SELECT t.trace_id, k.key, a.value FROM store_attribute a "
        "JOIN store_trace t ON t.id = a.trace_id JOIN store_attribute_key k ON k.code = a.key_code",
        "operations": "SELECT t.trace_id, o.service, o.name FROM store_trace t "
        "JOIN store_operation_set_member m ON m.operation_set_id = t.operation_set_id "
        "JOIN store_operation o ON o.id = m.operation_id",
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
import shutil
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
import shutil
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


CHUNKS = """
import hashlib, json
from explorer.store import codec
from explorer.store.models import ChunkDictionary, StoredTrace, TraceChunk
from explorer.store.source import StoreSource
ids = sorted(StoredTrace.objects.values_list("trace_id", flat=True))
traces = sorted(StoreSource().get_traces(ids), key=lambda trace: trace.trace_id)
spans = repr([(t.trace_id, t.spans) for t in traces])
chunks = TraceChunk.objects.values_list("data", flat=True)
print(json.dumps({
    "dictionaries": ChunkDictionary.objects.count(),
    "chunk_dictionaries": len({codec.dictionary_key(bytes(data)) for data in chunks}),
    "traces": len(ids),
    "spans": hashlib.sha256(spans.encode()).hexdigest(),
}))
"""


RETIRE = """
from explorer.store import dictionary
print(dictionary.retire_mentioning("POST /api/orders"))
"""


def test_compact_chunks_read_back_alike_on_both(postgres, migrated, tmp_path):
    """Enough traces for the writer to train a dictionary, and a second one trained by
    `ingest --compact-chunks`: every span reads back alike on both databases."""
    at = 10**18
    orders = [
        Trace(
            f"{n:032x}",
            [
                make_span(
                    f"{n:015x}a",
                    trace_id=f"{n:032x}",
                    name="POST /api/orders",
                    kind=SpanKind.SERVER,
                    start_ns=at + n,
                    end_ns=at + n + 10**6,
                    attributes={"order.id": f"A-{n}", "customer.id": f"C-{n % 7}"},
                ),
                make_span(
                    f"{n:015x}b",
                    f"{n:015x}a",
                    trace_id=f"{n:032x}",
                    name="INSERT",
                    kind=SpanKind.CLIENT,
                    start_ns=at + n + 5,
                    end_ns=at + n + 9,
                ),
            ],
        )  # fmt: skip
        for n in range(2_100)
    ]

    def commands(run) -> dict:
        trained = json.loads(run("shell", "--no-imports", "-c", CHUNKS))
        assert "chunks compressed again: 2102" in run("ingest", "--compact-chunks")
        compacted = json.loads(run("shell", "--no-imports", "-c", CHUNKS))
        # A dictionary holding a forgotten id goes: in every chunk here, so no new one either.
        assert run("shell", "--no-imports", "-c", RETIRE).strip() == "2102"
        retired = json.loads(run("shell", "--no-imports", "-c", CHUNKS))
        return {"trained": trained, "compacted": compacted, "retired": retired}

    found = on_both_databases(postgres, migrated, tmp_path, hostile_traces() + orders, commands)
    assert found["postgresql"] == found["sqlite"]
    trained, compacted = found["postgresql"]["trained"], found["postgresql"]["compacted"]
    assert trained["dictionaries"] == 1 and compacted["dictionaries"] == 2
    assert trained["chunk_dictionaries"] == compacted["chunk_dictionaries"] == 1
    assert trained["spans"] == compacted["spans"] and trained["traces"] == 2_102
    retired = found["postgresql"]["retired"]
    assert retired["dictionaries"] == 0 and retired["chunk_dictionaries"] == 1
    assert retired["spans"] == trained["spans"]


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
    rows = postgres_rows(postgres, database, f"SELECT trace_id, span_count FROM {table}")  # noqa: S608
    # The store keeps trace ids as bytes (TraceIdField), the index as text.
    spans = {t if isinstance(t, str) else unpack_trace_id(t): n for t, n in rows}
    assert spans == {trace_of(b): 5 for b in batches}
    # The hourly figures count each span once, in both modes (the resent request adds none).
    hourly = "SELECT SUM(count) FROM store_hourlyoperation WHERE NOT day"
    assert postgres_rows(postgres, database, hourly) == [(20,)]
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


# Every row of every table of the public schema that holds the text (row::text).
ROWS_HOLDING = """
SELECT table_name, (xpath('/row/c/text()', query_to_xml(format(
  'SELECT count(*) AS c FROM %I AS t WHERE t::text LIKE %L', table_name, '%TEXT%'), false, true, '')
))[1]::text::int AS found
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
"""


@pytest.mark.slow  # four manage.py processes (ingest, refresh, forget): about 8 s
def test_forgetting_a_customer_on_postgresql(postgres, migrated, tmp_path):
    """`forget-customer` on PostgreSQL: no row of any table holds the id afterwards (the
    compressed chunks are gone with their traces), the other customer's order stays."""
    from tests.journey_support import complete_order

    url = postgres.create_database("explorer_forget", template=migrated)
    orders = [
        complete_order("A-1", customer_id="C-00241"),
        complete_order("A-2", customer_id="C-00777"),
    ]
    path = tmp_path / "traces.json"
    path.write_bytes(orjson.dumps(otlp_document([t for o in orders for t in o.traces])))

    def run(*args: str) -> str:
        return manage(*args, data_dir=tmp_path, database_url=url).stdout

    run("ingest", str(path))
    run("orders", "--refresh")

    def holding(text: str) -> dict[str, int]:
        rows = postgres_rows(postgres, "explorer_forget", ROWS_HOLDING.replace("TEXT", text))
        return {table: found for table, found in rows if found}

    assert holding("C-00241")
    assert "forgot cust-" in run("forget-customer", "C-00241", "--reason", "asked")
    assert holding("C-00241") == {}
    assert holding("C-00777")
    kept = postgres_rows(postgres, "explorer_forget", "SELECT order_id FROM journeys_orderstatus")
    assert kept == [("A-2",)]


# Migration 0012 forth, back and forth again on rows with text keys; prints what it saw.
KEY_CODES = """
import json
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
before, codes = [("store", "0011_compact_hourly_examples")], [("store", "0012_attribute_key_codes")]
executor = MigrationExecutor(connection)
executor.migrate(before)
old = executor.loader.project_state(before).apps
Stored, Attribute = old.get_model("store", "StoredTrace"), old.get_model("store", "TraceAttribute")
common = {"start_ns": 1, "end_ns": 2, "duration_ns": 1, "span_count": 1, "error_count": 0}
common.update(root_service="s", root_name="o")
rows = {t: Stored.objects.create(trace_id=t, **common) for t in "ab"}
written = [("a", "order.id", "A-1"), ("a", "customer.id", "C-1"), ("b", "order.id", "A-2"),
           ("b", "link.trace_id", "a")]
Attribute.objects.bulk_create(Attribute(trace=rows[t], key=k, value=v) for t, k, v in written)
MigrationExecutor(connection).migrate(codes)

def read(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return sorted(cursor.fetchall())

rows = "FROM store_attribute a JOIN store_trace t ON t.id = a.trace_id"
coded = read(
    f"SELECT t.trace_id, k.key, a.value {rows} JOIN store_attribute_key k ON k.code = a.key_code"
)
catalogue = read("SELECT key, code FROM store_attribute_key")
MigrationExecutor(connection).migrate(before)
back = read(f"SELECT t.trace_id, a.key, a.value {rows}")
MigrationExecutor(connection).migrate(codes)
Attribute = MigrationExecutor(connection).loader.project_state(codes).apps.get_model(
    "store", "TraceAttribute")
Attribute.objects.create(trace_id=Stored.objects.get(trace_id="a").pk, key_code=3, value="A-1")
executor = MigrationExecutor(connection)
executor.migrate([("store", "0014_attribute_rows_keyed_by_code_value_trace")])  # keyed, the
# doubled row dropped (trace ids still text: 0019 makes them bytes)
keyed = read(
    f"SELECT t.trace_id, k.key, a.value {rows} JOIN store_attribute_key k ON k.code = a.key_code"
)
print(json.dumps({"written": sorted(written), "coded": coded, "catalogue": catalogue,
                  "back": back, "keyed": keyed}))
"""


def test_migrations_0012_and_0014_code_and_key_the_rows_on_postgresql(postgres, migrated, tmp_path):
    url = postgres.create_database("explorer_key_codes", template=migrated)
    script = manage("shell", "--no-imports", "-c", KEY_CODES, data_dir=tmp_path, database_url=url)
    found = json.loads(script.stdout)
    assert found["coded"] == found["back"] == found["written"] == found["keyed"]
    assert found["catalogue"] == [["customer.id", 1], ["link.trace_id", 2], ["order.id", 3]]


# Migrations 0015 to the latest forth, back and forth again on rows with business values,
# histograms and hourly figures (0020 names their texts by a key); prints what it read.
PACKED_COLUMNS = """
import json
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from explorer.store import hourly
from explorer.store.models import HourlyOperation, HourlyTraffic, StoredTrace
before = [("store", "0014_attribute_rows_keyed_by_code_value_trace")]
hourly_keys = [["", "shop-api", "GET /", 2, "vip"], ["shop", "shop-api", "GET /", 2, "vip"],
               ["shop", "shop-api", "GET /", 2, ""], ["shop", "crm", "\u202eput", 3, "vip"]]
key_fields = ("element", "service", "operation", "kind", "customer_type")
values = {"a": {"order.id": "A-1", "customer.id": "C-\\u202e1", "customer.type": "vip"}, "b": {}}
histograms = {"x": {"3": 2, "160": 70000}, "y": {}}
executor = MigrationExecutor(connection)
executor.migrate(before)
old = executor.loader.project_state(before).apps
common = {"start_ns": 1, "end_ns": 2, "duration_ns": 1, "span_count": 1, "error_count": 0}
common.update(root_service="s", root_name="o")
for trace_id, attributes in values.items():
    old.get_model("store", "StoredTrace").objects.create(
        trace_id=trace_id, attributes=attributes, **common)
for source, buckets in histograms.items():
    old.get_model("store", "HourlyTraffic").objects.create(
        hour=0, kind="served", source=source, calls=1, buckets=buckets)
for hour, texts in enumerate([*hourly_keys, hourly_keys[1]]):  # the last two share a key
    old.get_model("store", "HourlyOperation").objects.create(
        hour=hour, count=hour, sketch=b"", **dict(zip(key_fields, texts)))

def latest():
    executor = MigrationExecutor(connection)  # one knows what was applied when it was made
    executor.migrate(executor.loader.graph.leaf_nodes())
    traffic = {r.source: {str(i): n for i, n in hourly._traffic(r).buckets.items()}
               for r in HourlyTraffic.objects.all()}
    hours = [[hour, *texts] for hour, *texts in HourlyOperation.objects.order_by("hour")
             .values_list("hour", *(f"key__{name}" for name in key_fields))]
    return dict(StoredTrace.objects.values_list("trace_id", "attributes")), traffic, hours

packed = latest()
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_typeof(attributes)::text FROM store_trace LIMIT 1")
    columns = [cursor.fetchone()[0]]
    cursor.execute("SELECT pg_typeof(buckets)::text FROM store_hourlytraffic LIMIT 1")
    columns.append(cursor.fetchone()[0])
executor = MigrationExecutor(connection)
executor.migrate(before)
old = executor.loader.project_state(before).apps
back = (dict(old.get_model("store", "StoredTrace").objects.values_list("trace_id", "attributes")),
        dict(old.get_model("store", "HourlyTraffic").objects.values_list("source", "buckets")),
        [list(row) for row in old.get_model("store", "HourlyOperation").objects
         .order_by("hour").values_list("hour", *key_fields)])
restored = list(old.get_model("store", "StoredTrace").objects.order_by("trace_id").values_list(
    "trace_id", "end_ns", "services"))  # migration 0017 taken back
written = [values, histograms, [[hour, *texts] for hour, texts in
                                enumerate([*hourly_keys, hourly_keys[1]])]]
print(json.dumps({"written": written, "packed": packed, "columns": columns,
                  "back": back, "again": latest(), "restored": restored}))
"""


def test_migrations_0015_on_pack_and_key_columns_on_postgresql(postgres, migrated, tmp_path):
    url = postgres.create_database("explorer_packed_columns", template=migrated)
    script = manage(
        "shell", "--no-imports", "-c", PACKED_COLUMNS, data_dir=tmp_path, database_url=url
    )
    found = json.loads(script.stdout)
    assert found["packed"] == found["back"] == found["again"] == found["written"]
    assert found["columns"] == ["bytea", "bytea"]
    assert found["restored"] == [["a", 2, []], ["b", 2, []]]  # end = start + duration
