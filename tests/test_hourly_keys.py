"""explorer.store.hourly_keys: the hourly figures' rows name what they count (element,
service, span name, kind, customer type) by the number of a key (HourlyKey, migration 0020),
numbers a process keeps only once committed and forgets when a write fails on one."""

import pytest
from django.db import connection, transaction

from explorer.store.hourly_keys import ids_for_writing, ids_where, keys_of
from explorer.store.ingest import store_traces
from explorer.store.models import HourlyKey, HourlyOperation
from explorer.traces.model import Trace
from tests.migration_support import migrated_back_to
from tests.trace_support import make_span

FIELDS = ("element", "service", "operation", "kind", "customer_type")
SHOP = ("shop", "shop-api", "GET /", 2, "vip")
CRM = ("", "crm", "PUT \u202e</script>", 3, "")
T0 = 1_700_000_000 * 10**9


def one_span_trace(trace_id: str, name: str = "GET /") -> Trace:
    span = make_span("a1", trace_id=trace_id, service="shop-api", name=name, start_ns=T0)
    return Trace(trace_id, [span])


@pytest.mark.django_db
def test_rows_hold_a_number_and_each_key_is_kept_once(simulation):
    store_traces(simulation(orders=10, days=1, seed=5).traces())
    keys = list(HourlyKey.objects.values_list(*FIELDS))
    assert len(keys) == len(set(keys)) > 5
    used = set(HourlyOperation.objects.values_list("key", flat=True))
    assert used == set(HourlyKey.objects.values_list("pk", flat=True))
    assert HourlyOperation.objects.count() > 2 * len(keys)  # the texts once, not per row
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, "store_hourlyoperation")
    assert not {column.name for column in columns} & set(FIELDS)


@pytest.mark.django_db
def test_writers_add_only_the_missing_keys_and_readers_find_them():
    first = ids_for_writing([SHOP])
    both = ids_for_writing([SHOP, CRM])
    assert both[SHOP] == first[SHOP] != both[CRM]
    assert HourlyKey.objects.count() == 2
    assert keys_of([*both.values(), 999_999]) == {both[SHOP]: SHOP, both[CRM]: CRM}
    assert ids_where(service="crm") == [both[CRM]]
    assert ids_where(service="shop-api", customer_type="") == []


@pytest.mark.django_db(transaction=True)
def test_a_number_from_a_rolled_back_transaction_is_not_kept():
    with pytest.raises(RuntimeError), transaction.atomic():
        ids_for_writing([SHOP])
        raise RuntimeError("rolled back")
    assert not HourlyKey.objects.exists()
    crm = ids_for_writing([CRM])[CRM]  # on SQLite, the number SHOP had in the rollback
    assert keys_of([crm]) == {crm: CRM}
    assert ids_for_writing([SHOP])[SHOP] != crm


@pytest.mark.django_db(transaction=True)
def test_a_key_another_process_deleted_is_added_again_by_the_next_write():
    """Erasure in another process deletes a key this one knows (committed, so kept): the
    next write fails on the foreign key, and the writer's second attempt adds the key anew."""
    store_traces([one_span_trace("1" * 32)])
    known = HourlyOperation.objects.values_list("key", flat=True).first()
    HourlyOperation.objects.all().delete()
    HourlyKey.objects.filter(pk=known).delete()  # as erasure does, this process not told
    store_traces([one_span_trace("2" * 32)])
    rows = HourlyOperation.objects.filter(day=False)
    assert [(r.key.service, r.key.operation, r.count) for r in rows] == [("shop-api", "GET /", 1)]
    assert rows[0].key_id != known


@pytest.mark.django_db(transaction=True)
def test_migration_0020_keys_the_rows_and_gives_their_texts_back():
    texts = [("", "shop-api", "GET /", 2, "vip"), SHOP, (*SHOP[:4], ""), CRM, SHOP]
    with migrated_back_to("store", "0019_trace_id_as_bytes") as old:
        before = old.get_model("store", "HourlyOperation")
        for hour, names in enumerate(texts):
            named = dict(zip(FIELDS, names, strict=True))
            before.objects.create(hour=hour, count=hour, sketch=b"", **named)
    keyed = HourlyOperation.objects.order_by("hour").values_list(*(f"key__{f}" for f in FIELDS))
    assert list(keyed) == texts
    assert HourlyKey.objects.count() == 4  # SHOP's two rows share one
    counts = HourlyOperation.objects.order_by("hour").values_list("count", flat=True)
    assert list(counts) == list(range(len(texts)))
    with migrated_back_to("store", "0019_trace_id_as_bytes") as old:
        back = old.get_model("store", "HourlyOperation").objects.order_by("hour")
        assert list(back.values_list(*FIELDS)) == texts
