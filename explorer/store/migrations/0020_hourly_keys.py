"""The hourly figures name what they count (element, service, span name, kind, customer type)
by a key of a new table, store_hourly_key, instead of repeating the texts in every row: 180
keys serve the 114,295 rows of the scale data, and the texts took 8 bytes a span. Reversible:
going back, each row gets its key's texts again."""

from django.db import migrations, models

FIELDS = ("element", "service", "operation", "kind", "customer_type")


def point_to_keys(apps, schema_editor):
    """`key` set from the texts, one UPDATE per distinct key (a few hundred)."""
    HourlyOperation = apps.get_model("store", "HourlyOperation")
    HourlyKey = apps.get_model("store", "HourlyKey")
    distinct = HourlyOperation.objects.values_list(*FIELDS).distinct().order_by(*FIELDS)
    for texts in list(distinct):
        names = dict(zip(FIELDS, texts, strict=True))
        key = HourlyKey.objects.create(**names)
        HourlyOperation.objects.filter(**names).update(key=key)


def name_keys(apps, schema_editor):
    HourlyOperation = apps.get_model("store", "HourlyOperation")
    HourlyKey = apps.get_model("store", "HourlyKey")
    for key in HourlyKey.objects.all():
        HourlyOperation.objects.filter(key=key).update(
            **{name: getattr(key, name) for name in FIELDS}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0019_trace_id_as_bytes"),
    ]

    operations = [
        migrations.CreateModel(
            name="HourlyKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("element", models.CharField(default="", max_length=255)),
                ("service", models.CharField(max_length=255)),
                ("operation", models.CharField(max_length=255)),
                ("kind", models.SmallIntegerField()),
                ("customer_type", models.CharField(default="", max_length=64)),
            ],
            options={
                "db_table": "store_hourly_key",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("element", "service", "operation", "kind", "customer_type"),
                        name="store_hourly_key_unique",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="hourlyoperation",
            name="key",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="rows",
                to="store.hourlykey",
            ),
        ),
        # Going back, the text columns come back first (with these defaults), then are filled.
        migrations.AlterField(
            model_name="hourlyoperation",
            name="service",
            field=models.CharField(default="", max_length=255),
        ),
        migrations.AlterField(
            model_name="hourlyoperation",
            name="operation",
            field=models.CharField(default="", max_length=255),
        ),
        migrations.AlterField(
            model_name="hourlyoperation", name="kind", field=models.SmallIntegerField(default=0)
        ),
        migrations.RunPython(point_to_keys, name_keys),
        migrations.RemoveField(model_name="hourlyoperation", name="element"),
        migrations.RemoveField(model_name="hourlyoperation", name="service"),
        migrations.RemoveField(model_name="hourlyoperation", name="operation"),
        migrations.RemoveField(model_name="hourlyoperation", name="kind"),
        migrations.RemoveField(model_name="hourlyoperation", name="customer_type"),
        migrations.AlterField(
            model_name="hourlyoperation",
            name="key",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.deletion.PROTECT,
                related_name="rows",
                to="store.hourlykey",
            ),
        ),
    ]
