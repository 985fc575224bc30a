from django.apps import AppConfig


class ExplorerAppConfig(AppConfig):
    """The project package; its management/commands/ hold the command-line interface."""

    name = "explorer"
    verbose_name = "Trace explorer"
