"""Tables of the receiver's `index` mode: what journeys need that remote backends cannot
answer (the spans themselves stay in Tempo or Jaeger). Per trace one summary row, plus its
business-attribute values and the ids of the traces it links to, as look-up rows."""

from django.db import models

from explorer.store.prepare import ID_LENGTH, INDEXED_VALUE_LENGTH


class IndexedTrace(models.Model):
    trace_id = models.CharField(max_length=ID_LENGTH, unique=True)
    start_ns = models.BigIntegerField(db_index=True)
    end_ns = models.BigIntegerField()
    # Distinct spans received (by `keys`): a batch a sender sends again counts once.
    span_count = models.IntegerField()
    error_count = models.IntegerField()
    # explorer.store.prepare.span_keys of the spans received, 8 bytes a span: what makes a
    # resent batch change nothing.
    keys = models.BinaryField(default=b"")
    root_service = models.CharField(max_length=ID_LENGTH)
    root_name = models.TextField()
    has_root = models.BooleanField(default=False)  # the root span (no parent) has arrived
    services = models.JSONField(default=list)
    attributes = models.JSONField(default=dict)  # first value of each business attribute
    # The [key, value] pairs of the trace's IndexedValue rows: a pair is written once (a resent
    # batch adds none), without a unique index on the rows that every write would update.
    values = models.JSONField(default=list)
    # When spans of the trace last arrived (ns since the epoch), for "changed since".
    arrived_ns = models.BigIntegerField(db_index=True, default=0)
    # True once spans of it ended ahead of the data clock when they arrived
    # (explorer.store.clock): never the explorer's "now".
    clock_ahead = models.BooleanField(default=False)
    # explorer.receiver.calls: per span (in the order of `keys`) its parent's id hash and its
    # element's number, and the spans whose call waits for its other end: 9 bytes a span and
    # the trace's element ids, so that calls split across requests are counted once. No id.
    # Empty unless EXPLORER_RECEIVER_INDEX_TRAFFIC is on.
    calls = models.BinaryField(default=b"")

    class Meta:
        db_table = "receiver_trace"

    def __str__(self) -> str:
        return self.trace_id


class IndexedValue(models.Model):
    """A business-attribute value of the trace, or (key link.trace_id) a trace it links to.
    Keyed by the trace id itself, so that rows are written without first reading keys. Looked
    up by key and value only; IndexedTrace.values says which rows a trace has."""

    trace_id = models.CharField(max_length=ID_LENGTH)
    key = models.CharField(max_length=ID_LENGTH)
    value = models.CharField(max_length=INDEXED_VALUE_LENGTH)

    class Meta:
        db_table = "receiver_value"
        indexes = [models.Index(fields=["key", "value"], name="receiver_value_key_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
