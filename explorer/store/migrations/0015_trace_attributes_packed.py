"""A stored trace's first values of its business attributes packed with a preset dictionary (their
keys, the ids' prefixes; explorer.store.models.KeyedJSONField): 29 bytes instead of 73 of JSON
text on the scale data. The stored values are carried over, and back, in batches."""

import json

from django.db import migrations

import explorer.store.models
from explorer.store.models import pack_keyed_json

BATCH = 2_000


def _rewrite(apps, schema_editor, source: str, target: str, convert) -> None:
    """Every row's `source` column converted into `target`, in batches of plain UPDATEs."""
    StoredTrace = apps.get_model("store", "StoredTrace")
    quote = schema_editor.connection.ops.quote_name
    sql = f"UPDATE {quote('store_trace')} SET {quote(target)} = %s WHERE id = %s"  # noqa: S608
    rows = StoredTrace.objects.order_by("pk").values_list("pk", source)
    batch: list[tuple] = []
    with schema_editor.connection.cursor() as cursor:
        for pk, value in rows.iterator(chunk_size=BATCH):
            batch.append((convert(value), pk))
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                batch = []
        cursor.executemany(sql, batch)


def pack(apps, schema_editor):
    _rewrite(apps, schema_editor, "attributes", "packed_attributes", pack_keyed_json)


def unpack(apps, schema_editor):
    # JSON text: PostgreSQL's jsonb takes it as a parameter cast from text.
    _rewrite(apps, schema_editor, "packed_attributes", "attributes", json.dumps)


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0014_attribute_rows_keyed_by_code_value_trace"),
    ]

    operations = [
        migrations.AddField(
            model_name="storedtrace",
            name="packed_attributes",
            field=explorer.store.models.KeyedJSONField(default=dict),
        ),
        migrations.RunPython(pack, unpack),
        migrations.RemoveField(model_name="storedtrace", name="attributes"),
        migrations.RenameField(
            model_name="storedtrace", old_name="packed_attributes", new_name="attributes"
        ),
    ]
