from django.apps import AppConfig


class ReceiverConfig(AppConfig):
    name = "explorer.receiver"
    label = "receiver"
    verbose_name = "OTLP receiver"

    def ready(self) -> None:
        # In index mode remote backends answer the look-ups they lack from the index
        # (installed here because the source registry, a lower layer, cannot import us;
        # with_index reads the mode on every call).
        from explorer.receiver.index import with_index
        from explorer.sources import registry

        if with_index not in registry.WRAPPERS:
            registry.WRAPPERS.append(with_index)
