from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy, ngettext
from django_otp import devices_for_user

from . import audit
from .admin_site import ReadOnly
from .models import AuditAction, AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: nobody changes or deletes audit entries through the application."""

    list_display = ("time", "username", "address", "action", "object_type", "object_id")
    list_filter = ("action", "object_type")
    search_fields = ("username", "object_id", "detail", "address")
    date_hierarchy = "time"



@admin.action(
    description=gettext_lazy("Reset the second factor (the user enrols again at next login)")
)
def reset_second_factor(modeladmin, request, queryset):
    for user in queryset:
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        audit.record(request, AuditAction.SECOND_FACTOR_RESET, "user", user.pk, user.username)
    count = queryset.count()
    messages.success(request, ngettext(
        "Second factor reset for %(count)s user.", "Second factor reset for %(count)s users.",
        count,
    ) % {"count": count})


admin.site.unregister(User)


@admin.register(User)
class ExplorerUserAdmin(UserAdmin):
    actions = [reset_second_factor]
