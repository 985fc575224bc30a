"""The five rules with their defaults, so architects find them in the admin."""

from django.db import migrations

from explorer.alerts.models import RULE_DEFAULTS


def create_rules(apps, schema_editor):
    rule_model = apps.get_model("alerts", "AlertRule")
    for kind, values in RULE_DEFAULTS.items():
        rule_model.objects.get_or_create(kind=kind, defaults=values)


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(create_rules, migrations.RunPython.noop)]
