"""explorer.store.attribute_keys: the business-attribute rows keep their key as a small code of
a catalogue (AttributeKey); searches by key and value answer as with the text; a key never
written has no code and none is made by asking; a code is remembered only once committed;
migration 0012 turns the text keys of a store filled before into codes, and 0014 keys the rows by
(key code, value, trace), each once."""

import pytest
from django.db import transaction

from explorer.caching import reset_caches
from explorer.sources.base import TraceQuery
from explorer.store.attribute_keys import code_of, codes_for_writing, key_of
from explorer.store.ingest import LINKED_TRACE_KEY, store_traces
from explorer.store.models import AttributeKey, TraceAttribute
from explorer.store.source import StoreSource
from explorer.traces.model import Link, Trace
from tests.migration_support import migrated_back_to
from tests.trace_support import make_span

T0 = 1_700_000_000_000_000_000


def trace(trace_id: str, links: tuple[str, ...] = (), **business: str) -> Trace:
    attributes = {key.replace("_", "."): value for key, value in business.items()}
    root = make_span(
        f"{trace_id}-0",
        trace_id=trace_id,
        start_ns=T0,
        end_ns=T0 + 10,
        attributes=attributes,
        links=[Link(target, "0123456789abcdef") for target in links],
    )
    return Trace(trace_id, [root])


def found(**attributes: str) -> list[str]:
    query = TraceQuery(attributes={k.replace("_", "."): v for k, v in attributes.items()})
    return sorted(summary.trace_id for summary in StoreSource().search(query))


def catalogue() -> dict[str, int]:
    return dict(AttributeKey.objects.values_list("key", "code"))


def keyed_rows() -> set[tuple[str, str, str]]:
    """(trace id, key, value) of every index row, the key read back from its code."""
    rows = TraceAttribute.objects.values_list("trace__trace_id", "key_code", "value")
    return {(trace_id, key_of(code), value) for trace_id, code, value in rows}


@pytest.mark.django_db
def test_rows_keep_codes_and_searches_by_key_find_them():
    store_traces(
        [
            trace("t1", order_id="A-1", customer_id="C-0001"),
            trace("t2", ("t1",), order_id="A-2", customer_id="C-0001"),
        ]
    )
    codes = catalogue()
    assert set(codes) == {"order.id", "customer.id", LINKED_TRACE_KEY}
    assert len(set(codes.values())) == 3  # distinct
    assert all(0 < code < 128 for code in codes.values())  # one byte each in SQLite
    assert keyed_rows() == {
        ("t1", "order.id", "A-1"),
        ("t1", "customer.id", "C-0001"),
        ("t2", "order.id", "A-2"),
        ("t2", "customer.id", "C-0001"),
        ("t2", LINKED_TRACE_KEY, "t1"),
    }
    assert found(order_id="A-2") == ["t2"]
    assert found(customer_id="C-0001") == ["t1", "t2"]
    assert found(customer_id="C-0001", order_id="A-1") == ["t1"]
    assert found(order_id="C-0001") == []  # a value of another key
    source = StoreSource()
    assert source.attribute_values("customer.id") == ["C-0001"]
    assert source.traces_with_values("order.id", ["A-1", "A-2", "A-3"]) == ["t1", "t2"]
    assert source.linking_traces("t1") == ["t2"]
    assert source.linking_traces_of(["t1", "t2"]) == {"t1": ["t2"]}
    assert sorted(source.values_of_traces(["t1", "t2"], "order.id")) == [
        ("t1", "A-1"),
        ("t2", "A-2"),
    ]
    # Written again, and a new trace with the same keys: the catalogue is unchanged.
    store_traces([trace("t1", order_id="A-1"), trace("t3", order_id="A-3", customer_id="C-2")])
    assert catalogue() == codes
    assert found(order_id="A-3") == ["t3"]


@pytest.mark.django_db
def test_a_key_never_written_finds_nothing_and_gets_no_code():
    store_traces([trace("t1", order_id="A-1")])
    before = catalogue()
    assert code_of("customer.type") is None
    assert found(customer_type="retail") == []
    source = StoreSource()
    assert source.attribute_values("customer.type") == []
    assert source.traces_with_values("customer.type", ["retail"]) == []
    assert source.values_of_traces(["t1"], "customer.type") == []
    assert source.linking_traces("t1") == []  # no trace links: no link key either
    assert catalogue() == before == {"order.id": code_of("order.id")}


@pytest.mark.django_db
def test_codes_for_writing_adds_each_key_once():
    first = codes_for_writing(["b.key", "a.key"])
    then = codes_for_writing(["a.key", "c.key"])
    assert then["a.key"] == first["a.key"] < first["b.key"] < then["c.key"]  # in key order
    codes = {**first, **then}
    assert catalogue() == codes
    assert {key: key_of(code) for key, code in codes.items()} == {k: k for k in codes}
    assert codes_for_writing(["c.key", "b.key"]) == {
        "b.key": codes["b.key"],
        "c.key": codes["c.key"],
    }
    assert codes_for_writing([]) == {}


@pytest.mark.django_db(transaction=True)
def test_a_code_of_a_rolled_back_transaction_is_not_remembered():
    """On SQLite the code of a key added in a transaction that rolls back is handed out again
    to the next key added: remembered, it would give two keys one code."""

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        store_traces([trace("t0", customer_type="retail")])
        assert found(customer_type="retail") == ["t0"]  # its code holds in the transaction
        raise RolledBack
    assert catalogue() == {}
    store_traces([trace("t1", order_id="A-1")])  # the code customer.type had, on SQLite
    store_traces([trace("t2", customer_type="retail", order_id="A-2")])
    codes = catalogue()
    assert set(codes) == {"order.id", "customer.type"} and len(set(codes.values())) == 2
    assert (code_of("order.id"), code_of("customer.type")) == (
        codes["order.id"],
        codes["customer.type"],
    )
    assert keyed_rows() == {
        ("t1", "order.id", "A-1"),
        ("t2", "order.id", "A-2"),
        ("t2", "customer.type", "retail"),
    }
    assert found(customer_type="retail") == ["t2"]
    assert found(order_id="A-1") == ["t1"]


@pytest.mark.django_db(transaction=True)
def test_migration_0012_turns_text_keys_into_codes():
    with migrated_back_to("store", "0011_compact_hourly_examples") as old:
        Trace_ = old.get_model("store", "StoredTrace")
        Attribute = old.get_model("store", "TraceAttribute")
        fields = {"end_ns": T0 + 10, "duration_ns": 10, "span_count": 1, "error_count": 0}
        names = {"root_service": "svc", "root_name": "op"}
        rows = {
            trace_id: Trace_.objects.create(trace_id=trace_id, start_ns=T0, **fields, **names)
            for trace_id in ("t1", "t2")
        }
        written = {
            ("t1", "order.id", "A-1"),
            ("t1", "customer.id", "C-0001"),
            ("t2", "order.id", "A-2"),
            ("t2", "customer.type", "retail"),
            ("t2", LINKED_TRACE_KEY, "t1"),
        }
        Attribute.objects.bulk_create(
            Attribute(trace=rows[trace_id], key=key, value=value)
            for trace_id, key, value in written
        )
    reset_caches()  # the catalogue is new
    keys = sorted({key for _, key, _ in written})
    assert catalogue() == {key: code for code, key in enumerate(keys, start=1)}
    assert keyed_rows() == written
    assert found(order_id="A-2") == ["t2"]
    assert found(customer_id="C-0001") == ["t1"]
    assert StoreSource().linking_traces("t1") == ["t2"]
    store_traces([trace("t3", order_id="A-3", customer_id="C-0001")])  # known keys' codes
    assert catalogue() == {key: code for code, key in enumerate(keys, start=1)}
    assert found(customer_id="C-0001") == ["t1", "t3"]


# --- Rows keyed by (key code, value, trace): migration 0014 ------------------------------------


@pytest.mark.django_db
def test_a_trace_in_pieces_keeps_each_value_once():
    """A small trace is written again whole with each piece, bringing every value it had; the
    second of two links to one trace is the same row: each is kept once, as for the trace
    stored whole."""
    from tests.test_store_pieces import pieces, tree_trace

    small = tree_trace("12" * 16)
    for part in pieces(small, 4):
        store_traces([part])
    store_traces([trace("t9", ("t1", "t1"), order_id="A-9")])
    rows = list(TraceAttribute.objects.values_list("trace__trace_id", "key_code", "value"))
    assert len(rows) == len(set(rows))
    whole = tree_trace("34" * 16)
    store_traces([whole])
    assert {
        (key, value) for trace_id, key, value in keyed_rows() if trace_id == small.trace_id
    } == {(key, value) for trace_id, key, value in keyed_rows() if trace_id == whole.trace_id}
    assert ("t9", LINKED_TRACE_KEY, "t1") in keyed_rows()


@pytest.mark.django_db(transaction=True)
def test_migration_0014_keys_the_rows_and_drops_a_row_written_twice():
    from django.db import connection

    before = ("store", "0013_compact_sketches")
    with migrated_back_to(*before) as old:
        Stored = old.get_model("store", "StoredTrace")
        Attribute = old.get_model("store", "TraceAttribute")
        fields = {"start_ns": T0, "end_ns": T0 + 10, "duration_ns": 10, "span_count": 1}
        names = {"error_count": 0, "root_service": "s", "root_name": "o"}
        row = Stored.objects.create(trace_id="t1", **fields, **names)
        old.get_model("store", "AttributeKey").objects.create(code=1, key="order.id")
        for value in ("A-1", "A-1", "A-2"):  # the first twice, as pieces once wrote it
            Attribute.objects.create(trace=row, key_code=1, value=value)
    reset_caches()
    assert sorted(TraceAttribute.objects.values_list("value", flat=True)) == ["A-1", "A-2"]
    assert found(order_id="A-1") == ["t1"]
    with connection.cursor() as cursor:  # the tests' database is SQLite
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'store_attribute'")
        assert cursor.fetchone()[0].rstrip().endswith("WITHOUT ROWID")
    with migrated_back_to(*before) as old:
        back = old.get_model("store", "TraceAttribute").objects.values_list("value", flat=True)
        assert sorted(back) == ["A-1", "A-2"]
