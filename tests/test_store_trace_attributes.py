"""A stored trace's first values of its business attributes are kept packed with a preset
dictionary of the keys (explorer.store.models.KeyedJSONField): they read back exactly as
written, whatever the text; damaged bytes read as {}; the usual attributes take well under
half of their JSON text; migration 0015 packs the values of a store filled before, and back."""

import orjson
import pytest
from django.db import connection

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from explorer.store.models import StoredTrace, pack_keyed_json, unpack_keyed_json
from explorer.traces.model import Trace
from tests.migration_support import migrated_back_to
from tests.trace_support import make_span

T0 = 1_700_000_000_000_000_000
USUAL = {"order.id": "A-102154", "customer.id": "C-00977", "customer.type": "b2b_partner"}
HOSTILE = {
    "order.id": "A-1</script><script>alert(1)</script>",
    "customer.id": 'C-\u202eevil\u202c "quoted" \\ back\nline\ttab \ufffd',
    "customer.type": "😀👨\u200d👩\u200d👧\u200d👦 Ω" * 50,
    "tenant.region": "x" * 100_000,  # a key outside the dictionary, a huge value
    "": "empty key",
}


@pytest.mark.parametrize("value", [{}, USUAL, HOSTILE, {"order.id": ""}])
def test_values_round_trip_exactly(value):
    packed = pack_keyed_json(value)
    assert unpack_keyed_json(packed) == value
    assert list(unpack_keyed_json(packed)) == list(value)  # the keys' order kept too


def test_the_usual_attributes_take_well_under_half_their_json():
    assert len(pack_keyed_json(USUAL)) < 0.5 * len(orjson.dumps(USUAL))


@pytest.mark.parametrize(
    "damaged",
    [
        b"",
        b"\x00",
        b"\x01",
        b"\x02" + pack_keyed_json(USUAL)[1:],
        pack_keyed_json(USUAL)[:-3],
        pack_keyed_json(USUAL) + b"more",
        b"\x01" + b"\xff" * 20,
        pack_keyed_json([1, 2]),
    ],
)
def test_damaged_bytes_are_refused(damaged):
    assert unpack_keyed_json(damaged) is None


def stored(trace_id: str, attributes: dict) -> None:
    root = make_span(
        f"{trace_id}-0", trace_id=trace_id, start_ns=T0, end_ns=T0 + 10, attributes=attributes
    )
    store_traces([Trace(trace_id, [root])])


@pytest.mark.django_db
def test_a_stored_trace_keeps_its_attributes_packed_and_reads_them_back():
    stored("t1", USUAL)
    assert StoredTrace.objects.get(trace_id="t1").attributes == USUAL
    with connection.cursor() as cursor:
        cursor.execute("SELECT attributes FROM store_trace")  # its only row
        raw = bytes(cursor.fetchone()[0])
    assert raw == pack_keyed_json(USUAL) and b"A-102154" not in raw


@pytest.mark.django_db
def test_damaged_stored_bytes_read_as_no_attributes():
    stored("t1", USUAL)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE store_trace SET attributes = X'01FFFF'")  # its only row
    assert StoredTrace.objects.get(trace_id="t1").attributes == {}


@pytest.mark.django_db(transaction=True)
def test_migration_0015_packs_the_stored_values_and_unpacks_them_back():
    before = ("store", "0014_attribute_rows_keyed_by_code_value_trace")
    fields = {"start_ns": T0, "end_ns": T0 + 10, "duration_ns": 10, "span_count": 1}
    names = {"error_count": 0, "root_service": "s", "root_name": "o"}
    with migrated_back_to(*before) as old:
        Stored = old.get_model("store", "StoredTrace")
        Stored.objects.create(trace_id="t1", attributes=USUAL, **fields, **names)
        Stored.objects.create(trace_id="t2", attributes={}, **fields, **names)
    reset_caches()
    assert dict(StoredTrace.objects.values_list("trace_id", "attributes")) == {
        "t1": USUAL,
        "t2": {},
    }
    with migrated_back_to(*before) as old:
        back = old.get_model("store", "StoredTrace").objects.values_list("trace_id", "attributes")
        assert dict(back) == {"t1": USUAL, "t2": {}}
