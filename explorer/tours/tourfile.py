"""Tours as files: the JSON format, its validation, and export. Framework-free.

    {"tours": [{
        "slug": "retail-order", "title": "...", "title_ru": "...",
        "description": "...", "description_ru": "...", "position": 10,
        "example_order": "A-100002",            # or null, with a selector:
        "example_selector": {"source": "shop", "status": "complete", "customer_type": "retail"},
        "steps": [{"title": "...", "title_ru": "...", "text": "Markdown", "text_ru": "Markdown",
                   "element": "shop_api",          # a C4 element id, and/or
                   "relationship": "shop_api->shop_db",
                   "state": "SUBMITTED",           # optional: the state the step enters
                   "question": {"text": "...", "text_ru": "...", "correct": 1,
                                "choices": [{"text": "...", "text_ru": "...",
                                             "element": "queue"}, ...]}}]}]}

Structure problems raise TourFileError listing every problem with where it is; references
to the model and the state graph are checked separately (check_references), so a file can
be read without a model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.tours.examples import SELECTOR_KEYS

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
RESERVED_SLUGS = {"progress", "follow"}  # paths of the tour pages themselves
MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_STEPS = 200
MAX_CHOICES = 8
RELATIONSHIP_ARROW = "->"


class TourFileError(ValueError):
    """A tour file that cannot be loaded; `problems` lists each one with where it is."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(slots=True)
class ChoiceSpec:
    text: str
    text_ru: str = ""
    element: str | None = None  # clicking this element of the diagram picks the choice


@dataclass(slots=True)
class QuestionSpec:
    text: str
    choices: list[ChoiceSpec]
    correct: int  # index into choices
    text_ru: str = ""


@dataclass(slots=True)
class StepSpec:
    title: str
    title_ru: str = ""
    text: str = ""
    text_ru: str = ""
    element: str | None = None
    relationship: tuple[str, str] | None = None
    state: str | None = None
    question: QuestionSpec | None = None

    @property
    def focus(self) -> str:
        """The element the diagram highlights: the step's element, else the relationship's
        source (the one that acts)."""
        if self.element:
            return self.element
        assert self.relationship is not None  # parse_step guarantees one of them
        return self.relationship[0]


@dataclass(slots=True)
class TourSpec:
    slug: str
    title: str
    title_ru: str = ""
    description: str = ""
    description_ru: str = ""
    position: int = 100  # lower comes first in "what to learn next"
    example_order: str | None = None
    example_selector: dict[str, str] | None = None
    steps: list[StepSpec] = field(default_factory=list)


def format_relationship(relationship: tuple[str, str] | None) -> str | None:
    return f"{relationship[0]}{RELATIONSHIP_ARROW}{relationship[1]}" if relationship else None


class _Reader:
    """Reads one document, collecting problems instead of stopping at the first."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{self.source}: {where}: {what}")

    def text(
        self, obj: dict, key: str, where: str, required: bool = False, limit: int = MAX_TEXT
    ) -> str:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.problem(where, f"{key!r} is required (a non-empty string)")
            return ""
        if not isinstance(value, str):
            self.problem(where, f"{key!r} must be a string, not {type(value).__name__}")
            return ""
        if len(value) > limit:
            self.problem(where, f"{key!r} is longer than {limit} characters")
            return value[:limit]
        return value

    def element_id(self, obj: dict, key: str, where: str) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.problem(where, f"{key!r} must be an element id (a string)")
            return None
        return value.strip()

    def relationship(self, value: Any, where: str) -> tuple[str, str] | None:
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.count(RELATIONSHIP_ARROW) == 1:
            source, target = (part.strip() for part in value.split(RELATIONSHIP_ARROW))
        elif (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(isinstance(v, str) for v in value)
        ):
            source, target = value[0].strip(), value[1].strip()
        else:
            self.problem(
                where,
                f"'relationship' must be \"source->target\" or "
                f"[source, target], not {json.dumps(value)[:80]}",
            )
            return None
        if not source or not target:
            self.problem(where, f"'relationship' {value!r} lacks a source or a target")
            return None
        return source, target

    def question(self, value: Any, where: str) -> QuestionSpec | None:
        if value is None:
            return None
        where = f"{where} question"
        if not isinstance(value, dict):
            self.problem(where, "must be an object with 'text', 'choices' and 'correct'")
            return None
        text = self.text(value, "text", where, required=True, limit=MAX_TITLE * 5)
        raw_choices = value.get("choices")
        if not isinstance(raw_choices, list) or not 2 <= len(raw_choices) <= MAX_CHOICES:
            self.problem(where, f"'choices' must be a list of 2 to {MAX_CHOICES} choices")
            return None
        choices = []
        for n, raw in enumerate(raw_choices):
            if not isinstance(raw, dict):
                self.problem(f"{where} choice {n + 1}", "must be an object with 'text'")
                continue
            choices.append(
                ChoiceSpec(
                    text=self.text(raw, "text", f"{where} choice {n + 1}", True, MAX_TITLE),
                    text_ru=self.text(raw, "text_ru", f"{where} choice {n + 1}", False, MAX_TITLE),
                    element=self.element_id(raw, "element", f"{where} choice {n + 1}"),
                )
            )
        correct = value.get("correct")
        if (
            isinstance(correct, bool)
            or not isinstance(correct, int)
            or not (0 <= correct < len(raw_choices))
        ):
            self.problem(
                where,
                f"'correct' must be the index (0 to {len(raw_choices) - 1}) of the right choice",
            )
            correct = 0
        return QuestionSpec(
            text=text,
            text_ru=self.text(value, "text_ru", where, limit=MAX_TITLE * 5),
            choices=choices,
            correct=correct,
        )

    def step(self, raw: Any, where: str) -> StepSpec | None:
        if not isinstance(raw, dict):
            self.problem(where, "must be an object")
            return None
        step = StepSpec(
            title=self.text(raw, "title", where, required=True, limit=MAX_TITLE),
            title_ru=self.text(raw, "title_ru", where, limit=MAX_TITLE),
            text=self.text(raw, "text", where),
            text_ru=self.text(raw, "text_ru", where),
            element=self.element_id(raw, "element", where),
            relationship=self.relationship(raw.get("relationship"), where),
            question=self.question(raw.get("question"), where),
        )
        state = raw.get("state")
        if state not in (None, ""):
            if isinstance(state, str):
                step.state = state.strip()
            else:
                self.problem(where, "'state' must be a state name (a string)")
        if not step.element and not step.relationship and raw.get("relationship") in (None, ""):
            self.problem(where, "needs an 'element' or a 'relationship'")
        return step

    def selector(self, value: Any, where: str) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or not value:
            self.problem(where, "'example_selector' must be a non-empty object")
            return None
        unknown = sorted(set(value) - set(SELECTOR_KEYS))
        if unknown:
            self.problem(
                where,
                f"'example_selector' has unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(SELECTOR_KEYS)}",
            )
        if not all(isinstance(v, str) for v in value.values()):
            self.problem(where, "'example_selector' values must be strings")
        return {k: str(v) for k, v in value.items()}

    def tour(self, raw: Any, where: str) -> TourSpec | None:
        if not isinstance(raw, dict):
            self.problem(where, "must be an object")
            return None
        slug = raw.get("slug")
        if not isinstance(slug, str) or not SLUG.match(slug):
            self.problem(where, "'slug' must be lower-case letters, digits and '-' (at most 100)")
            slug = str(slug)
        elif slug in RESERVED_SLUGS:
            self.problem(where, f"'slug' cannot be {slug!r} (reserved for a page)")
        where = f"tour {slug!r}"
        position = raw.get("position", 100)
        if isinstance(position, bool) or not isinstance(position, int):
            self.problem(where, "'position' must be a whole number")
            position = 100
        example = raw.get("example_order")
        if example is not None and (not isinstance(example, str) or not example.strip()):
            self.problem(where, "'example_order' must be an order id (a string) or null")
            example = None
        tour = TourSpec(
            slug=slug,
            title=self.text(raw, "title", where, required=True, limit=MAX_TITLE),
            title_ru=self.text(raw, "title_ru", where, limit=MAX_TITLE),
            description=self.text(raw, "description", where),
            description_ru=self.text(raw, "description_ru", where),
            position=position,
            example_order=example.strip() if example else None,
            example_selector=self.selector(raw.get("example_selector"), where),
        )
        steps = raw.get("steps")
        if not isinstance(steps, list) or not steps:
            self.problem(where, "'steps' must be a non-empty list")
            return tour
        if len(steps) > MAX_STEPS:
            self.problem(where, f"more than {MAX_STEPS} steps")
        for n, raw_step in enumerate(steps[:MAX_STEPS], start=1):
            step = self.step(raw_step, f"{where} step {n}")
            if step is not None:
                tour.steps.append(step)
        return tour


def parse_document(data: Any, source: str = "<tours>") -> list[TourSpec]:
    """Tours from a decoded JSON document ({"tours": [...]} or one tour object)."""
    reader = _Reader(source)
    if isinstance(data, dict) and "tours" in data:
        items = data["tours"]
        if not isinstance(items, list):
            raise TourFileError([f"{source}: 'tours' must be a list"])
    elif isinstance(data, dict):
        items = [data]
    else:
        raise TourFileError([f"{source}: expected a JSON object with a 'tours' list"])
    tours = [t for n, raw in enumerate(items) if (t := reader.tour(raw, f"tours[{n}]"))]
    seen: set[str] = set()
    for tour in tours:
        if tour.slug in seen:
            reader.problem(f"tour {tour.slug!r}", "the slug is used twice in this file")
        seen.add(tour.slug)
    if reader.problems:
        raise TourFileError(reader.problems)
    return tours


def parse_question(value: Any, source: str = "question") -> QuestionSpec:
    """One check-for-understanding question (the admin edits them one at a time)."""
    reader = _Reader(source)
    question = reader.question(value, "the question")
    if reader.problems or question is None:
        raise TourFileError(reader.problems or [f"{source}: no question"])
    return question


def read_file(path: str | Path) -> list[TourSpec]:
    """Tours from a JSON file; unreadable or malformed files raise TourFileError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TourFileError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise TourFileError([f"{path}: not UTF-8 text"]) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TourFileError([f"{path}: not valid JSON: {exc}"]) from None
    return parse_document(data, str(path))


def check_references(
    tour: TourSpec,
    elements: Collection[str],
    states: Collection[str] | None = None,
    source: str = "",
) -> list[str]:
    """What in the tour the model (element ids) or the state graph (state names) lacks."""
    problems = []
    prefix = f"{source}: " if source else ""

    def lacks(where: str, element: str) -> None:
        problems.append(
            f"{prefix}tour {tour.slug!r} {where}: element {element!r} is not in "
            f"the model (known: {', '.join(sorted(elements))})"
        )

    for n, step in enumerate(tour.steps, start=1):
        where = f"step {n} ({step.title!r})"
        if step.element and step.element not in elements:
            lacks(where, step.element)
        for end in step.relationship or ():
            if end not in elements:
                lacks(f"{where} relationship {format_relationship(step.relationship)}", end)
        if step.state and states is not None and step.state not in states:
            problems.append(
                f"{prefix}tour {tour.slug!r} {where}: state {step.state!r} is not "
                f"in the state graph (known: {', '.join(states)})"
            )
        for c, choice in enumerate(step.question.choices if step.question else [], start=1):
            if choice.element and choice.element not in elements:
                lacks(f"{where} question choice {c}", choice.element)
    return problems


def _question_dict(question: QuestionSpec | None) -> dict | None:
    if question is None:
        return None
    return {
        "text": question.text,
        "text_ru": question.text_ru,
        "correct": question.correct,
        "choices": [
            {"text": c.text, "text_ru": c.text_ru, "element": c.element} for c in question.choices
        ],
    }


def tour_dict(tour: TourSpec) -> dict:
    """The file form of a tour (also what `tours export --json` prints)."""
    return {
        "slug": tour.slug,
        "title": tour.title,
        "title_ru": tour.title_ru,
        "description": tour.description,
        "description_ru": tour.description_ru,
        "position": tour.position,
        "example_order": tour.example_order,
        "example_selector": tour.example_selector,
        "steps": [
            {
                "title": s.title,
                "title_ru": s.title_ru,
                "element": s.element,
                "relationship": format_relationship(s.relationship),
                "state": s.state,
                "text": s.text,
                "text_ru": s.text_ru,
                "question": _question_dict(s.question),
            }
            for s in tour.steps
        ],
    }


def export_document(tours: list[TourSpec]) -> dict:
    return {"tours": [tour_dict(t) for t in tours]}
