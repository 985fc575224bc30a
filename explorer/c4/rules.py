"""Mapping rules kept in the database (editable in the admin) <-> the mapping file format."""

from __future__ import annotations

import logging

from django.db import transaction

from explorer.c4.mapping import (
    SECTIONS,
    Mapping,
    MappingError,
    Rule,
    build_mapping,
    rules_from_dict,
)
from explorer.c4.model import Model
from explorer.c4.models import MappingRule
from explorer.caching import configuration_changed

log = logging.getLogger("explorer.c4")


def import_rules(mapping: Mapping) -> int:
    """Replace the stored rules with the mapping's; returns how many were stored."""
    with transaction.atomic():
        MappingRule.objects.all().delete()
        rows = [
            MappingRule(
                section=rule.section,
                position=n,
                element=rule.element,
                match=rule.to_dict()["match"],
            )
            for section in SECTIONS
            for n, rule in enumerate(getattr(mapping, section))
        ]
        MappingRule.objects.bulk_create(rows)  # sends no signal: say so
    configuration_changed()
    return len(rows)


def export_rules() -> dict:
    """The stored rules as a mapping document (the mapping.json format)."""
    out: dict[str, list] = {section: [] for section in SECTIONS}
    for row in MappingRule.objects.order_by("section", "position", "id"):
        out[row.section].append({"element": row.element, "match": row.match})
    return out


def stored_rules() -> list[Rule]:
    return rules_from_dict(export_rules(), "database mapping rules")


def stored_mapping(model: Model) -> tuple[Mapping | None, str | None]:
    """The mapping of the rules edited in the admin (None when there are none), or why it
    cannot be built; the problem is logged with its traceback (the file's mapping serves
    meanwhile, and the admin shows the problem to the architect)."""
    document = export_rules()
    if not any(document.values()):
        return None, None
    try:
        return build_mapping(rules_from_dict(document, "stored rules"), model), None
    except MappingError as exc:
        log.exception(
            "the mapping rules edited in the admin are broken; the mapping file serves instead"
        )
        return None, str(exc)
