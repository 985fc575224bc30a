from django.apps import AppConfig


class ReceiverConfig(AppConfig):
    name = "explorer.receiver"
    label = "receiver"
    verbose_name = "OTLP receiver"

    def ready(self) -> None:
        # In index mode remote backends answer the look-ups they lack from the index
        # (installed here because the source registry, a lower layer, cannot import us).
        from django.conf import settings

        from explorer.receiver.index import with_index
        from explorer.sources import registry

        if settings.EXPLORER_RECEIVER_MODE == "index" and with_index not in registry.WRAPPERS:
            registry.WRAPPERS.append(with_index)
