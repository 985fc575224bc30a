"""A trace summary's root span is named by an operation of the catalogue (store_operation,
which holds every operation a stored trace ran) instead of its service and name as text: 20
bytes a trace on the scale data. The catalogue keys names cut to 255 characters, as here (the
text kept a longer root name whole). Reversible: going back, the text is that of the root's
operation. The cut as it is here is frozen: the project's code may move on."""

from django.db import migrations, models

NAME_LENGTH = 255  # explorer.store.models.ID_LENGTH when this was written


def point_to_roots(apps, schema_editor):
    """`root` set from the text, once per distinct root (a few dozen), operations the
    catalogue lacks added (it has them all unless rows were written by hand)."""
    StoredTrace = apps.get_model("store", "StoredTrace")
    Operation = apps.get_model("store", "Operation")
    roots = StoredTrace.objects.values_list("root_service", "root_name").distinct()
    for service, name in list(roots.order_by()):
        key = (service[:NAME_LENGTH], name[:NAME_LENGTH])
        operation, _ = Operation.objects.get_or_create(service=key[0], name=key[1])
        StoredTrace.objects.filter(root_service=service, root_name=name).update(root=operation)


def name_roots(apps, schema_editor):
    StoredTrace = apps.get_model("store", "StoredTrace")
    Operation = apps.get_model("store", "Operation")
    used = StoredTrace.objects.exclude(root=None).values_list("root", flat=True).distinct()
    for operation in Operation.objects.filter(pk__in=list(used.order_by())):
        StoredTrace.objects.filter(root=operation).update(
            root_service=operation.service, root_name=operation.name
        )


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0017_trace_end_and_services_derived"),
    ]

    operations = [
        migrations.AddField(
            model_name="storedtrace",
            name="root",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="roots",
                to="store.operation",
            ),
        ),
        # Going back, the text columns come back first (with these defaults), then are filled.
        migrations.AlterField(
            model_name="storedtrace",
            name="root_service",
            field=models.CharField(default="", max_length=255),
        ),
        migrations.AlterField(
            model_name="storedtrace", name="root_name", field=models.TextField(default="")
        ),
        migrations.RunPython(point_to_roots, name_roots),
        migrations.RemoveField(model_name="storedtrace", name="root_service"),
        migrations.RemoveField(model_name="storedtrace", name="root_name"),
    ]
