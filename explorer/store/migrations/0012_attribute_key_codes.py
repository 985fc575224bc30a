"""The business-attribute rows name their key by a small code from a catalogue
(`store_attribute_key`) instead of its text: 1 byte in the row and in the (key, value) index
where `customer.id` took 12 in each. The catalogue is filled with the keys the rows hold (codes
1, 2, 3... in key order), each row given its key's code, a slice of rows at a time, then the
text column and its index are dropped. Reversible: the text goes back from the catalogue.

On PostgreSQL the dropped column's bytes stay in the rows until they are written again
(`VACUUM FULL store_attribute` gives them back); on SQLite the table is rewritten here."""

from django.db import migrations, models

TABLE = "store_attribute"
CATALOGUE = "store_attribute_key"
SLICE = 100_000  # rows (by id) per UPDATE


def _from_catalogue(schema_editor, column: str, wanted: str, by: str, of: str) -> None:
    """Each row's `column` set to the `wanted` column of the catalogue row whose `by` is the
    row's `of`, a range of SLICE ids at a time."""
    q = schema_editor.quote_name
    table, key = q(TABLE), q("id")
    update = (
        f"UPDATE {table} SET {q(column)} = (SELECT k.{q(wanted)} FROM {q(CATALOGUE)} k "  # noqa: S608
        f"WHERE k.{q(by)} = {table}.{q(of)}) WHERE {key} >= %s AND {key} < %s"
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min({key}), max({key}) FROM {table}")  # noqa: S608
        first, last = cursor.fetchone()
        for start in range(first, last + 1, SLICE) if first is not None else ():
            cursor.execute(update, [start, start + SLICE])


def to_codes(apps, schema_editor):
    """The catalogue filled with the rows' keys (codes in key order), each row its key's code."""
    q = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT {q('key')} FROM {q(TABLE)}")  # noqa: S608
        keys = sorted(key for (key,) in cursor.fetchall())
    AttributeKey = apps.get_model("store", "AttributeKey")
    AttributeKey.objects.bulk_create([AttributeKey(key=key) for key in keys])
    _from_catalogue(schema_editor, "key_code", "code", by="key", of="key")


def to_text(apps, schema_editor):
    """Back: each row's key text from the catalogue (the text column added again before)."""
    _from_catalogue(schema_editor, "key", "key", by="code", of="key_code")


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0011_compact_hourly_examples"),
    ]

    operations = [
        migrations.CreateModel(
            name="AttributeKey",
            fields=[
                ("code", models.SmallAutoField(primary_key=True, serialize=False)),
                ("key", models.CharField(max_length=255, unique=True)),
            ],
            options={
                "db_table": "store_attribute_key",
            },
        ),
        # Null until filled: adding the column is then cheap on both databases.
        migrations.AddField(
            model_name="traceattribute",
            name="key_code",
            field=models.SmallIntegerField(null=True),
        ),
        migrations.RunPython(to_codes, to_text),
        migrations.RemoveIndex(
            model_name="traceattribute",
            name="store_attribute_key_value",
        ),
        # State only: going back, the text column is added again to rows that already exist
        # (to_text fills it), which needs a default for them.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="traceattribute",
                    name="key",
                    field=models.CharField(max_length=255, default=""),
                ),
            ],
        ),
        migrations.RemoveField(
            model_name="traceattribute",
            name="key",
        ),
        migrations.AlterField(
            model_name="traceattribute",
            name="key_code",
            field=models.SmallIntegerField(),
        ),
        migrations.AddIndex(
            model_name="traceattribute",
            index=models.Index(fields=["key_code", "value"], name="store_attribute_code_value"),
        ),
    ]
