from django.apps import AppConfig


class ReceiverAppConfig(AppConfig):
    name = "explorer.receiver"
    label = "receiver"
    verbose_name = "OTLP receiver"
