from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("tours/", include("explorer.tours.urls")),
    path("alerts/", include("explorer.alerts.urls")),
    path("", include("explorer.web.urls")),
]
