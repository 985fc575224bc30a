"""Tables of the embedded trace store.

No row per span: a trace is one StoredTrace row (its summary) plus compressed chunks of at
most explorer.store.ingest.CHUNK_SPANS spans (explorer.store.codec), so writing is a few
rows per trace and a huge trace can be read a chunk at a time. Look-ups go through small
index tables: business attributes (their keys as small codes of a catalogue), and the
operations (service and span name, kept once in a catalogue) of each trace, as one of the
few distinct sets of operations traces run.
"""

import zlib
from collections.abc import Iterable

import orjson
from django.db import connection, models
from django.db.models import F
from django.db.models.functions import Collate

from explorer.store.prepare import ID_LENGTH, INDEXED_VALUE_LENGTH
from explorer.store.trace_ids import pack_trace_id, unpack_trace_id


def storable(value):
    """Text, or JSON of lists and dicts, as every database can store it: PostgreSQL refuses
    the NUL character in text and JSON, so it becomes U+FFFD (on SQLite too, so that both
    answer alike; the spans themselves are kept as they came, in the compressed chunks)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value


# zlib level 9: an order's typical-journey sample (about 2 KB of JSON, mostly its operations'
# names) takes about 650 bytes, and its status row fits 3 to a database page instead of 1 (on
# the scale data 19.3 MB became 6.4 MB). zstd level 9 without a dictionary did no better
# (677); with one trained on the samples it did (117), at the price of a dictionary to keep.
_LEVEL = 9


def pack_json(value: object) -> bytes:
    """JSON of lists, dicts, text, numbers compressed (orjson's TypeError for what JSON cannot
    hold: a lone surrogate, an integer beyond 64 bits)."""
    return zlib.compress(orjson.dumps(value), _LEVEL)


def unpack_json(data: bytes) -> object | None:
    """pack_json's value, or None when the bytes are not what it wrote."""
    try:
        return orjson.loads(zlib.decompress(data))
    except (zlib.error, orjson.JSONDecodeError):
        return None


class TraceIdField(models.BinaryField):
    """A trace id, kept as pack_trace_id's bytes (16 for a W3C id instead of 32 characters, in
    the row and again in its unique index) and read as text: the ORM's look-ups (exact, in) and
    select_rows convert what they are given. Ordered by its bytes, which for hex ids is their
    text's order."""

    # What django-stubs types a model's attribute as (set and read): text, not bytes.
    _pyi_private_set_type: str
    _pyi_private_get_type: str  # type: ignore[assignment]

    def from_db_value(self, value, expression, connection):
        return None if value is None else unpack_trace_id(bytes(value))

    def get_prep_value(self, value):
        if isinstance(value, str):
            return pack_trace_id(value)
        return super().get_prep_value(value)

    def to_python(self, value):
        if isinstance(value, bytes | memoryview):
            return unpack_trace_id(bytes(value))
        return value

    def value_to_string(self, obj) -> str:
        return str(self.value_from_object(obj))


class PackedJSONField(models.BinaryField):
    """JSON kept compressed (pack_json), for optional data that is read whole and never
    looked into by a query: what it holds can be computed again, so bytes that do not unpack
    (damaged by hand) read as None. Null and not null are the only filters that mean
    anything."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else unpack_json(bytes(value))

    def get_prep_value(self, value):
        return None if value is None else pack_json(value)

    def to_python(self, value):
        # The model holds the value itself; serialised (value_to_string), it is JSON text.
        return orjson.loads(value) if isinstance(value, str) else value

    def value_to_string(self, obj) -> str:
        return orjson.dumps(self.value_from_object(obj)).decode()


# A stored trace's first values of its business attributes ({"order.id": "A-100001", ...},
# 73 bytes of JSON text on the scale data) as raw deflate with a preset dictionary (the keys
# the explorer knows, and the prefixes of Alexandrite's ids), after a format byte: 29 bytes.
# Format 1's dictionary must never change (stored rows are read with it); another dictionary
# is another format byte. A small window and hash table: packing takes about 2.5 us (0.6 us
# a span), a full-size one twice that.
_KEYED_FORMAT = 1
_KEYED_DICTIONARY = b'{"customer.type":"","customer.id":"C-","order.id":"A-'
_KEYED_WINDOW_BITS = -10
_KEYED_PACKER = zlib.compressobj(
    _LEVEL, zlib.DEFLATED, _KEYED_WINDOW_BITS, 2, zlib.Z_DEFAULT_STRATEGY, _KEYED_DICTIONARY
)


def pack_keyed_json(value: dict) -> bytes:
    """A small JSON object packed with the preset dictionary (orjson's TypeError for what
    JSON cannot hold)."""
    return pack_keyed_document(orjson.dumps(value))


def pack_keyed_document(document: bytes) -> bytes:
    """pack_keyed_json of the object whose orjson document this is (for a writer that has
    the document already)."""
    packer = _KEYED_PACKER.copy()
    return bytes((_KEYED_FORMAT,)) + packer.compress(document) + packer.flush()


def unpack_keyed_json(data: bytes) -> dict | None:
    """pack_keyed_json's object, or None when the bytes are not what it wrote."""
    if data[:1] != bytes((_KEYED_FORMAT,)):
        return None
    unpacker = zlib.decompressobj(_KEYED_WINDOW_BITS, _KEYED_DICTIONARY)
    try:
        value = orjson.loads(unpacker.decompress(data[1:]))
    except (zlib.error, orjson.JSONDecodeError):
        return None
    return value if unpacker.eof and not unpacker.unused_data and type(value) is dict else None


class KeyedJSONField(PackedJSONField):
    """A small JSON object whose keys are mostly the business attributes the explorer knows,
    packed (pack_keyed_json). Never looked into by a query; bytes that do not unpack (damaged
    by hand) read as {}."""

    def from_db_value(self, value, expression, connection):
        return {} if value is None else (unpack_keyed_json(bytes(value)) or {})

    def get_prep_value(self, value):
        return None if value is None else pack_keyed_json(value)


def storable_cut(text: str, length: int = ID_LENGTH) -> str:
    """Text cut to a column's length, storable()."""
    return storable(text[:length])


def quoted_names(model: type[models.Model], fields: Iterable[str]) -> tuple[str, list[str]]:
    """The model's table and these fields' columns, quoted for the database: for the plain
    SQL of hot writes, whose names come from the model and whose values are all parameters."""
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(name).column for name in fields]  # type: ignore[union-attr]
    return quote(model._meta.db_table), [quote(column) for column in columns]  # type: ignore[arg-type]


def insert_sql(model: type[models.Model], fields: Iterable[str], suffix: str = "") -> str:
    """INSERT of one row of these fields (executemany it), `suffix` after the values."""
    table, columns = quoted_names(model, fields)
    marks = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){suffix}"  # noqa: S608


def select_rows(
    model: type[models.Model], fields: tuple[str, ...], suffix: str = "", **among: list
) -> list[tuple]:
    """Plain SELECT of these fields of the rows whose each field named in `among` holds one of
    its values (callers keep the lists under the database's limit on parameters), `suffix`
    after the condition; values converted as the ORM converts them (JSON parsed, SQLite's
    booleans made bool; a BinaryField's stays bytes or memoryview). For hot paths: the ORM
    takes several times longer to compile such a query than the database takes to answer."""
    if not all(among.values()):
        return []  # `IN ()` matches nothing (and PostgreSQL refuses it)
    for name, values in among.items():
        field = model._meta.get_field(name)
        if isinstance(field, TraceIdField):  # the one kind kept otherwise than given
            among[name] = [field.get_db_prep_value(value, connection) for value in values]
    table, columns = quoted_names(model, (*fields, *among))
    conditions = " AND ".join(
        f"{column} IN ({', '.join(['%s'] * len(values))})"
        for column, values in zip(columns[len(fields) :], among.values(), strict=True)
    )
    sql = f"SELECT {', '.join(columns[: len(fields)])} FROM {table} WHERE {conditions}{suffix}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for values in among.values() for value in values])
        rows = cursor.fetchall()
    if not rows:
        return rows
    converting = []
    for i, name in enumerate(fields):
        column = model._meta.get_field(name).cached_col  # type: ignore[union-attr]
        found = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        if found:
            converting.append((i, column, found))
    if not converting:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for i, column, converters in converting:
            for convert in converters:
                values[i] = convert(values[i], column, connection)
        converted.append(tuple(values))
    return converted


def code_point_order(field: str) -> F | Collate:
    """A text column to order by code point, as SQLite and Python's sorted() do: PostgreSQL
    otherwise orders by the database's collation (en_US or ICU: case, accents and punctuation
    weighed last), so lists, and what a limit keeps, would differ with the database."""
    if connection.vendor == "postgresql":
        return Collate(F(field), "C")
    return F(field)


class Operation(models.Model):
    """Catalogue of (service, span name) pairs ever stored, for search forms."""

    service = models.CharField(max_length=ID_LENGTH)
    name = models.CharField(max_length=ID_LENGTH)

    class Meta:
        db_table = "store_operation"
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="store_operation_unique")
        ]

    def __str__(self) -> str:
        return f"{self.service}: {self.name}"


class OperationSet(models.Model):
    """A set of operations (of the catalogue) that traces ran: a trace points to its set, so
    it costs no row per operation (27 sets serve the 146,595 traces of 5,000 simulated
    orders, where a row per trace and operation took 36 bytes a span)."""

    digest = models.CharField(max_length=64, unique=True)  # explorer.store.operations.digest

    class Meta:
        db_table = "store_operation_set"

    def __str__(self) -> str:
        return self.digest


class OperationSetMember(models.Model):
    # No index of its own: the unique (set, operation) one answers look-ups by set.
    operation_set = models.ForeignKey(
        OperationSet, on_delete=models.CASCADE, related_name="members", db_index=False
    )
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="sets")

    class Meta:
        db_table = "store_operation_set_member"
        constraints = [
            models.UniqueConstraint(
                fields=["operation_set", "operation"], name="store_operation_set_member_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation_set_id}: {self.operation_id}"


class StoredTrace(models.Model):
    """A stored trace's summary. Its end is start_ns + duration_ns, and its services are
    those of its operation set (migration 0017 dropped both columns: 27 bytes a trace); its
    root span's service and name are those of its `root` operation (0018: 20 bytes more); its
    id is kept as bytes (0019: 32 bytes more, in the row and the unique index)."""

    trace_id = TraceIdField(unique=True)
    start_ns = models.BigIntegerField(db_index=True)
    duration_ns = models.BigIntegerField()
    span_count = models.IntegerField()
    error_count = models.IntegerField()
    # The operation of its root span (its first span without a parent in it, TraceFacts), in
    # the catalogue (None: not pointed to it yet: the writer does, as for `operation_set`, in the
    # transaction that stores the trace). No index: only forgetting operations asks which
    # traces a root is, and reads the summaries once.
    root = models.ForeignKey(
        Operation, null=True, on_delete=models.PROTECT, related_name="roots", db_index=False
    )
    attributes = KeyedJSONField(default=dict)  # first value of each business attribute
    warnings = models.JSONField(default=list)  # what normalisation repaired
    # explorer.analysis.layout.TraceLayout of a trace of several chunks, which are then in tree
    # order; None for a trace of one chunk (by start time: its page lays out the whole trace).
    layout = models.BinaryField(null=True)
    # When spans last arrived for it (wall clock, ns): new spans, not a repeat of stored ones.
    # The live worker finds the orders that changed through it (StoreSource.arrivals_since,
    # the ListsArrivals capability; explorer.orders.arrivals).
    arrived_ns = models.BigIntegerField(null=True, db_index=True)
    # False once spans were merged in as chunks appended in arrival order: the chunks are then
    # neither in tree nor start order and `layout` is None until the trace is laid out again
    # (explorer.store.ingest.lay_out_stored, when a page first needs it).
    ordered = models.BooleanField(default=True)
    # True once spans of it ended ahead of the data clock when they arrived
    # (explorer.store.clock): kept and shown, but never the explorer's "now".
    clock_ahead = models.BooleanField(default=False)
    # The operations it ran, and so its services (None: none stored yet: the writer points
    # it to its set in the transaction that stores it). Sets are never deleted.
    operation_set = models.ForeignKey(
        OperationSet, null=True, on_delete=models.PROTECT, related_name="traces"
    )

    class Meta:
        db_table = "store_trace"

    def __str__(self) -> str:
        return self.trace_id


class TraceChunk(models.Model):
    """Spans number `seq * CHUNK_SPANS` onwards of a trace, in tree order when the trace has
    a layout, else by start time."""

    # No index of its own: the unique (trace, seq) one answers every look-up by trace.
    trace = models.ForeignKey(
        StoredTrace, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    seq = models.IntegerField()
    span_count = models.IntegerField()
    data = models.BinaryField()  # explorer.store.codec
    # explorer.store.prepare.span_keys of its spans: merging checks new spans against these
    # instead of decoding the chunk. None in the chunk of a trace of one chunk (merging reads
    # and writes that one whole anyway: 8 bytes a span saved) and in chunks stored before
    # they were kept.
    keys = models.BinaryField(null=True)

    class Meta:
        db_table = "store_chunk"
        constraints = [
            models.UniqueConstraint(fields=["trace", "seq"], name="store_chunk_trace_seq")
        ]

    def __str__(self) -> str:
        return f"{self.trace_id}#{self.seq}"


class ChunkDictionary(models.Model):
    """A zstd dictionary chunks are compressed with (explorer.store.dictionary): trained on
    the store's own chunks once it holds enough of them. Every one trained is kept, its row's
    id its version: a chunk names the dictionary it needs by `key`."""

    key = models.BigIntegerField(unique=True)  # zstd's id of it (explorer.store.codec)
    data = models.BinaryField()
    samples = models.IntegerField()  # chunks it was trained on
    trained_at = models.DateTimeField()

    class Meta:
        db_table = "store_chunk_dictionary"

    def __str__(self) -> str:
        return f"dictionary {self.pk} ({self.key})"


class AttributeKey(models.Model):
    """Catalogue of the keys of the business-attribute rows (`customer.id`, `order.id`, the
    link key...): a row of TraceAttribute names its key by `code`, 1 byte in the row and in
    its (key, value) index where the text took about 12 in each. Codes count from 1 as keys
    are first written (explorer.store.attribute_keys) and are never changed or deleted."""

    code = models.SmallAutoField(primary_key=True)
    key = models.CharField(max_length=ID_LENGTH, unique=True)

    class Meta:
        db_table = "store_attribute_key"

    def __str__(self) -> str:
        return f"{self.code}: {self.key}"


class TraceAttribute(models.Model):
    """A business attribute value seen on a span or resource of the trace; its key by its
    AttributeKey code (explorer.store.attribute_keys maps keys to codes and back)."""

    # Keyed by what a look-up asks, WITHOUT ROWID on SQLite (migration 0014): the table is its
    # own (key code, value) index, no row id and no second copy of each value.
    pk = models.CompositePrimaryKey("key_code", "value", "trace")
    trace = models.ForeignKey(StoredTrace, on_delete=models.CASCADE, related_name="business")
    # AttributeKey.code. A plain number, no foreign key: codes are never deleted, so a
    # constraint would only add a check to every row written.
    key_code = models.SmallIntegerField()
    value = models.CharField(max_length=INDEXED_VALUE_LENGTH)

    class Meta:
        db_table = "store_attribute"

    def __str__(self) -> str:
        return f"key {self.key_code}={self.value}"


class HourlyTraffic(models.Model):
    """What the system map shows, summed per hour at ingest (explorer.store.hourly): calls,
    errors, total duration and a latency histogram of one element or one relationship."""

    hour = models.BigIntegerField()  # start of the hour, ns since the epoch
    kind = models.CharField(max_length=8)  # explorer.store.hourly.SERVED, CALLED or PAIR
    source = models.CharField(max_length=ID_LENGTH)  # the element, or the caller of a pair
    target = models.CharField(max_length=ID_LENGTH, default="")  # the callee of a pair
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    duration_ns = models.BigIntegerField(default=0)
    # Calls by histogram bucket index (explorer.store.traffic), as hourly_figures.encode_bins
    # writes a sketch's bins (migration 0016; JSON text before).
    buckets = models.BinaryField(default=b"")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "kind", "source", "target"], name="hourly_traffic_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source} {self.target} @{self.hour}"


class ClockReading(models.Model):
    """One live arrival as a reading of the data clock (explorer.store.clock): when it arrived
    (wall clock) and the newest end it brought. Written by the receiver's writers only (a file
    of 14 days read in seconds tells nothing about the clock); kept for twice the window."""

    arrived_ns = models.BigIntegerField(db_index=True)
    end_ns = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.arrived_ns}: {self.end_ns}"


class ClockSkew(models.Model):
    """Spans of one service, from one sender, that ended ahead of the data clock when they
    arrived (explorer.store.clock): counted here, flagged on their trace, never "now"."""

    sender = models.CharField(max_length=ID_LENGTH)  # the receiver's token name, or "ingest"
    service = models.CharField(max_length=ID_LENGTH)
    spans = models.BigIntegerField(default=0)
    largest_lead_ns = models.BigIntegerField(default=0)  # how far ahead, at most
    last_lead_ns = models.BigIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()  # wall clock

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sender", "service"], name="clock_skew_key")]

    def __str__(self) -> str:
        return f"{self.sender} {self.service}: {self.spans}"


class RemovedTrace(models.Model):
    """A trace that retention removed (explorer.store.retention), so that its page and its
    order's page say when instead of "not found". Kept as long as order statuses are
    (EXPLORER_RETENTION_STATUS_DAYS, by the trace's start)."""

    trace_id = models.CharField(max_length=ID_LENGTH, unique=True)
    order_id = models.CharField(max_length=200, blank=True, db_index=True)  # "": no order
    start_ns = models.BigIntegerField(db_index=True)
    removed_on = models.DateField()

    class Meta:
        db_table = "store_removed_trace"

    def __str__(self) -> str:
        return f"{self.trace_id}: removed on {self.removed_on}"


class HourlyKey(models.Model):
    """What an HourlyOperation row counts: an operation (the element its service was mapped
    to, the service, the span name and kind) and a customer type. Rows hold their key's number
    instead of these texts (180 keys serve the 114,295 rows of the scale data, where the texts
    took 8 bytes a span). Added by writers (explorer.store.hourly_keys), never changed; erasure
    deletes those that name a customer."""

    element = models.CharField(max_length=ID_LENGTH, default="")  # "" when the mapping has none
    service = models.CharField(max_length=ID_LENGTH)
    operation = models.CharField(max_length=ID_LENGTH)
    kind = models.SmallIntegerField()  # explorer.traces.model.SpanKind
    customer_type = models.CharField(max_length=64, default="")

    class Meta:
        db_table = "store_hourly_key"
        constraints = [
            models.UniqueConstraint(
                fields=["element", "service", "operation", "kind", "customer_type"],
                name="store_hourly_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.element or self.service} {self.operation} ({self.customer_type})"


class HourlyOperation(models.Model):
    """Per hour and key (operation and customer type, HourlyKey): spans, errors, SLA breaches,
    a latency sketch and the slowest spans (explorer.store.hourly_operations); the same per UTC
    day in rows marked `day`, for long windows. No unique key: a concurrent writer may add a
    second row for the same key, and readers sum whatever rows a key has."""

    # Start of the hour (or day), ns since epoch. Every query by hour names `day` too (or both),
    # so the (day, hour) index serves them all: no index of its own.
    hour = models.BigIntegerField()
    day = models.BooleanField(default=False)  # a whole UTC day's figures
    # No index: rows are read by hour; erasure, which looks for a key's rows, is rare.
    key = models.ForeignKey(
        HourlyKey, on_delete=models.PROTECT, db_index=False, related_name="rows"
    )
    count = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    limit_ms = models.FloatField(null=True)  # the SLA limit over_limit was counted against
    over_limit = models.BigIntegerField(default=0)
    sketch = models.BinaryField()  # explorer.store.hourly_figures.Sketch.encode() (migration 0013)
    # (duration ns, trace id, span id, order id) each: hourly_figures.pack_examples
    slowest = models.BinaryField(default=b"")

    class Meta:
        indexes = [models.Index(fields=["day", "hour"], name="hourly_operation_day_hour")]

    def __str__(self) -> str:
        return f"{self.key_id} @{self.hour}"
