"""C4-PlantUML -> Model.

Understands the element, boundary and relationship macros of C4-PlantUML (including the _Ext
forms, `$keyword=` arguments and boundaries nested to any depth with `{ }` or closed with
`Boundary_End()`), the indexed relationships of dynamic diagrams (`RelIndex`, its directions,
`_Back` and `_Neighbor` forms, whose first argument is the step index), and deployment nodes
(`Deployment_Node`, `Node` and their `_L`/`_R` forms): these are read as blocks whose elements
belong to the model, with one warning each that the node itself is not drawn. Preprocessor
lines, layout and styling macros are ignored; anything else is a warning and loading goes on.

An element's or a relationship's texts in another language are C4-PlantUML properties, which
apply to the next element or relationship: `AddProperty("name:ru", "Интернет-магазин")`,
`AddProperty("description:ru", "...")` (other properties are ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

from explorer.c4.model import (
    Element,
    Model,
    ModelBuilder,
    Relationship,
    refine_container_kind,
    translations,
)

# macro -> (kind, positional parameter names after alias and label)
_ELEMENTS = {
    "Person": ("person", ("description",)),
    "System": ("software_system", ("description",)),
    "SystemDb": ("database", ("description",)),
    "SystemQueue": ("queue", ("description",)),
    "Container": ("container", ("technology", "description")),
    "ContainerDb": ("database", ("technology", "description")),
    "ContainerQueue": ("queue", ("technology", "description")),
    "Component": ("component", ("technology", "description")),
    "ComponentDb": ("database", ("technology", "description")),
    "ComponentQueue": ("queue", ("technology", "description")),
}
_BOUNDARIES = {"System_Boundary", "Container_Boundary", "Enterprise_Boundary", "Boundary"}
_DEPLOYMENT = re.compile(r"^(?:Deployment_Node|Node)(?:_L|_R)?$")
_REL = re.compile(
    r"^(?P<bi>Bi)?Rel(?P<index>Index)?(?P<back>_Back)?"
    r"(?:_(?:U|Up|D|Down|L|Left|R|Right))?(?:_Neighbor)?$"
)
_IGNORED = re.compile(
    r"^(?:Lay_\w+|LAYOUT_\w+|SHOW_\w+|HIDE_\w+|Add\w+Tag|Add\w+Style|Update\w+Style|"
    r"WithoutPropertyHeader|SetPropertyHeader|SetDefaultLegendEntries|"
    r"increment|setIndex|LAYOUT)$"
)
_STATEMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*\((?P<args>.*)\)\s*(?P<open>\{)?\s*$", re.S)
_IGNORED_LINE = re.compile(
    r"^(?:[!@]|title\b|skinparam\b|hide\b|show\b|left to right direction|top to bottom direction|"
    r"legend\b|endlegend\b|footer\b|header\b|caption\b|note\b|end note\b|scale\b)",
    re.I,
)


def split_args(text: str) -> list[str]:
    """Split macro arguments on top-level commas, honouring quotes and parentheses."""
    args: list[str] = []
    current: list[str] = []
    depth, quote = 0, False
    for ch in text:
        if ch == '"':
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == "," and not quote and depth == 0:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip() or args:
        args.append("".join(current).strip())
    return args


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value.replace("\\n", "\n").strip()


def parse_args(text: str) -> tuple[list[str], dict[str, str]]:
    positional, keywords = [], {}
    for arg in split_args(text):
        m = re.match(r"^\$(\w+)\s*=\s*(.*)$", arg, re.S)
        if m:
            keywords[m.group(1).lower()] = _unquote(m.group(2))
        else:
            positional.append(_unquote(arg))
    return positional, keywords


def _statements(text: str):
    """(line number, statement) with comments removed and unbalanced parentheses joined."""
    text = re.sub(r"/'.*?'/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("'")):
            continue
        if pending:
            pending += " " + line
        else:
            pending, start = line, number
        # A statement ends when its parentheses balance (quotes aside).
        unquoted = re.sub(r'"[^"]*"', "", pending)
        if unquoted.count("(") <= unquoted.count(")"):
            yield start, pending
            pending = ""
    if pending:
        yield start, pending


def load_plantuml(text: str, source: str = "<plantuml>") -> Model:
    b = ModelBuilder(source)
    stack: list[str | None] = []  # open blocks: element id for boundaries/elements
    properties: dict[str, str] = {}  # AddProperty's, for the next element or relationship
    last_element: str | None = None
    for line, statement in _statements(text):
        if statement == "{":
            stack.append(last_element)
            continue
        if statement == "}" or re.fullmatch(r"Boundary_End\s*\(\s*\)", statement):
            if stack:
                stack.pop()
            else:
                b.warn(line, "'}' without an open boundary; ignored")
            continue
        if _IGNORED_LINE.match(statement):
            continue
        m = _STATEMENT.match(statement)
        if not m:
            b.warn(line, f"not understood: {statement[:60]!r}")
            continue
        macro, opens = m.group("name"), bool(m.group("open"))
        positional, keywords = parse_args(m.group("args"))
        parent = next((p for p in reversed(stack) if p is not None), None)
        external = macro.endswith("_Ext")
        base = macro[:-4] if external else macro
        last_element = None
        if macro == "AddProperty":  # C4-PlantUML: a property of the next element or relationship
            if len(positional) >= 2:
                properties[positional[0]] = positional[1]
            continue
        if base in _ELEMENTS or macro in _BOUNDARIES:
            last_element = _add_element(b, line, macro, positional, keywords, parent)
            _translate(b.model.elements.get(last_element or ""), properties)
            if opens:
                stack.append(last_element)
            continue
        if opens:
            stack.append(None)
        if _DEPLOYMENT.match(base):
            name = keywords.get("label") or (positional[1] if len(positional) > 1 else macro)
            b.warn(
                line,
                f"{macro} {name!r} read, but deployment nodes are not drawn: only "
                "the elements inside it are part of the model",
            )
        elif rel := _REL.match(macro):
            _translate(_add_relationship(b, line, macro, rel, positional, keywords), properties)
        elif not _IGNORED.match(macro):
            b.warn(line, f"unknown macro {macro}(); ignored")
    if stack:
        b.warn(None, f"{len(stack)} boundary block(s) not closed with '}}'")
    return b.finish()


def _translate(item: Element | Relationship | None, properties: dict[str, str]) -> None:
    """Gives the element or relationship just declared the translations among the properties
    added before it; C4-PlantUML starts the next one's properties afresh."""
    if item is not None:
        item.translated.update(translations(properties))
    properties.clear()


def _add_element(
    b: ModelBuilder,
    line: int,
    macro: str,
    positional: list[str],
    keywords: dict[str, str],
    parent: str | None,
) -> str | None:
    """An element or boundary macro (`Container(alias, "label", "techn", "descr")`...) added to
    the model; its id, or None (with a warning) when it lacks an alias or a label."""
    if len(positional) < 2 and "label" not in keywords:
        b.warn(line, f"{macro} needs an alias and a label; ignored")
        return None
    external = macro.endswith("_Ext")
    base = macro[:-4] if external else macro
    alias, label = positional[0], keywords.get("label") or positional[1]
    fields: tuple[str, ...]
    if macro in _BOUNDARIES:
        kind, fields = "boundary", ()
    else:
        kind, fields = _ELEMENTS[base]
    values = dict(zip(fields, positional[2:], strict=False))
    for key, attr in (("techn", "technology"), ("descr", "description")):
        if key in keywords:
            values[attr] = keywords[key]
    technology = values.get("technology", "")
    tags = [t for t in keywords.get("tags", "").split("+") if t]
    if macro in _BOUNDARIES and macro != "Boundary":
        tags.insert(0, macro)
    element = b.add_element(
        Element(
            id=alias,
            name=label,
            kind=refine_container_kind(kind, technology),
            technology=technology,
            description=values.get("description", ""),
            parent=parent,
            external=external,
            tags=tags,
        ),
        line,
    )
    return element.id


def _add_relationship(
    b: ModelBuilder,
    line: int,
    macro: str,
    rel: re.Match[str],
    positional: list[str],
    keywords: dict[str, str],
) -> Relationship | None:
    """A relationship macro (`Rel(a, b, "label", "techn")`, `BiRel`, `Rel_Back`, `RelIndex`...)
    added to the model, or None (with a warning) when it lacks an end."""
    if rel.group("index"):
        positional = positional[1:]  # the step index: Index(), LastIndex() or a number
    if len(positional) < 2:
        b.warn(line, f"{macro} needs two ends; ignored")
        return None
    source, target = positional[0], positional[1]
    if rel.group("back"):
        source, target = target, source
    label = keywords.get("label") or (positional[2] if len(positional) > 2 else "")
    technology = keywords.get("techn") or (positional[3] if len(positional) > 3 else "")
    tags = [t for t in keywords.get("tags", "").split("+") if t]
    relationship = Relationship(
        source=source,
        target=target,
        description=label,
        technology=technology,
        bidirectional=bool(rel.group("bi")),
        tags=tags,
    )
    b.add_relationship(relationship, line)
    return relationship


def load_plantuml_file(path: Path) -> Model:
    return load_plantuml(path.read_text(encoding="utf-8", errors="replace"), str(path))
