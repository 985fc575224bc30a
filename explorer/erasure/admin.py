"""The administrators' "Forget a customer" page in the admin: the customer id and a reason,
then a confirmation page with what would go (counts and the customer's pseudonym, nothing of
the data), then the same erasure as `manage.py forget-customer` without the VACUUM (deleted
rows are overwritten on SQLite; docs/security.md). Only with erasure.forget_customer."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from explorer.erasure.finding import MIN_ID_LENGTH, Found, find_customer
from explorer.erasure.forgetting import forget_customer
from explorer.erasure.models import Customer

PERMISSION = "erasure.forget_customer"


class ForgetForm(forms.Form):
    customer_id = forms.CharField(
        label=gettext_lazy("Customer id"), max_length=200, min_length=MIN_ID_LENGTH
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Kept in the audit log, with the customer id as its pseudonym."),
    )


def _counts(found: Found) -> list[tuple[str, int]]:
    names = {
        "orders": _("orders"),
        "traces": _("traces in the embedded store"),
        "indexed traces": _("traces in the receiver's index"),
        "order status rows": _("order status rows"),
        "alerts": _("alerts"),
        "uploads": _("uploaded files"),
    }
    return [(names[kind], count) for kind, count in found.counts().items()]


@admin.register(Customer)
class ForgetCustomerAdmin(admin.ModelAdmin):
    """One page instead of a change list; nothing to add, change or delete."""

    def has_module_permission(self, request):
        return request.user.has_perm(PERMISSION)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.forget_view), name=name)]

    def forget_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ForgetForm(request.POST if request.method == "POST" else None)
        if not form.is_valid():
            return self._page(request, form)
        customer_id = form.cleaned_data["customer_id"].strip()
        found = find_customer(customer_id)
        if found.nothing:
            form.add_error(
                "customer_id",
                _(
                    "Nothing stored carries this customer id (no order, trace, alert or "
                    "upload): check how it is written. Nothing was changed."
                ),
            )
            return self._page(request, form)
        if "confirm" not in request.POST:
            return self._page(request, form, found)
        done = forget_customer(found, form.cleaned_data["reason"], request=request)
        messages.success(
            request,
            _("Customer %(pseudonym)s forgotten: %(count)s traces and %(orders)s orders removed.")
            % {
                "pseudonym": done.pseudonym,
                "count": done.removed["traces"] + done.removed["indexed traces"],
                "orders": len(found.orders),
            },
        )
        return redirect("admin:index")

    def _page(self, request, form: ForgetForm, found: Found | None = None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Forget a customer"),
            "form": form,
            "found": found,
            "counts": _counts(found) if found is not None else [],
        }
        return TemplateResponse(request, "admin/erasure/forget.html", context)
