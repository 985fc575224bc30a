from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "explorer.journeys"
    label = "journeys"
    verbose_name = "Order journeys"
