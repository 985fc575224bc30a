from contextvars import ContextVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.shortcuts import redirect
from django.utils.translation import gettext, gettext_lazy, ngettext
from django_otp import devices_for_user
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from explorer.traces.visible import visible_line

from . import audit, credential_guard
from .admin_site import ReadOnly
from .audit_view import object_id_lookup, shown_entry, stored_text
from .models import AuditAction, AuditEntry
from .redaction import policy_for_user

_viewer_policy: ContextVar = ContextVar("audit_viewer_policy")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: nobody changes or deletes audit entries through the application."""

    list_display = ("time", "username", "address", "action", "object_type", "shown_object_id")
    list_filter = ("action", "object_type")
    search_fields = ("username", "object_id", "detail", "address")
    date_hierarchy = "time"
    # Ids and details as the viewer may see them (pseudonyms without view_customer_ids).
    fields = (
        "time",
        "username",
        "address",
        "action",
        "object_type",
        "shown_object_id",
        "shown_detail",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        """The search as entries are stored: a typed customer id is searched as its pseudonym
        (entries never hold raw ids, accounts.audit_view)."""
        found, duplicates = super().get_search_results(request, queryset, stored_text(search_term))
        if search_term.strip():
            found |= queryset.filter(object_id_lookup(search_term))
        return found, duplicates

    def _with_viewer(self, request, view, *args, **kwargs):
        """Render with the viewer's policy in reach of the display methods (the ModelAdmin is
        shared by all requests, the context variable is this request's)."""
        token = _viewer_policy.set(policy_for_user(request.user))
        try:
            response = view(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _viewer_policy.reset(token)

    def changelist_view(self, request, extra_context=None):
        return self._with_viewer(request, super().changelist_view, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return self._with_viewer(request, super().change_view, object_id, form_url, extra_context)

    @admin.display(description=gettext_lazy("object id"))
    def shown_object_id(self, entry):
        return shown_entry(entry, _viewer_policy.get())["object_id"]

    @admin.display(description=gettext_lazy("detail"))
    def shown_detail(self, entry):
        return shown_entry(entry, _viewer_policy.get())["detail"]


@admin.action(
    description=gettext_lazy("Reset the second factor (the user enrols again at next login)")
)
def reset_second_factor(modeladmin, request, queryset):
    """Users with rights the administrator lacks are skipped (accounts.credential_guard)."""
    count = 0
    for user in queryset:
        if credential_guard.refused(
            request, AuditAction.SECOND_FACTOR_RESET, user, credential_guard.RESET_SECOND_FACTOR
        ):
            messages.error(request, credential_guard.refusal_message(user))
            continue
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        audit.record(request, AuditAction.SECOND_FACTOR_RESET, "user", user.pk, user.username)
        count += 1
    if count:
        messages.success(
            request,
            ngettext(
                "Second factor reset for %(count)s user.",
                "Second factor reset for %(count)s users.",
                count,
            )
            % {"count": count},
        )


admin.site.unregister(User)


def _shown_user_field(field: str):
    """A column of the user list: the field with its control and bidi characters as symbols
    (a name with U+202E or ESC, from LDAP or an import, is shown, never obeyed)."""

    model_field = User._meta.get_field(field)
    assert isinstance(model_field, models.Field)  # a column of the user, not a relation

    @admin.display(description=model_field.verbose_name, ordering=field)
    def column(user):
        return visible_line(getattr(user, field))

    column.__name__ = f"shown_{field}"
    return column


@admin.register(User)
class ExplorerUserAdmin(UserAdmin):
    """Only a superuser grants superuser or staff status or permissions beyond their own, and
    only a superuser changes a superuser: an administrator cannot raise anyone, themselves
    included, above their own rights."""

    actions = [reset_second_factor]
    list_display = (
        *(_shown_user_field(f) for f in ("username", "email", "first_name", "last_name")),
        "is_staff",
    )

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ("is_superuser", "is_staff")
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        """Only for users with no rights beyond the administrator's (credential_guard)."""
        target = self.get_object(request, unquote(id))
        if target is not None and credential_guard.refused(
            request, AuditAction.ADMIN_CHANGE, target, credential_guard.SET_PASSWORD
        ):
            messages.error(request, credential_guard.refusal_message(target))
            return redirect("admin:auth_user_change", target.pk)
        return super().user_change_password(request, id, form_url)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.user.is_superuser:
            return form
        # The user form of the page (adding or changing), refusing grants beyond the granter's.
        return type("GuardedForm", (GrantsWithinOwnRights, form), {"granter": request.user})


class GrantsWithinOwnRights(forms.ModelForm):
    """User form mixin: refuses groups and permissions beyond the rights of `granter`."""

    granter: User  # the administrator at work, set by ExplorerUserAdmin.get_form

    def clean(self):
        super().clean()
        data = self.cleaned_data
        instance = self.instance
        before = credential_guard.rights_of(instance) if instance.pk else set()
        after = credential_guard.granted(
            data.get("groups") or [], data.get("user_permissions") or []
        )
        beyond = sorted((after - before) - self.granter.get_all_permissions())
        if beyond:
            raise ValidationError(
                gettext("You cannot grant permissions you do not have yourself: %(permissions)s.")
                % {"permissions": ", ".join(beyond)}
            )
        return data


class GuardedDeviceAdmin(admin.ModelAdmin):
    """Put before a device plugin's own ModelAdmin: deleting a device is a second-factor reset,
    allowed only for users with no rights beyond the administrator's (credential_guard),
    whether from the delete page or the "delete selected" action; refusals are audited."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and credential_guard.rights_beyond(request.user, obj.user):
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        # Both the delete page and the "delete selected" action ask here first.
        for device in objs:
            if credential_guard.refused(
                request,
                AuditAction.SECOND_FACTOR_RESET,
                device.user,
                credential_guard.RESET_SECOND_FACTOR,
            ):
                messages.error(request, credential_guard.refusal_message(device.user))
        return super().get_deleted_objects(objs, request)

    def delete_view(self, request, object_id, extra_context=None):
        device = self.get_object(request, unquote(object_id))
        if device is not None and credential_guard.refused(
            request,
            AuditAction.SECOND_FACTOR_RESET,
            device.user,
            credential_guard.RESET_SECOND_FACTOR,
        ):
            raise PermissionDenied(credential_guard.refusal_message(device.user))
        return super().delete_view(request, object_id, extra_context)


class GuardedTOTPDeviceAdmin(GuardedDeviceAdmin, TOTPDeviceAdmin):
    pass


class GuardedStaticDeviceAdmin(GuardedDeviceAdmin, StaticDeviceAdmin):
    pass


admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, GuardedTOTPDeviceAdmin)
admin.site.unregister(StaticDevice)
admin.site.register(StaticDevice, GuardedStaticDeviceAdmin)
