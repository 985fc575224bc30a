from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class ToursConfig(AppConfig):
    name = "explorer.tours"
    label = "tours"
    verbose_name = _("Onboarding tours")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from explorer.caching import configuration_changed
        from explorer.tours.models import CheckQuestion, Tour, TourStep

        # A changed tour (not someone's progress) invalidates what was cached with it.
        for model in (Tour, TourStep, CheckQuestion):
            for signal in (post_save, post_delete):
                signal.connect(
                    configuration_changed,
                    sender=model,
                    dispatch_uid=f"tours-{model.__name__}-{signal is post_save}",
                )
