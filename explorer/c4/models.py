from django.db import models


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

    def __str__(self) -> str:
        return f"{self.section}: {self.match} -> {self.element}"
