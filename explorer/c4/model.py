"""One C4 model, whichever notation it was drawn in (draw.io, C4-PlantUML, Structurizr).

Framework-free: the loaders fill it, mapping, drift and diagrams read it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

KINDS = ("person", "software_system", "container", "database", "queue", "component", "boundary")

# Container technologies that make a plain "Container" a message queue or a database when the
# author did not use the dedicated shape or macro (real diagrams often don't).
_QUEUE_TECH = re.compile(
    r"rabbit|kafka|activemq|artemis|\bsqs\b|\bamqp\b|\bnats\b|pulsar|\bmq\b", re.I
)
_DB_TECH = re.compile(
    r"postgres|mysql|mariadb|oracle|sql ?server|mongo|redis|cassandra|sqlite", re.I
)


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


@dataclass(slots=True)
class Relationship:
    source: str
    target: str
    description: str = ""
    technology: str = ""
    bidirectional: bool = False
    tags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Model:
    elements: dict[str, Element] = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    name: str = ""

    def children(self, element_id: str | None) -> list[Element]:
        return [e for e in self.elements.values() if e.parent == element_id]

    def to_dict(self) -> dict:
        """The JSON shape of `manage.py c4 import --json`."""
        keys = ("id", "name", "kind", "technology", "description", "parent", "external")
        return {
            "elements": [{k: getattr(e, k) for k in keys} for e in self.elements.values()],
            "relationships": [
                {
                    "source": r.source,
                    "target": r.target,
                    "description": r.description,
                    "technology": r.technology,
                    "bidirectional": r.bidirectional,
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
