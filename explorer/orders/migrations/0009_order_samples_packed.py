"""Order samples kept compressed (explorer.store.models.PackedJSONField): about 2 KB of JSON
an order took a database page a row. The stored samples are carried over, packed."""

from django.db import migrations

import explorer.store.models

BATCH = 500


def pack_samples(apps, schema_editor):
    OrderStatus = apps.get_model("journeys", "OrderStatus")
    rows = OrderStatus.objects.filter(sample__isnull=False).values_list("pk", "sample")
    batch = []
    for pk, sample in rows.iterator():
        batch.append(OrderStatus(pk=pk, packed_sample=sample))
        if len(batch) >= BATCH:
            OrderStatus.objects.bulk_update(batch, ["packed_sample"])
            batch = []
    OrderStatus.objects.bulk_update(batch, ["packed_sample"])


def unpack_samples(apps, schema_editor):
    OrderStatus = apps.get_model("journeys", "OrderStatus")
    rows = OrderStatus.objects.filter(packed_sample__isnull=False).values_list(
        "pk", "packed_sample"
    )
    for pk, sample in rows.iterator():
        OrderStatus.objects.filter(pk=pk).update(sample=sample)


class Migration(migrations.Migration):
    dependencies = [
        ("journeys", "0008_order_samples"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderstatus",
            name="packed_sample",
            field=explorer.store.models.PackedJSONField(blank=True, null=True),
        ),
        migrations.RunPython(pack_samples, unpack_samples),
        migrations.RemoveField(model_name="orderstatus", name="sample"),
        migrations.RenameField(
            model_name="orderstatus", old_name="packed_sample", new_name="sample"
        ),
        migrations.AlterField(
            model_name="orderstatus",
            name="sample",
            field=explorer.store.models.PackedJSONField(
                blank=True,
                help_text="OrderSample.as_dict(), compressed: its part of the typical journey of its type (null: not kept, read from its traces); explorer.orders.samples",
                null=True,
            ),
        ),
    ]
