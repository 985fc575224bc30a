from django.apps import AppConfig


class ExplorerConfig(AppConfig):
    """The project package; its management/commands/ hold the command-line interface."""

    name = "explorer"
    verbose_name = "Trace explorer"
