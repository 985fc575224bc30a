from django import forms
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .audit_view import CUSTOMER_OBJECT_TYPES
from .models import AuditAction
from .redaction import redact_text
from .search_limits import max_chars


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The six digits your authenticator app shows, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autofocus": True,
                "spellcheck": "false",
                "autocapitalize": "off",
            }
        ),
    )

    def clean_code(self):
        return "".join(self.cleaned_data["code"].split()).lower()


class AuditFilterForm(forms.Form):
    """Each text filter is at most accounts.search_limits.max_chars() long (a longer one is a
    field error and the filter matches nothing)."""

    username = forms.CharField(label=_("User"), required=False)
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", pgettext_lazy("audit action", "any"))] + list(AuditAction.choices),
    )
    object_type = forms.CharField(label=_("Object type"), required=False)
    object_id = forms.CharField(label=_("Object id"), required=False)
    address = forms.CharField(label=_("Address"), required=False)
    since = forms.DateField(
        label=pgettext_lazy("date range", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label=pgettext_lazy("date range", "To (inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("username", "object_type", "object_id", "address"):
            field = self.fields[name]
            field.max_length = max_chars()
            field.validators.append(MaxLengthValidator(max_chars()))
            field.widget.attrs["maxlength"] = str(max_chars())

    def filter(self, entries, policy=None):
        """The entries matching the valid filters of this (bound) form. With the viewer's
        redaction `policy` hiding identifiers, the object id filter never matches a customer
        id (searching raw ids would tell which exist)."""
        if not self.is_valid():
            return entries.none()
        data = self.cleaned_data
        if data["username"]:
            entries = entries.filter(username__icontains=data["username"])
        if data["action"]:
            entries = entries.filter(action=data["action"])
        if data["object_type"]:
            entries = entries.filter(object_type__iexact=data["object_type"])
        if data["object_id"]:
            entries = entries.filter(object_id__icontains=data["object_id"])
            if policy is not None and not policy.show_identifiers:
                if redact_text(data["object_id"], policy) != data["object_id"]:
                    entries = entries.none()
                entries = entries.exclude(object_type__in=CUSTOMER_OBJECT_TYPES)
        if data["address"]:
            entries = entries.filter(address__startswith=data["address"])
        if data["since"]:
            entries = entries.filter(time__date__gte=data["since"])
        if data["until"]:
            entries = entries.filter(time__date__lte=data["until"])
        return entries
