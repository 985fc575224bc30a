from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class MappingRule(models.Model):
    """One telemetry -> C4 element rule (see explorer.c4.mapping for the semantics)."""

    SECTIONS = [
        ("services", "service (resource attributes)"),
        ("peers", "peer (what a client/producer span calls)"),
    ]

    section = models.CharField(max_length=16, choices=SECTIONS)
    position = models.PositiveIntegerField(default=0, help_text="Rules are tried in this order.")
    element = models.CharField(max_length=200, help_text="C4 element id, e.g. shop_api")
    match = models.JSONField(
        help_text='Attribute -> exact string or {"regex": "..."}, e.g. {"service.name": "shop-api"}'
    )

    class Meta:
        ordering = ["section", "position", "id"]
        verbose_name = _("mapping rule")
        verbose_name_plural = _("mapping rules")

    def __str__(self) -> str:
        return f"{self.section}: {self.match} -> {self.element}"


class ModelText(models.Model):
    """A text of the C4 model in another language, filled in by an architect in the admin; it
    takes precedence over the same text in the model file (explorer.c4.texts)."""

    subject = models.CharField(
        _("element or relationship"),
        max_length=401,
        help_text=_('An element id ("shop_api") or a relationship ("shop_api -> shop_db").'),
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        default="ru",
        choices=[(code, name) for code, name in settings.LANGUAGES if code != "en"],
    )
    name = models.CharField(
        _("name"), max_length=200, blank=True, help_text=_("Elements only; empty: the model's own.")
    )
    description = models.TextField(
        _("description"), blank=True, help_text=_("Empty: the model's own.")
    )

    class Meta:
        ordering = ["subject", "language"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "language"], name="c4_model_text_once")
        ]
        verbose_name = _("translated model text")
        verbose_name_plural = _("translated model texts")

    def __str__(self) -> str:
        return f"{self.subject} ({self.language})"
