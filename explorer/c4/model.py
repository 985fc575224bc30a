"""One C4 model, whichever notation it was drawn in (draw.io, C4-PlantUML, Structurizr).

Framework-free: the loaders fill it, mapping, drift and diagrams read it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace

KINDS = ("person", "software_system", "container", "database", "queue", "component", "boundary")

# Container technologies that make a plain "Container" a message queue or a database when the
# author did not use the dedicated shape or macro (real diagrams often don't).
_QUEUE_TECH = re.compile(
    r"rabbit|kafka|activemq|artemis|\bsqs\b|\bamqp\b|\bnats\b|pulsar|\bmq\b", re.I
)
_DB_TECH = re.compile(
    r"postgres|mysql|mariadb|oracle|sql ?server|mongo|redis|cassandra|sqlite", re.I
)


# The texts of the model a translation may replace, and how a translation's key is spelt:
# "<text>:<language>", as in the properties of Structurizr and C4-PlantUML ("name:ru").
TRANSLATABLE = ("name", "description")
_TRANSLATION_KEY = re.compile(r"^(name|description)[:_.-]([a-z]{2})$", re.I)


def translation_key(key: str) -> str | None:
    """The canonical key ("name:ru") of a property or attribute naming a translation
    ("name:ru", "Name_RU", "description.ru"), or None when it names none."""
    m = _TRANSLATION_KEY.match(key.strip())
    return f"{m.group(1).lower()}:{m.group(2).lower()}" if m else None


def translations(properties: dict[str, str]) -> dict[str, str]:
    """The translations among an item's properties (empty texts left out)."""
    found = {}
    for key, value in properties.items():
        canonical = translation_key(key)
        if canonical and value.strip():
            found[canonical] = value.strip()
    return found


def translated_text(item: Element | Relationship, what: str, language: str | None) -> str:
    """`item`'s text `what` ("name", "description") in `language` ("ru", "ru-ru"), falling back
    to the model's own text."""
    own = getattr(item, what)
    if not language:
        return own
    return item.translated.get(f"{what}:{language.split('-')[0].lower()}") or own


@dataclass(slots=True)
class Element:
    id: str
    name: str
    kind: str
    technology: str = ""
    description: str = ""
    parent: str | None = None
    external: bool = False
    tags: list[str] = field(default_factory=list)
    # Texts in other languages than the model's own (English), keyed "name:ru", "description:ru".
    translated: dict[str, str] = field(default_factory=dict)

    def text(self, what: str, language: str | None) -> str:
        """The element's name or description in the language, else the model's own."""
        return translated_text(self, what, language)


@dataclass(slots=True)
class Relationship:
    source: str
    target: str
    description: str = ""
    technology: str = ""
    bidirectional: bool = False
    tags: list[str] = field(default_factory=list)
    translated: dict[str, str] = field(default_factory=dict)  # "description:ru" -> text

    def text(self, what: str, language: str | None) -> str:
        """The relationship's description in the language, else the model's own."""
        return translated_text(self, what, language)


@dataclass(slots=True)
class Model:
    elements: dict[str, Element] = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    name: str = ""

    def names(self, language: str | None) -> dict[str, str]:
        """Element id -> name in the language (the model's own where it has no translation)."""
        return {eid: e.text("name", language) for eid, e in self.elements.items()}

    def in_language(self, language: str | None) -> Model:
        """The model with its names and descriptions in the language, for drawing it; itself
        when it has no text in that language."""
        key = f":{(language or '').split('-')[0].lower()}"
        items: list[Element | Relationship] = [*self.elements.values(), *self.relationships]
        if not any(k.endswith(key) for item in items for k in item.translated):
            return self
        return replace(
            self,
            elements={
                eid: replace(
                    e, name=e.text("name", language), description=e.text("description", language)
                )
                for eid, e in self.elements.items()
            },
            relationships=[
                replace(r, description=r.text("description", language)) for r in self.relationships
            ],
        )

    def children(self, element_id: str | None) -> list[Element]:
        return [e for e in self.elements.values() if e.parent == element_id]

    def to_dict(self) -> dict:
        """The JSON shape of `manage.py c4 import --json`."""
        keys = (
            "id",
            "name",
            "kind",
            "technology",
            "description",
            "parent",
            "external",
            "translated",
        )
        return {
            "elements": [{k: getattr(e, k) for k in keys} for e in self.elements.values()],
            "relationships": [
                {
                    "source": r.source,
                    "target": r.target,
                    "description": r.description,
                    "technology": r.technology,
                    "bidirectional": r.bidirectional,
                    "translated": r.translated,
                }
                for r in self.relationships
            ],
            "warnings": list(self.warnings),
        }

    def fingerprint(self) -> str:
        """A hash of everything that affects how the model is drawn (not the warnings)."""
        data = {
            "elements": [asdict(e) for e in self.elements.values()],
            "relationships": [asdict(r) for r in self.relationships],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def slug(text: str) -> str:
    """An identifier from a display name: "Shop API" -> "shop_api"."""
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def refine_container_kind(kind: str, technology: str) -> str:
    if kind != "container":
        return kind
    if _QUEUE_TECH.search(technology or ""):
        return "queue"
    if _DB_TECH.search(technology or ""):
        return "database"
    return kind


class ModelBuilder:
    """Collects elements and relationships for a loader; problems become warnings.

    Relationships are resolved at the end, so they may name elements declared later.
    """

    def __init__(self, source: str):
        self.source = source
        self.model = Model()
        self._pending: list[tuple[int | str | tuple[str, int] | None, Relationship]] = []

    def warn(self, line: int | str | tuple[str, int] | None, what: str) -> None:
        """A warning at a line of the source, or at (file, line) of a file it includes."""
        source = self.source
        if isinstance(line, tuple):
            source, line = line
        where = f"{source}:{line}" if line is not None else source
        self.model.warnings.append(f"{where}: {what}")

    def add_element(self, element: Element, line: int | str | None = None) -> Element:
        if element.kind not in KINDS:
            raise ValueError(f"unknown element kind {element.kind!r}")
        base = element.id or slug(element.name) or "element"
        element.id, n = base, 2
        while element.id in self.model.elements:
            element.id, n = f"{base}_{n}", n + 1
        if element.id != base:
            self.warn(line, f"duplicate id {base!r}; renamed to {element.id!r}")
        self.model.elements[element.id] = element
        return element

    def add_relationship(
        self, rel: Relationship, line: int | str | tuple[str, int] | None = None
    ) -> None:
        self._pending.append((line, rel))

    def finish(self) -> Model:
        for line, rel in self._pending:
            problems = [
                f"no {end_name}" if not end else f"unknown element {end!r}"
                for end_name, end in (("source", rel.source), ("target", rel.target))
                if end not in self.model.elements
            ]
            if problems:
                self.warn(
                    line,
                    f"relationship {rel.source or '?'} -> {rel.target or '?'}: "
                    f"{' and '.join(problems)}; skipped",
                )
                continue
            self.model.relationships.append(rel)
        self._pending = []
        return self.model
