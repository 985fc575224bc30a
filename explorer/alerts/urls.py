"""URLs of the alerts page (namespace "alerts")."""

from django.urls import path

from explorer.alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<int:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:alert_id>/assign/", views.assign, name="assign"),
]
