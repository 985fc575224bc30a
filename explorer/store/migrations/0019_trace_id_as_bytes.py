"""A stored trace's id as bytes (explorer.store.models.TraceIdField): the usual 32 lowercase
hex digits as their 16 bytes, in the row and again in its unique index (32 bytes a trace);
any other id as 0xFF and its UTF-8. Carried over through a new column, a slice of rows at a
time; reversible. The format as it is here is frozen: the project's code may move on."""

from django.db import migrations, models

import explorer.store.models

SLICE = 2_000
_TEXT_ID = b"\xff"


def pack(trace_id: str) -> bytes:
    if (
        len(trace_id) in (32, 16)
        and trace_id.isascii()
        and set(trace_id) <= set("0123456789abcdef")
    ):
        return bytes.fromhex(trace_id)
    text = _TEXT_ID + trace_id.encode("utf-8", "surrogatepass")
    return text + _TEXT_ID if len(text) in (16, 8) else text


def unpack(data: bytes) -> str:
    if len(data) in (16, 8):
        return data.hex()
    return data[1:].rstrip(_TEXT_ID).decode("utf-8", "surrogatepass")


def _copy(schema_editor, source: str, target: str, convert) -> None:
    q = schema_editor.quote_name
    table, key, read, write = q("store_trace"), q("id"), q(source), q(target)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min({key}), max({key}) FROM {table}")  # noqa: S608
        first, last = cursor.fetchone()
        for start in range(first, last + 1, SLICE) if first is not None else ():
            cursor.execute(
                f"SELECT {key}, {read} FROM {table} WHERE {key} >= %s AND {key} < %s",  # noqa: S608
                [start, start + SLICE],
            )
            rows = [(convert(value), pk) for pk, value in cursor.fetchall()]
            cursor.executemany(f"UPDATE {table} SET {write} = %s WHERE {key} = %s", rows)  # noqa: S608


def to_bytes(apps, schema_editor):
    _copy(schema_editor, "trace_id", "trace_key", pack)


def to_text(apps, schema_editor):
    _copy(schema_editor, "trace_key", "trace_id", lambda data: unpack(bytes(data)))


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0018_trace_root_operation"),
    ]

    operations = [
        migrations.AddField(
            model_name="storedtrace", name="trace_key", field=models.BinaryField(null=True)
        ),
        # Nullable first, so that going back the text column can come back empty, be filled,
        # and only then be made not null again.
        migrations.AlterField(
            model_name="storedtrace",
            name="trace_id",
            field=models.CharField(max_length=255, null=True, unique=True),
        ),
        migrations.RunPython(to_bytes, to_text),
        migrations.RemoveField(model_name="storedtrace", name="trace_id"),
        migrations.RenameField(model_name="storedtrace", old_name="trace_key", new_name="trace_id"),
        migrations.AlterField(
            model_name="storedtrace",
            name="trace_id",
            field=explorer.store.models.TraceIdField(unique=True),
        ),
    ]
