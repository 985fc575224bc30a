"""The hourly figures' examples stored packed (hourly_figures.pack_examples): exact round trip
of any ids, clear errors on damaged data, and migration 0011 converting a store filled before
(SQLite here and on a real PostgreSQL), both ways."""

from __future__ import annotations

import orjson
import pytest

from explorer.store.hourly_figures import EXAMPLES_VERSION, pack_examples, unpack_examples
from tests.postgresql_support import manage

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
HOSTILE = [
    (10**12, TRACE, SPAN, "A-200001"),
    (0, "", "", ""),  # empty ids
    (-5, TRACE.upper(), SPAN.upper(), "C-00241"),  # hex, but not lowercase: kept as text
    (7, TRACE[:-1], SPAN + "0", "заказ-1 <script>"),  # hex of the wrong length
    (2**64 + 1, "трасса\x00\ud800", "span\n'\"", "x" * 100_000),  # NUL, lone surrogate, long
    (1, "zz" * 16, "🙂" * 4, "\x80"),
]
OLD_ROWS = [
    [[5_000_000, TRACE, SPAN, "A-200001"], [4, "not-hex", "\ufffd", ""]],
    [],
]


def test_examples_round_trip_whatever_their_ids():
    for example in HOSTILE:
        assert unpack_examples(pack_examples([example])) == [example]
    assert unpack_examples(pack_examples(HOSTILE)) == HOSTILE
    assert unpack_examples(memoryview(pack_examples(HOSTILE))) == HOSTILE
    assert pack_examples([]) == b"" and unpack_examples(b"") == []


def test_hex_ids_are_stored_as_raw_bytes():
    three = [(123_456_789 + i, TRACE, SPAN, "A-200001") for i in range(3)]
    packed = pack_examples(three)
    assert len(packed) <= 1 + 3 * 39  # 182 bytes as JSON
    assert bytes.fromhex(TRACE) in packed and TRACE.encode() not in packed
    assert b"A-200001" in packed  # order ids stay UTF-8 (erasure searches the file for them)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (bytes([EXAMPLES_VERSION + 1]) + b"x", "unknown format version 2"),
        (pack_examples(HOSTILE[:1])[:-3], "damaged"),
        (pack_examples(HOSTILE[:1])[:5], "damaged"),
        (pack_examples(HOSTILE[3:5])[:40], "damaged"),  # ids as text, cut short
        (bytes([EXAMPLES_VERSION, 0x80]), "damaged"),
        (bytes([EXAMPLES_VERSION, 2, 0, 2, 0xC3, 0x28, 0, 0]), "damaged"),
    ],
)
def test_damaged_examples_are_a_clear_error(data, said):
    with pytest.raises(ValueError, match=said):
        unpack_examples(data)


BEFORE = [("store", "0010_compact_chunks")]


@pytest.mark.django_db(transaction=True)
def test_migration_packs_the_examples_of_a_store_filled_before_and_back():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from explorer.store.models import HourlyOperation

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps.get_model("store", "HourlyOperation")
        for hour, slowest in enumerate(OLD_ROWS):
            old.objects.create(
                hour=hour, service="shop-api", operation="GET /", kind=2, slowest=slowest
            )
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        stored = HourlyOperation.objects.order_by("hour").values_list("slowest", flat=True)
        assert [unpack_examples(s) for s in stored] == [[tuple(e) for e in row] for row in OLD_ROWS]
        assert _index_names(connection) == {"hourly_operation_day_hour"}  # `hour`'s own gone
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        back = executor.loader.project_state(BEFORE).apps.get_model("store", "HourlyOperation")
        assert list(back.objects.order_by("hour").values_list("slowest", flat=True)) == OLD_ROWS
        assert "store_hourlyoperation_hour_e9ad6a5c" in _index_names(connection)
        executor = MigrationExecutor(connection)
    finally:
        executor.migrate(executor.loader.graph.leaf_nodes())
        HourlyOperation.objects.all().delete()


def _index_names(connection) -> set[str]:
    with connection.cursor() as cursor:
        return {
            index
            for index, found in connection.introspection.get_constraints(
                cursor, "store_hourlyoperation"
            ).items()
            if found["index"] and not found["primary_key"]
        }


@pytest.mark.postgresql
@pytest.mark.slow  # a PostgreSQL server, and `migrate` three times in a process (~10 s)
def test_migration_on_postgresql(postgres, tmp_path):
    url = postgres.create_database("explorer_hourly_examples")
    manage("migrate", "store", "0010", "-v0", data_dir=tmp_path, database_url=url)
    with postgres.connect("explorer_hourly_examples") as conn:
        for hour, slowest in enumerate(OLD_ROWS):
            conn.execute(
                "INSERT INTO store_hourlyoperation (hour, day, element, service, operation, "
                "kind, customer_type, count, errors, over_limit, sketch, slowest) "
                "VALUES (%s, false, '', 's', 'o', 2, '', 1, 0, 0, '', %s::jsonb)",
                (hour, orjson.dumps(slowest).decode()),
            )
    manage("migrate", "store", "-v0", data_dir=tmp_path, database_url=url)
    query = "SELECT slowest FROM store_hourlyoperation ORDER BY hour"
    with postgres.connect("explorer_hourly_examples") as conn:
        packed = [bytes(row[0]) for row in conn.execute(query).fetchall()]
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'store_hourlyoperation'"
            )
        }
    assert [unpack_examples(p) for p in packed] == [[tuple(e) for e in r] for r in OLD_ROWS]
    assert "store_hourlyoperation_hour_e9ad6a5c" not in indexes
    assert "hourly_operation_day_hour" in indexes
    manage("migrate", "store", "0010", "-v0", data_dir=tmp_path, database_url=url)
    with postgres.connect("explorer_hourly_examples") as conn:
        assert [row[0] for row in conn.execute(query).fetchall()] == OLD_ROWS
