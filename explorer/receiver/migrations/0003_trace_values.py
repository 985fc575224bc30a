"""IndexedTrace.values replaces the unique constraint on IndexedValue: the pairs a trace has
are read with its row, and the rows are written without a second index to keep in order."""

from django.db import migrations, models

CHUNK = 900  # traces at a time (SQLite takes up to 999 parameters in older builds)


def fill_values(apps, schema_editor):
    IndexedTrace = apps.get_model("receiver", "IndexedTrace")
    IndexedValue = apps.get_model("receiver", "IndexedValue")
    last = 0
    while rows := list(IndexedTrace.objects.filter(pk__gt=last).order_by("pk")[:CHUNK]):
        last = rows[-1].pk
        pairs: dict[str, set] = {}
        found = IndexedValue.objects.filter(trace_id__in=[row.trace_id for row in rows])
        for trace_id, key, value in found.values_list("trace_id", "key", "value"):
            pairs.setdefault(trace_id, set()).add((key, value))
        for row in rows:
            row.values = sorted(list(pair) for pair in pairs.get(row.trace_id, ()))
        IndexedTrace.objects.bulk_update(rows, ["values"])


class Migration(migrations.Migration):
    dependencies = [
        ("receiver", "0002_span_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="indexedtrace",
            name="values",
            field=models.JSONField(default=list),
        ),
        migrations.RunPython(fill_values, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="indexedvalue",
            name="receiver_value_unique",
        ),
    ]
