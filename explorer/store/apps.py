from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "explorer.store"
    label = "store"
    verbose_name = "Embedded trace store"

    def ready(self):
        from explorer.sources.registry import register_kind
        from explorer.store.source import StoreSource

        # The trace-source kind "store": sources know the store only through this.
        register_kind("store", lambda name, options: StoreSource(name=name))
