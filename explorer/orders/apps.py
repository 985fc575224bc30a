from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "explorer.orders"
    # The label stays "journeys": the tables (journeys_orderstatus, ...) and the migration
    # history of the databases in use carry it; a new label would orphan both.
    label = "journeys"
    verbose_name = "Orders"
