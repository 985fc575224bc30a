from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "explorer.web"
    label = "web"
    verbose_name = "Web explorer"
