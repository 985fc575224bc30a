"""Answer.first_correct: whether the first answer to a question was right (the tour's score).
Answers stored before it only know their latest choice: that one stands for the first."""

from django.db import migrations, models


def latest_as_first(apps, schema_editor):
    Answer = apps.get_model("tours", "Answer")
    Answer.objects.filter(correct=True).update(first_correct=True)


class Migration(migrations.Migration):
    dependencies = [("tours", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="answer",
            name="first_correct",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(latest_as_first, migrations.RunPython.noop),
    ]
