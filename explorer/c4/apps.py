from django.apps import AppConfig


class C4Config(AppConfig):
    name = "explorer.c4"
    label = "c4"
    verbose_name = "C4 model"
    default_auto_field = "django.db.models.BigAutoField"
