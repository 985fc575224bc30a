from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from accounts.admin_site import ArchitectsEdit
from explorer.c4.mapping import MappingError, rules_from_dict
from explorer.c4.models import MappingRule


class MappingRuleForm(forms.ModelForm):
    class Meta:
        model = MappingRule
        fields = ["section", "position", "element", "match"]

    def clean(self):
        data = super().clean()
        try:
            rules_from_dict({data.get("section", "services"): [
                {"element": data.get("element"), "match": data.get("match")}]}, "rule")
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
