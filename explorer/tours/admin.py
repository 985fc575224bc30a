"""Tours in the Django admin: authored by architects (accounts.edit_model); progress read by
administrators (accounts.manage_users) and architects."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from accounts.admin_site import ArchitectsEdit, ReadOnly
from explorer.configuration import explorer_config
from explorer.tours.models import Answer, CheckQuestion, Tour, TourProgress, TourStep
from explorer.tours.tourfile import TourFileError, parse_question


def _model_ids():
    config = explorer_config()
    return config.model.elements, config.graph.names


class TourStepForm(forms.ModelForm):
    class Meta:
        model = TourStep
        fields = [
            "number",
            "title",
            "title_ru",
            "element",
            "relationship_source",
            "relationship_target",
            "state",
            "text",
            "text_ru",
        ]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        elements, states = _model_ids()
        source, target = data.get("relationship_source"), data.get("relationship_target")
        if bool(source) != bool(target):
            raise ValidationError("A relationship needs both a source and a target.")
        if not data.get("element") and not source:
            raise ValidationError("A step needs an element or a relationship.")
        for field in ("element", "relationship_source", "relationship_target"):
            if data.get(field) and data[field] not in elements:
                self.add_error(field, f"{data[field]!r} is not an element of the model.")
        if data.get("state") and data["state"] not in states:
            self.add_error("state", f"{data['state']!r} is not a state of the state graph.")
        return data


class TourStepInline(ArchitectsEdit, admin.StackedInline):
    model = TourStep
    form = TourStepForm
    extra = 0


@admin.register(Tour)
class TourAdmin(ArchitectsEdit, admin.ModelAdmin):
    list_display = ("slug", "title", "position", "example_order", "updated_at")
    search_fields = ("slug", "title", "title_ru")
    inlines = [TourStepInline]


class CheckQuestionForm(forms.ModelForm):
    class Meta:
        model = CheckQuestion
        fields = ["step", "text", "text_ru", "choices", "correct"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        try:
            question = parse_question(
                {
                    "text": data.get("text"),
                    "text_ru": data.get("text_ru"),
                    "choices": data.get("choices"),
                    "correct": data.get("correct"),
                }
            )
        except TourFileError as exc:
            raise ValidationError(exc.problems) from None
        elements, _ = _model_ids()
        unknown = [c.element for c in question.choices if c.element and c.element not in elements]
        if unknown:
            raise ValidationError(f"Not elements of the model: {', '.join(unknown)}")
        return data


@admin.register(CheckQuestion)
class CheckQuestionAdmin(ArchitectsEdit, admin.ModelAdmin):
    form = CheckQuestionForm
    list_display = ("text", "step")


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0
    readonly_fields = ("question", "choice", "correct", "first_correct", "answered_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TourProgress)
class TourProgressAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("user", "tour", "started_at", "last_step", "furthest_step", "finished_at")
    list_filter = ("tour", "finished_at")
    search_fields = ("user__username",)
    readonly_fields = (
        "user",
        "tour",
        "started_at",
        "updated_at",
        "last_step",
        "furthest_step",
        "finished_at",
    )
    inlines = [AnswerInline]

    def _reader(self, request):
        return request.user.has_perm("accounts.manage_users") or request.user.has_perm(
            "accounts.edit_model"
        )

    def has_module_permission(self, request):
        return self._reader(request)

    def has_view_permission(self, request, obj=None):
        return self._reader(request)
