"""The hourly figures' examples packed (hourly_figures.pack_examples) instead of JSON, and the
table's index of `hour` alone dropped: every query names `day` too, which the (day, hour) index
serves. Reversible: the examples go back to JSON."""

import orjson
from django.db import migrations, models

from explorer.store.hourly_figures import pack_examples, unpack_examples

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
