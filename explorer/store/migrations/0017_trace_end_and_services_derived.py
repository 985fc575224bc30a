"""A trace summary's end and services are no longer columns of their own (27 bytes a trace
on the scale data): its end is start_ns + duration_ns, and its services are those of the
operations of its operation set, which the writer keeps in the same transaction. Reversible:
going back, both are computed again from those, a slice of rows at a time."""

import json

from django.db import migrations, models

SLICE = 2_000


def restore(apps, schema_editor):
    """end_ns and services filled again (the columns are back, empty)."""
    StoredTrace = apps.get_model("store", "StoredTrace")
    Member = apps.get_model("store", "OperationSetMember")
    services: dict[int, list[str]] = {}
    for set_id, service in Member.objects.values_list("operation_set", "operation__service"):
        services.setdefault(set_id, []).append(service)
    q = schema_editor.quote_name
    table, key, end, listed = q("store_trace"), q("id"), q("end_ns"), q("services")
    rows = StoredTrace.objects.order_by("pk").values_list(
        "pk", "start_ns", "duration_ns", "operation_set"
    )
    last = 0
    with schema_editor.connection.cursor() as cursor:
        while True:
            part = list(rows.filter(pk__gt=last)[:SLICE])
            if not part:
                return
            last = part[-1][0]
            values = [
                (start + duration, json.dumps(sorted(set(services.get(set_id, ())))), pk)
                for pk, start, duration, set_id in part
            ]
            cursor.executemany(
                f"UPDATE {table} SET {end} = %s, {listed} = %s WHERE {key} = %s",  # noqa: S608
                values,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0016_compact_traffic_buckets"),
    ]

    operations = [
        # Going back, the columns come back first (with these defaults), then are filled.
        migrations.AlterField(
            model_name="storedtrace", name="end_ns", field=models.BigIntegerField(default=0)
        ),
        migrations.RunPython(migrations.RunPython.noop, restore),
        migrations.RemoveField(model_name="storedtrace", name="end_ns"),
        migrations.RemoveField(model_name="storedtrace", name="services"),
    ]
