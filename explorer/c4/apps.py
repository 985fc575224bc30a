from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class C4Config(AppConfig):
    name = "explorer.c4"
    label = "c4"
    verbose_name = "C4 model"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from explorer.c4.models import MappingRule
        from explorer.caching import configuration_changed

        # An edited mapping rule changes the configuration every cached result was made with.
        for signal in (post_save, post_delete):
            signal.connect(
                configuration_changed,
                sender=MappingRule,
                dispatch_uid=f"c4-rules-{signal is post_save}",
            )
