from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.admin_site import ArchitectsEdit
from explorer.c4.loader import load_model
from explorer.c4.mapping import MappingError, rules_from_dict
from explorer.c4.model import Element
from explorer.c4.models import MappingRule, ModelText
from explorer.c4.rules import stored_mapping
from explorer.c4.texts import subject_of


class MappingRuleForm(forms.ModelForm):
    class Meta:
        model = MappingRule
        fields = ["section", "position", "element", "match"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        try:
            rules_from_dict(
                {
                    data.get("section", "services"): [
                        {"element": data.get("element"), "match": data.get("match")}
                    ]
                },
                "rule",
            )
        except MappingError as exc:
            raise ValidationError(str(exc)) from None
        return data


@admin.register(MappingRule)
class MappingRuleAdmin(ArchitectsEdit, admin.ModelAdmin):
    form = MappingRuleForm
    list_display = ("section", "position", "element", "match")
    list_filter = ("section",)
    list_editable = ("position",)
    search_fields = ("element",)

    def changelist_view(self, request, extra_context=None):
        """Says when the stored rules, taken together, cannot be used (an element the model
        lacks, say): the mapping file serves instead until they are fixed."""
        _mapping, problem = stored_mapping(load_model(settings.EXPLORER_MODEL_FILE))
        if problem:
            messages.error(
                request,
                _(
                    "The mapping rules below are broken, so the mapping file "
                    "is used instead: %(problem)s"
                )
                % {"problem": problem},
            )
        return super().changelist_view(request, extra_context)


class ModelTextForm(forms.ModelForm):
    class Meta:
        model = ModelText
        fields = ["subject", "language", "name", "description"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        subject = data.get("subject") or ""
        item = subject_of(load_model(settings.EXPLORER_MODEL_FILE), subject)
        if item is None:
            raise ValidationError(
                _("The model has no element or relationship %(subject)s.") % {"subject": subject}
            )
        if data.get("name") and not isinstance(item, Element):
            raise ValidationError(_("A relationship has no name, only a description."))
        if not data.get("name") and not data.get("description"):
            raise ValidationError(_("Fill in a name or a description."))
        return data


@admin.register(ModelText)
class ModelTextAdmin(ArchitectsEdit, admin.ModelAdmin):
    """The model's names and descriptions in other languages, for when the model file lacks
    them (or an architect would put them otherwise)."""

    form = ModelTextForm
    list_display = ("subject", "language", "name", "description")
    list_filter = ("language",)
    search_fields = ("subject", "name")
