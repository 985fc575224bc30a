from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "explorer.alerts"
    label = "alerts"
    verbose_name = "Alerts"
