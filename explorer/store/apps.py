from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "explorer.store"
    label = "store"
    verbose_name = "Embedded trace store"
