from django.apps import AppConfig


class ExplorerAppConfig(AppConfig):
    """The project package; its management/commands/ hold the command-line interface."""

    name = "explorer"
    verbose_name = "Trace explorer"

    def ready(self) -> None:
        # The store keeps the system map's hourly figures by element; the elements come from
        # the configuration, a layer above the store.
        from explorer.configuration import explorer_config
        from explorer.store import hourly

        hourly.mapping_provider = lambda: explorer_config().mapping
