"""The model's texts in other languages filled in by architects in the admin (c4.ModelText):
laid over the texts the model file carries, an entry's empty field leaving the file's text."""

from __future__ import annotations

import re

from explorer.c4.model import Element, Model, Relationship
from explorer.c4.models import ModelText

_RELATIONSHIP = re.compile(r"^\s*(\S+)\s*->\s*(\S+)\s*$")


def subject_of(model: Model, subject: str) -> Element | Relationship | None:
    """The element ("shop_api") or the relationship ("shop_api -> shop_db") a subject names."""
    ends = _RELATIONSHIP.match(subject)
    if ends is None:
        return model.elements.get(subject.strip())
    source, target = ends.groups()
    return next((r for r in model.relationships if (r.source, r.target) == (source, target)), None)


def apply_stored_texts(model: Model) -> None:
    """Gives the model the stored texts; those naming nothing in it are left aside (the admin
    says so when they are entered)."""
    for text in ModelText.objects.all():
        item = subject_of(model, text.subject)
        if item is None:
            continue
        if text.name and isinstance(item, Element):
            item.translated[f"name:{text.language}"] = text.name
        if text.description:
            item.translated[f"description:{text.language}"] = text.description
