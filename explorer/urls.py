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

# A database that is down or full answers 503 with Retry-After (explorer/web/outage.py).
handler500 = "explorer.web.outage.server_error"
