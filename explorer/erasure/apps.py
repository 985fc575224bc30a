from django.apps import AppConfig


class ErasureConfig(AppConfig):
    name = "explorer.erasure"
    label = "erasure"
    verbose_name = "Erasure"
