"""The hourly figures' examples packed (format 1 of hourly_figures.pack_examples) instead of
JSON, and the table's index of `hour` alone dropped: every query names `day` too, which the
(day, hour) index serves. Reversible: the examples go back to JSON.

Format 1 is written out here, not imported: a migration must keep doing what it did when the
live code's format moves on (tests/test_migrations.py). Per example: the duration as a zigzag
varint, a flags byte (1: trace id as 16 raw bytes, 2: span id as 8 raw bytes), each id raw or
as a varint length and UTF-8, the order id as a varint length and UTF-8."""

import orjson
from django.db import migrations, models

HOUR_INDEX = "store_hourlyoperation_hour_e9ad6a5c"  # Django's name for the field's index
TABLE = "store_hourlyoperation"
SLICE = 2000


def _convert(schema_editor, source: str, target: str, change) -> None:
    """Each row's `source` column written to `target` through `change`, a slice at a time."""
    quote = schema_editor.quote_name
    select = f"SELECT {quote('id')}, {quote(source)} FROM {quote(TABLE)}"  # noqa: S608
    update = f"UPDATE {quote(TABLE)} SET {quote(target)} = %s WHERE {quote('id')} = %s"  # noqa: S608
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(select)
        rows = cursor.fetchall()
        for start in range(0, len(rows), SLICE):
            cursor.executemany(
                update, [(change(value), pk) for pk, value in rows[start : start + SLICE]]
            )


VERSION, RAW_TRACE, RAW_SPAN = 1, 1, 2
HEX = frozenset("0123456789abcdef")


def _varint(out: bytearray, number: int) -> None:
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    number = shift = 0
    while True:
        byte = data[at]
        at += 1
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, at
        shift += 7


def _text(out: bytearray, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    _varint(out, len(data))
    out += data


def pack_examples(examples) -> bytes:
    out = bytearray()
    for duration, trace_id, span_id, order_id in examples:
        if not out:
            out.append(VERSION)
        _varint(out, duration << 1 if duration >= 0 else (-duration << 1) - 1)
        raw_trace = len(trace_id) == 32 and HEX.issuperset(trace_id)
        raw_span = len(span_id) == 16 and HEX.issuperset(span_id)
        out.append((RAW_TRACE if raw_trace else 0) | (RAW_SPAN if raw_span else 0))
        for text, raw in ((trace_id, raw_trace), (span_id, raw_span)):
            if raw:
                out += bytes.fromhex(text)
            else:
                _text(out, text)
        _text(out, order_id)
    return bytes(out)


def unpack_examples(data) -> list:
    data = bytes(data)
    examples, at = [], 1
    while at < len(data):
        zigzag, at = _read_varint(data, at)
        flags, at = data[at], at + 1
        ids = []
        for raw in (16 if flags & RAW_TRACE else 0, 8 if flags & RAW_SPAN else 0, 0):
            if raw:
                ids.append(data[at : at + raw].hex())
                at += raw
            else:
                size, at = _read_varint(data, at)
                ids.append(data[at : at + size].decode("utf-8", "surrogatepass"))
                at += size
        duration = zigzag >> 1 if not zigzag & 1 else -((zigzag + 1) >> 1)
        examples.append([duration, *ids])
    return examples


def _json(value) -> list:
    """A JSON column's value as the database driver gives it (text on SQLite, parsed or text
    on PostgreSQL)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def to_packed(apps, schema_editor):
    _convert(
        schema_editor,
        "slowest",
        "packed_slowest",
        lambda value: pack_examples(tuple(e) for e in _json(value)),
    )


def to_json(apps, schema_editor):
    """Back (the packed column renamed before, the JSON one added)."""
    adapt = schema_editor.connection.ops.adapt_json_value

    def change(value):
        examples = [
            [e[0], *(text.replace("\x00", "\ufffd") for text in e[1:])]
            for e in unpack_examples(value)
        ]  # PostgreSQL's JSON refuses NUL
        return adapt(examples, None)

    _convert(schema_editor, "packed_slowest", "slowest", change)


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0010_compact_chunks"),
    ]

    operations = [
        migrations.AddField(
            model_name="hourlyoperation",
            name="packed_slowest",
            field=models.BinaryField(default=b""),
        ),
        migrations.RunPython(to_packed, to_json),
        migrations.RemoveField(model_name="hourlyoperation", name="slowest"),
        migrations.RenameField(
            model_name="hourlyoperation", old_name="packed_slowest", new_name="slowest"
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="hourlyoperation",
                    name="hour",
                    field=models.BigIntegerField(),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {HOUR_INDEX}",
                    f'CREATE INDEX {HOUR_INDEX} ON "{TABLE}" ("hour")',
                ),
            ],
        ),
    ]
