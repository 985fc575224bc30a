from django.apps import AppConfig


class ToursConfig(AppConfig):
    name = "explorer.tours"
    label = "tours"
    verbose_name = "Onboarding tours"
    default_auto_field = "django.db.models.BigAutoField"
