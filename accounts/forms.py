from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from explorer.traces.visible import visible_line

from .audit_view import object_id_lookup
from .models import AuditAction
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
            assert isinstance(field, forms.CharField)
            field.max_length = max_chars()
            field.validators.append(MaxLengthValidator(max_chars()))
            field.widget.attrs["maxlength"] = str(max_chars())

    def filter(self, entries):
        """The entries matching the valid filters of this (bound) form. The object id filter
        looks for the id as stored: a typed customer id is pseudonymised for the lookup."""
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
            entries = entries.filter(object_id_lookup(data["object_id"]))
        if data["address"]:
            entries = entries.filter(address__startswith=data["address"])
        if data["since"]:
            entries = entries.filter(time__date__gte=data["since"])
        if data["until"]:
            entries = entries.filter(time__date__lte=data["until"])
        return entries


class LoginForm(AuthenticationForm):
    """The login form; a user name holding a control or bidirectional character is refused
    before it is looked up, so no such account is ever made from the directory (django-auth-ldap
    creates users at their first login; the admin's own validator refuses them already)."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if visible_line(username) != username:
            raise self.get_invalid_login_error()
        return super().clean()
