"""URLs of the tours (namespace "tours"), included at /tours/."""

from django.urls import path

from explorer.tours import views
from explorer.web import converters  # noqa: F401  (registers the `id` converter)

app_name = "tours"

urlpatterns = [
    path("", views.tour_list, name="list"),
    path("progress/", views.my_progress, name="progress"),
    path("progress/all/", views.all_progress, name="progress_all"),
    path("follow/<id:order_id>/save/", views.follow_save, name="follow_save"),
    path("follow/<id:order_id>/<int:number>/", views.follow, name="follow_step"),
    path("follow/<id:order_id>/", views.follow, name="follow"),
    path("<slug:slug>/", views.tour_start, name="start"),
    path("<slug:slug>/edit/", views.edit, name="edit"),
    path("<slug:slug>/<int:number>/", views.tour_step, name="step"),
    path("<slug:slug>/<int:number>/answer/", views.answer, name="answer"),
]
