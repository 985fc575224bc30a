from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class C4Config(AppConfig):
    name = "explorer.c4"
    label = "c4"
    verbose_name = _("C4 model")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from explorer.c4.models import MappingRule, ModelText
        from explorer.caching import configuration_changed

        # An edited mapping rule or model text changes the configuration every cached result
        # was made with.
        for model in (MappingRule, ModelText):
            for signal in (post_save, post_delete):
                signal.connect(
                    configuration_changed,
                    sender=model,
                    dispatch_uid=f"c4-{model.__name__}-{signal is post_save}",
                )
