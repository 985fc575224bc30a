from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", login_not_required(views.ExplorerLoginView.as_view()), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("second-factor/", views.second_factor, name="second_factor"),
    path("second-factor/enrol/", views.enrol, name="enrol"),
    path("second-factor/backup-codes/", views.backup_codes, name="backup_codes"),
    path("audit/", views.audit_log, name="audit_log"),
    path("audit.csv", views.audit_export, name="audit_export"),
]
