"""What the explorer keeps of a customer: their orders, every trace and index row of those
orders or carrying the id anywhere (the look-up rows first, then every stored span read once),
the order-status rows, alerts and uploads. Read only; forgetting.py removes what is found."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import Q

from accounts.audit_view import stored_policy
from explorer.alerts.models import Alert
from explorer.erasure.mentions import Mentions
from explorer.orders.models import OrderStatus
from explorer.receiver.models import IndexedTrace, IndexedValue
from explorer.store.attribute_keys import rows_of
from explorer.store.ingest import IN_SLICE
from explorer.store.models import INDEXED_VALUE_LENGTH, StoredTrace, storable_cut
from explorer.store.source import StoreSource
from explorer.traces.vocabulary import CUSTOMER_KEY, ORDER_KEY

# Shorter ids are refused: as a token, "C-1" or "42" is in unrelated text ("A-42", "C-1-x").
MIN_ID_LENGTH = 4


@dataclass
class Found:
    """Everything stored that carries the customer id (or belongs to the customer's orders)."""

    customer_id: str
    pseudonym: str
    orders: set[str] = field(default_factory=set)
    traces: set[str] = field(default_factory=set)  # in the embedded store
    indexed: set[str] = field(default_factory=set)  # in the receiver's index
    order_rows: int = 0  # order-status rows
    alerts: set[int] = field(default_factory=set)
    uploads: list[Path] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        """Nothing stored of this id: an unknown customer (or one forgotten already)."""
        return (
            not (self.orders or self.traces or self.indexed or self.order_rows or self.alerts)
            and not self.uploads
        )

    def counts(self) -> dict[str, int]:
        return {
            "orders": len(self.orders),
            "traces": len(self.traces),
            "indexed traces": len(self.indexed),
            "order status rows": self.order_rows,
            "alerts": len(self.alerts),
            "uploads": len(self.uploads),
        }


def find_customer(customer_id: str, scan: bool = True) -> Found:
    """What is stored of `customer_id`. With `scan` (the default), every stored span is read
    once for the id in any field (a span name, an attribute that is not indexed); without it,
    only the look-up rows of the business attributes are asked. ValueError for an id shorter
    than MIN_ID_LENGTH."""
    if len(customer_id) < MIN_ID_LENGTH:
        raise ValueError(
            f"{customer_id!r} is too short to be found safely (at least {MIN_ID_LENGTH} "
            "characters): it would match unrelated text"
        )
    mentions = Mentions(customer_id)
    found = Found(customer_id, stored_policy().pseudonym(customer_id))
    found.orders |= _orders_of_customer(customer_id)
    found.traces |= _stored_traces_with(CUSTOMER_KEY, [customer_id])
    found.indexed |= _indexed_traces_with(CUSTOMER_KEY, [customer_id])
    found.orders |= _values_of(found.traces, found.indexed, ORDER_KEY)
    found.traces |= _stored_traces_with(ORDER_KEY, sorted(found.orders))
    found.indexed |= _indexed_traces_with(ORDER_KEY, sorted(found.orders))
    found.indexed |= {t for t, row in _indexed_rows() if mentions.in_value(row)}
    if scan:
        found.traces |= set(_stored_traces_mentioning(mentions))
    orders = order_rows(customer_id, found.orders)
    found.order_rows = orders.count()
    found.alerts = set(_alerts(mentions, found.orders))
    found.uploads = [folder for folder in _upload_folders() if _holds(folder, mentions)]
    return found


def _orders_of_customer(customer_id: str) -> set[str]:
    rows = OrderStatus.objects.filter(customer_id=OrderStatus._storable("customer_id", customer_id))
    return set(rows.values_list("order_id", flat=True))


def order_rows(customer_id: str, orders: set[str]):
    """The order-status rows of the customer (their id) or of their orders."""
    cut = OrderStatus._storable("customer_id", customer_id)
    return OrderStatus.objects.filter(Q(customer_id=cut) | Q(order_id__in=sorted(orders)))


def _stored_traces_with(key: str, values: list[str]) -> set[str]:
    found: set[str] = set()
    for first in range(0, len(values), IN_SLICE):
        part = [storable_cut(v, INDEXED_VALUE_LENGTH) for v in values[first : first + IN_SLICE]]
        rows = rows_of(key).filter(value__in=part)
        found.update(rows.values_list("trace__trace_id", flat=True))
    return found


def _indexed_traces_with(key: str, values: list[str]) -> set[str]:
    found: set[str] = set()
    for first in range(0, len(values), IN_SLICE):
        rows = IndexedValue.objects.filter(key=key, value__in=values[first : first + IN_SLICE])
        found.update(rows.values_list("trace_id", flat=True))
    return found


def _values_of(traces: set[str], indexed: set[str], key: str) -> set[str]:
    """The values of `key` on these stored and indexed traces (the orders they belong to)."""
    values: set[str] = set()
    stored, index = sorted(traces), sorted(indexed)
    for first in range(0, len(stored), IN_SLICE):
        rows = rows_of(key).filter(trace__trace_id__in=stored[first : first + IN_SLICE])
        values.update(rows.values_list("value", flat=True))
    for first in range(0, len(index), IN_SLICE):
        pairs = IndexedValue.objects.filter(key=key, trace_id__in=index[first : first + IN_SLICE])
        values.update(pairs.values_list("value", flat=True))
    return values


def _indexed_rows() -> Iterator[tuple[str, tuple]]:
    """Each index summary row's id and the texts that could carry an id (a root span name,
    the first values of the business attributes, the look-up pairs)."""
    rows = IndexedTrace.objects.values_list("trace_id", "root_name", "attributes", "values")
    for trace_id, *texts in rows.iterator(chunk_size=2000):
        yield trace_id, (trace_id, *texts)


def _stored_traces_mentioning(mentions: Mentions) -> Iterator[str]:
    """Every stored trace whose id or spans carry the id: IN_SLICE traces read at a time."""
    source = StoreSource()
    last_pk = 0
    while True:
        rows = list(
            StoredTrace.objects.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "trace_id")[:IN_SLICE]
        )
        if not rows:
            return
        last_pk = rows[-1][0]
        for trace in source.get_traces([trace_id for _, trace_id in rows]):
            if mentions.in_value(trace.trace_id) or mentions.in_value(trace.spans):
                yield trace.trace_id


def _alerts(mentions: Mentions, orders: set[str]) -> Iterator[int]:
    """Alerts of the customer, of their orders, or whose texts carry the id."""
    rows = Alert.objects.values_list(
        "pk", "customer_id", "order_id", "subject", "operation", "facts", "note"
    )
    for pk, customer, order, *texts in rows.iterator(chunk_size=2000):
        if order in orders or mentions.in_value([customer, order, *texts]):
            yield pk


def _upload_folders() -> Iterator[Path]:
    """Every upload of every user: EXPLORER_UPLOAD_DIR/<user id>/<key> (web/upload_store)."""
    root = Path(settings.EXPLORER_UPLOAD_DIR)
    for user in sorted(root.iterdir()) if root.is_dir() else ():
        for upload in sorted(user.iterdir()) if user.is_dir() else ():
            if upload.is_dir():
                yield upload


def _holds(folder: Path, mentions: Mentions) -> bool:
    return any(mentions.in_file(path) for path in folder.rglob("*") if path.is_file())
