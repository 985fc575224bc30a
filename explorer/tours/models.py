"""Tours, their steps and questions, and each user's progress through them."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Tour(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    title_ru = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True, help_text="Markdown")
    description_ru = models.TextField(blank=True, help_text="Markdown")
    position = models.IntegerField(
        default=100, help_text="Recommended order in 'what to learn next' (lower first)."
    )
    example_order = models.CharField(
        max_length=200, blank=True, help_text="The order whose real spans illustrate the tour."
    )
    example_selector = models.JSONField(
        null=True,
        blank=True,
        help_text="Picks the example order from the data when example_order is empty, e.g. "
        '{"source": "shop", "status": "complete", "customer_type": "retail"}',
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "slug"]
        verbose_name = _("tour")
        verbose_name_plural = _("tours")

    def __str__(self) -> str:
        return self.title


class TourStep(models.Model):
    tour = models.ForeignKey(Tour, on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveIntegerField(help_text="1, 2, 3...: the order of the steps")
    title = models.CharField(max_length=200)
    title_ru = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True, help_text="Markdown")
    text_ru = models.TextField(blank=True, help_text="Markdown")
    element = models.CharField(max_length=200, blank=True, help_text="C4 element id")
    relationship_source = models.CharField(max_length=200, blank=True)
    relationship_target = models.CharField(max_length=200, blank=True)
    state = models.CharField(
        max_length=100, blank=True, help_text="The order state this step enters, if any"
    )

    class Meta:
        ordering = ["tour", "number"]
        verbose_name = _("tour step")
        verbose_name_plural = _("tour steps")
        constraints = [
            models.UniqueConstraint(fields=["tour", "number"], name="tours_step_tour_number")
        ]

    def __str__(self) -> str:
        return f"{self.tour.slug} #{self.number}: {self.title}"


class CheckQuestion(models.Model):
    """A check for understanding at a step: choices, each optionally an element of the
    diagram (clicking it picks the choice)."""

    step = models.OneToOneField(TourStep, on_delete=models.CASCADE, related_name="question")
    text = models.CharField(max_length=1000)
    text_ru = models.CharField(max_length=1000, blank=True)
    choices = models.JSONField(help_text='[{"text": ..., "text_ru": ..., "element": ...}, ...]')
    correct = models.PositiveIntegerField(help_text="Index (from 0) of the right choice")

    class Meta:
        verbose_name = _("check question")
        verbose_name_plural = _("check questions")

    def __str__(self) -> str:
        return self.text


class TourProgress(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tour_progress"
    )
    tour = models.ForeignKey(Tour, on_delete=models.CASCADE, related_name="progress")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_step = models.PositiveIntegerField(default=1)
    furthest_step = models.PositiveIntegerField(default=1)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("tour progress")
        verbose_name_plural = _("tour progress")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tour"], name="tours_progress_user_tour")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.tour.slug}"


class Answer(models.Model):
    """The user's latest answer to a step's question, and whether the first one was right
    (the tour's score counts first tries: answering again until right is no score)."""

    progress = models.ForeignKey(TourProgress, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(CheckQuestion, on_delete=models.CASCADE, related_name="answers")
    choice = models.PositiveIntegerField()
    correct = models.BooleanField()
    first_correct = models.BooleanField(default=False)
    answered_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [
            models.UniqueConstraint(
                fields=["progress", "question"], name="tours_answer_progress_question"
            )
        ]

    def __str__(self) -> str:
        return f"{self.progress} · {self.question_id}: {self.choice}"
