"""The order-status snapshot: one row per order, written by `manage.py orders --refresh`, read
by the pages so that no request assembles every order's journey.

Whether an order is stuck (or a message in flight became lost) depends on "now": a row keeps
what decides it, and the queries below decide at read time, as status_at() does.

The same refresh stores the Reference one order is judged against (BaselineSnapshot: the
latency baseline, and the typical-journey samples of each customer type), so that an order's
page reads two small rows instead of thousands of traces."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial

import orjson
from django.db import DatabaseError, connection, models, transaction
from django.db.models import ExpressionWrapper, F, Q

from explorer.journeys.anomalies import Baseline
from explorer.journeys.conformance import COMPLETE, IN_FLIGHT_NS, IN_PROGRESS, LOST, STUCK
from explorer.journeys.report import LoadReference, Reference
from explorer.journeys.typical import OrderSample
from explorer.orders.status import OrderStatusRow, status_at
from explorer.store.models import PackedJSONField, code_point_order, storable

# Rows written per statement and per transaction.
WRITE_BATCH = 500
_OPEN = (IN_PROGRESS, STUCK)  # statuses that may change as time goes on
_FIELDS = (
    "customer_id",
    "customer_type",
    "channel",
    "status",
    "state",
    "state_since_ns",
    "state_limit_ns",
    "in_flight_since_ns",
    "violations",
    "anomalous",
    "anomalous_operations",
    "anomalous_operation_count",
    "first_seen_ns",
    "last_seen_ns",
    "as_of_ns",
    "finished_dwells",
    "sample",
)


class OrderStatusQuerySet(models.QuerySet):
    def _lost_in_flight(self, now_ns: int) -> Q:
        return Q(status__in=_OPEN, in_flight_since_ns__lte=now_ns - IN_FLIGHT_NS)

    def lost_at(self, now_ns: int) -> OrderStatusQuerySet:
        return self.filter(Q(status=LOST) | self._lost_in_flight(now_ns))

    def stuck_at(self, now_ns: int) -> OrderStatusQuerySet:
        return (
            self.filter(
                status__in=_OPEN, state_limit_ns__isnull=False, state_since_ns__isnull=False
            )
            # Typed: Django types bigint + bigint as an integer, and PostgreSQL's check of
            # integer ranges then drops "< now" (past 2**31) as always true.
            .alias(
                due_ns=ExpressionWrapper(
                    F("state_since_ns") + F("state_limit_ns"), output_field=models.BigIntegerField()
                )
            )
            .filter(due_ns__lt=now_ns)
            .exclude(self._lost_in_flight(now_ns))
        )

    def anomalous(self) -> OrderStatusQuerySet:
        return self.filter(anomalous=True)

    def with_status_at(self, status: str, now_ns: int) -> OrderStatusQuerySet:
        """The orders whose status at `now_ns` is `status`."""
        if status == LOST:
            return self.lost_at(now_ns)
        if status == STUCK:
            return self.stuck_at(now_ns)
        if status == COMPLETE:
            return self.filter(status=COMPLETE)
        return (
            self.filter(status__in=_OPEN)
            .exclude(pk__in=self.stuck_at(now_ns).values("pk"))
            .exclude(self._lost_in_flight(now_ns))
        )

    def newest_first(self) -> OrderStatusQuerySet:
        return self.order_by(
            F("last_seen_ns").desc(nulls_last=True), code_point_order("order_id").desc()
        )


class OrderStatus(models.Model):
    order_id = models.CharField(max_length=200, unique=True)
    customer_id = models.CharField(max_length=200, blank=True)
    customer_type = models.CharField(max_length=64, blank=True)
    channel = models.CharField(
        max_length=64, blank=True, help_text="shop or partner_api: where the order came in"
    )
    status = models.CharField(
        max_length=16, db_index=True, help_text="at as_of_ns; stuck is decided again at read time"
    )
    state = models.CharField(max_length=200, blank=True)
    state_since_ns = models.BigIntegerField(null=True)
    state_limit_ns = models.BigIntegerField(null=True)
    in_flight_since_ns = models.BigIntegerField(
        null=True, help_text="oldest unconsumed message that was not yet lost at as_of_ns"
    )
    violations = models.JSONField(default=list, blank=True)
    anomalous = models.BooleanField(default=False, db_index=True)
    anomalous_operations = models.JSONField(
        default=list,
        blank=True,
        help_text="[[container id, operation], ...]: the first atypically slow ones",
    )
    anomalous_operation_count = models.PositiveIntegerField(
        default=0, help_text="how many atypically slow operations the order ran"
    )
    anomaly_summary = models.CharField(
        max_length=500,
        blank=True,
        help_text="rows written before anomalous_operations: the summary in English",
    )
    first_seen_ns = models.BigIntegerField(null=True)
    last_seen_ns = models.BigIntegerField(null=True, db_index=True)
    as_of_ns = models.BigIntegerField(help_text="the newest span time the row was computed at")
    finished_dwells = models.JSONField(
        default=list,
        blank=True,
        help_text="[[state, ns], ...]: the time spent in each state the order has left",
    )
    sample = PackedJSONField(
        null=True,
        blank=True,
        help_text="OrderSample.as_dict(), compressed: its part of the typical journey of its "
        "type (null: not kept, read from its traces); explorer.orders.samples",
    )
    computed_at = models.DateTimeField()

    objects = OrderStatusQuerySet.as_manager()

    class Meta:
        ordering = ["order_id"]
        verbose_name = "order status"
        verbose_name_plural = "order statuses"

    def __str__(self) -> str:
        return f"{self.order_id}: {self.status}"

    def status_at(self, now_ns: int) -> str:
        return status_at(
            self.status, self.state_since_ns, self.state_limit_ns, self.in_flight_since_ns, now_ns
        )

    @classmethod
    def save_rows(
        cls, rows: Iterable[OrderStatusRow], computed_at: datetime, replace: bool = False
    ) -> int:
        """Insert or update a row per order (one transaction per WRITE_BATCH rows); with
        `replace`, the rows of orders not among them are deleted. Returns the rows written."""
        batch: list[OrderStatus] = []
        kept: set[str] = set()
        written = 0

        steps: list[tuple] = []  # step figures of the batch's orders

        def flush() -> None:
            with transaction.atomic():
                OrderStatus.objects.bulk_create(
                    batch,
                    update_conflicts=True,
                    unique_fields=["order_id"],
                    update_fields=[*_FIELDS, "anomaly_summary", "computed_at"],
                )
                OrderStep.replace([r.order_id for r in batch], steps)  # step figures

        for row in rows:
            values = {
                name: cls._storable(name, getattr(row, name)) for name in ("order_id", *_FIELDS)
            }
            values["anomaly_summary"] = ""  # said from anomalous_operations now
            kept.add(values["order_id"])
            batch.append(cls(computed_at=computed_at, **values))
            steps += OrderStep.values_of(row, values["order_id"], values["customer_type"])
            if len(batch) >= WRITE_BATCH:
                flush()
                written += len(batch)
                batch, steps = [], []
        if batch:
            flush()
            written += len(batch)
        if replace:
            stale = [
                pk
                for pk, order_id in cls.objects.values_list("pk", "order_id")
                if order_id not in kept
            ]
            for first in range(0, len(stale), WRITE_BATCH):
                cls.objects.filter(pk__in=stale[first : first + WRITE_BATCH]).delete()
        return written

    @classmethod
    def _storable(cls, name: str, value):
        """Values from traces (customer ids, types, states...) as the column takes them on
        every database: PostgreSQL refuses NUL and text over the column's length. A sample
        that JSON cannot hold is not kept (its order's traces answer instead)."""
        if name == "sample":
            return value if value is None or _packs(value) else None
        length = cls._meta.get_field(name).max_length  # type: ignore[union-attr]
        return storable(value)[:length] if length and isinstance(value, str) else storable(value)


def _packs(value: object) -> bool:
    try:
        orjson.dumps(value)  # what pack_json compresses
    except TypeError:  # orjson's: a lone surrogate, an integer beyond 64 bits
        return False
    return True


class OrderStep(models.Model):
    """A step figure: one finished dwell of an order in a state, and the transition that
    ended it (to `next_state` at `left_ns`), with the order's customer type. Written with the
    order's snapshot row (OrderStatus.save_rows replaces an order's steps with its row) and
    deleted with it (the foreign key cascades: retention, erasure, a full refresh). The step
    pages and charts (explorer.orders.step_figures) count these rows exactly."""

    order = models.ForeignKey(
        OrderStatus,
        to_field="order_id",
        db_column="order_id",
        on_delete=models.CASCADE,
        related_name="steps",
    )
    customer_type = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=200, help_text="the state the order left")
    next_state = models.CharField(max_length=200, help_text="the state it went to")
    entered_ns = models.BigIntegerField()
    left_ns = models.BigIntegerField(help_text="when it left the state: the transition's time")
    duration_ns = models.BigIntegerField(help_text="left_ns - entered_ns")
    elapsed_ns = models.BigIntegerField(
        help_text="from the order's first state to this transition (the time to it)"
    )
    limit_ns = models.BigIntegerField(null=True, help_text="the state's limit when judged")
    over_limit = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["left_ns"], name="order_step_left"),
            models.Index(fields=["state", "left_ns"], name="order_step_state_left"),
        ]
        ordering = ["order_id", "entered_ns"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.state} -> {self.next_state}"

    @classmethod
    def values_of(cls, row: OrderStatusRow, order_id: str, customer_type: str) -> list[tuple]:
        """The step rows of one snapshot row (order id and type as stored), as STEP_COLUMNS."""
        first = row.steps[0][2] if row.steps else 0
        found = []
        for state, next_state, entered, left, limit in row.steps:
            duration = left - entered
            over = limit is not None and duration > limit
            found.append(
                (order_id, customer_type, storable(state)[:200], storable(next_state)[:200])
                + (entered, left, duration, left - first, limit, over)
            )
        return found

    @classmethod
    def replace(cls, order_ids: list[str], steps: list[tuple]) -> None:
        """The steps of these orders replaced by `steps` (STEP_COLUMNS): one delete, one
        executemany. Not bulk_create: building model instances and its statements took five
        times as long (8,880 steps of 1,000 orders: 0.85 s against 0.15 s)."""
        cls.objects.filter(order_id__in=order_ids).delete()
        if steps:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(column) for column in STEP_COLUMNS)
            places = ", ".join(["%s"] * len(STEP_COLUMNS))
            table = quote(cls._meta.db_table)
            sql = f"INSERT INTO {table} ({columns}) VALUES ({places})"  # noqa: S608 (names only)
            with connection.cursor() as cursor:
                cursor.executemany(sql, steps)


STEP_COLUMNS = (
    "order_id",
    "customer_type",
    "state",
    "next_state",
    "entered_ns",
    "left_ns",
    "duration_ns",
    "elapsed_ns",
    "limit_ns",
    "over_limit",
)


BASELINE, TYPICAL = "baseline", "typical"


class BaselineSnapshot(models.Model):
    """One part of a stored Reference of a trace source: its latency baseline (kind baseline)
    or the typical-journey samples of one customer type (kind typical, key the type). All the
    rows of a source come from one refresh: they are replaced together."""

    source = models.CharField(max_length=200, help_text="the trace source's name")
    kind = models.CharField(max_length=16, choices=[(BASELINE, BASELINE), (TYPICAL, TYPICAL)])
    key = models.CharField(max_length=64, blank=True, help_text="the customer type (typical)")
    window_start_ns = models.BigIntegerField()
    window_end_ns = models.BigIntegerField()
    as_of_ns = models.BigIntegerField(help_text="the newest span time it was computed at")
    data = models.JSONField(help_text="Baseline.as_dict(), or {samples: [OrderSample.as_dict()]}")
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "kind", "key"], name="baseline_snapshot_unique"
            )
        ]
        ordering = ["source", "kind", "key"]

    def __str__(self) -> str:
        return f"{self.source}: {self.kind} {self.key}".rstrip()

    @classmethod
    def save_reference(cls, source: str, reference: Reference, computed_at: datetime) -> int:
        """Replace the source's stored reference; returns the rows written."""
        start, end = reference.window
        common = {
            "source": source,
            "window_start_ns": start,
            "window_end_ns": end,
            "as_of_ns": reference.as_of_ns,
            "computed_at": computed_at,
        }
        by_key = {
            "": cls(kind=BASELINE, key="", data=storable(reference.baseline.as_dict()), **common)
        }
        for customer_type, samples in sorted(reference.samples.items()):
            # Types alike in their first 64 characters share a row: the first one's samples.
            key = cls.type_key(customer_type)
            by_key.setdefault(
                key,
                cls(
                    kind=TYPICAL,
                    key=key,
                    **common,
                    data=storable({"samples": [sample.as_dict() for sample in samples]}),
                ),
            )
        rows = list(by_key.values())
        with transaction.atomic():
            cls.objects.filter(source=source).delete()
            BaselineSnapshot.objects.bulk_create(rows)
        return len(rows)

    @classmethod
    def type_key(cls, customer_type: str) -> str:
        """The key a customer type's samples are stored under (see OrderStatus._storable)."""
        return storable(customer_type)[: cls._meta.get_field("key").max_length]  # type: ignore[union-attr]

    @classmethod
    def load_reference(cls, source: str, customer_type: str) -> Reference | None:
        """The stored baseline with the samples of one customer type (none stored: no order
        of the type in the window), or None when nothing usable is stored."""
        try:
            rows = list(
                cls.objects.filter(source=source).filter(
                    Q(kind=BASELINE) | Q(kind=TYPICAL, key=cls.type_key(customer_type))
                )
            )
        except DatabaseError:
            return None  # e.g. not migrated yet: the report computes its reference
        baseline = next((row for row in rows if row.kind == BASELINE), None)
        if baseline is None:
            return None
        samples: dict[str, list[OrderSample]] = {}
        try:
            for row in rows:
                if row.kind == TYPICAL:
                    if row.as_of_ns != baseline.as_of_ns:
                        return None  # not from the same refresh
                    samples[customer_type] = [
                        OrderSample.from_dict(item) for item in row.data["samples"]
                    ]
            return Reference(
                Baseline.from_dict(baseline.data),
                samples,
                baseline.as_of_ns,
                stored_at=baseline.computed_at,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # damaged by hand: computing it again is always right

    @classmethod
    def stored_samples(cls, source: str) -> dict[str, OrderSample]:
        """Every stored typical-journey sample of the source, by order id."""
        found: dict[str, OrderSample] = {}
        for data in cls.objects.filter(source=source, kind=TYPICAL).values_list("data", flat=True):
            try:
                found.update((s.order_id, s) for s in map(OrderSample.from_dict, data["samples"]))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
        return found


def stored_references(source: str) -> LoadReference:
    """What report_order() loads the stored reference of a source with."""
    return partial(BaselineSnapshot.load_reference, source)


class OrderArrival(models.Model):
    """When spans of an order last arrived (wall clock), and whether its snapshot row still
    has to be computed again for them (explorer.orders.live)."""

    order_id = models.CharField(max_length=200, unique=True)
    arrived_ns = models.BigIntegerField(db_index=True)
    pending = models.BooleanField(default=True, db_index=True)
    failures = models.PositiveIntegerField(
        default=0, help_text="judgements of the order that failed in a row"
    )
    retry_at_ns = models.BigIntegerField(
        null=True, help_text="after a failed judgement: not tried again before (wall clock, ns)"
    )

    class Meta:
        ordering = ["order_id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.arrived_ns}{' pending' if self.pending else ''}"


class LiveMark(models.Model):
    """A named moment the live worker keeps between cycles and processes: how far it has read
    the store's arrivals, when it last finished a cycle (wall clock, ns); `worker_errors` and
    `worker_cycles` keep a count instead (explorer.orders.live), and so do the receiver's
    counts for /metrics (explorer/receiver/tally.py)."""

    name = models.CharField(max_length=64, unique=True)
    value_ns = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.name}: {self.value_ns}"
