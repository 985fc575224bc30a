"""Structurizr DSL and Structurizr workspace JSON -> Model.

The DSL subset: workspace, model, person, softwareSystem, container, component, group,
enterprise, relationships (`a -> b`, `-> b` and `this -> b` inside element blocks), tags,
description/technology statements, `!identifiers hierarchical`. Views, styles, deployment and
properties blocks are skipped; anything else becomes a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from explorer.c4.model import (
    Element,
    Model,
    ModelBuilder,
    Relationship,
    refine_container_kind,
    slug,
)

_KINDS = {"person": "person", "softwaresystem": "software_system",
          "container": "container", "component": "component"}
# Blocks whose content does not describe the static model.
_SKIPPED_BLOCKS = {"views", "styles", "configuration", "properties", "perspectives",
                   "deploymentenvironment", "deploymentnode", "infrastructurenode",
                   "branding", "terminology", "themes", "users", "!docs", "!adrs"}
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(->)|([{}=])|([^\s"{}=]+)')


def tokenize(line: str) -> list[str]:
    tokens = []
    for quoted, arrow, punct, word in _TOKEN.findall(line):
        if arrow or punct:
            tokens.append(arrow or punct)
        elif word:
            if word.startswith(("#", "//")):
                break  # a comment runs to the end of the line
            tokens.append(word)
        else:
            tokens.append('"' + quoted.replace('\\"', '"'))  # a leading quote marks a string
    return tokens


def _text(token: str) -> str:
    return token[1:] if token.startswith('"') else token


def _kind_of(base: str, tags: list[str], technology: str) -> str:
    lowered = {t.lower() for t in tags}
    if base in ("container", "component"):
        if "database" in lowered:
            return "database"
        if lowered & {"queue", "message queue", "messagebus", "message bus"}:
            return "queue"
        return refine_container_kind("container", technology) if base == "container" else base
    return base


def _tags(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


@dataclass
class _Block:
    kind: str  # workspace, model, element, group, relationship, skip
    element: str | None = None


def load_dsl(text: str, source: str = "<dsl>") -> Model:
    b = ModelBuilder(source)
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    stack: list[_Block] = []
    hierarchical = False
    pending: list[tuple[int, str, str, list[str], str | None]] = []  # relationships to resolve
    rel_tags: dict[int, list[str]] = {}
    bases: dict[str, str] = {}  # element id -> the keyword that declared it
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = tokenize(line)
        if not tokens:
            continue
        if tokens == ["}"]:
            if stack:
                stack.pop()
            else:
                b.warn(number, "'}' without an open block; ignored")
            continue
        opens = tokens[-1] == "{"
        if opens:
            tokens = tokens[:-1]
        context = stack[-1] if stack else _Block("top")
        scope = next((blk.element for blk in reversed(stack) if blk.element), None)
        head = tokens[0].lower() if tokens else ""

        def push(block: _Block, opens: bool = opens) -> None:
            if opens:
                stack.append(block)

        if context.kind == "skip":
            push(_Block("skip"))
            continue
        if head.startswith("!"):
            if head == "!identifiers":
                hierarchical = len(tokens) > 1 and _text(tokens[1]).lower() == "hierarchical"
            elif head in ("!docs", "!adrs"):
                pass
            else:
                b.warn(number, f"directive {tokens[0]} not supported; ignored")
            push(_Block("skip"))
            continue
        if head == "workspace" and context.kind == "top":
            if len(tokens) > 1 and tokens[1] != "extends":
                b.model.name = _text(tokens[1])
            push(_Block("workspace"))
            continue
        if head == "model" and context.kind in ("top", "workspace"):
            push(_Block("model"))
            continue
        if head in _SKIPPED_BLOCKS or (context.kind in ("workspace", "top") and opens):
            push(_Block("skip"))
            continue
        if context.kind == "relationship":
            if head == "tags" and context.element is not None:
                rel_tags.setdefault(int(context.element), []).extend(
                    t for tok in tokens[1:] for t in _tags(_text(tok)))
            push(_Block("skip"))
            continue
        if context.kind in ("workspace", "top"):
            if head not in ("name", "description"):
                b.warn(number, f"not understood here: {line.strip()[:60]!r}")
            continue
        # Inside model, group or element blocks.
        identifier = None
        if len(tokens) > 2 and tokens[1] == "=":
            identifier, tokens = tokens[0], tokens[2:]
            head = tokens[0].lower()
        if "->" in tokens:
            arrow = tokens.index("->")
            if arrow > 1 or (arrow == 0 and not scope) or arrow + 1 >= len(tokens):
                b.warn(number, f"relationship not understood: {line.strip()[:60]!r}")
                push(_Block("skip"))
                continue
            src = scope if arrow == 0 or tokens[0] == "this" else tokens[0]
            dst = scope if tokens[arrow + 1] == "this" else tokens[arrow + 1]
            if src is None or dst is None:  # "this" outside any element
                b.warn(number, f"relationship not understood: {line.strip()[:60]!r}")
                push(_Block("skip"))
                continue
            rest = [_text(t) for t in tokens[arrow + 2:]]
            pending.append((number, src, dst, rest, scope))
            push(_Block("relationship", str(len(pending) - 1)))
            continue
        if head in _KINDS:
            args = [_text(t) for t in tokens[1:]]
            if not args:
                b.warn(number, f"{tokens[0]} without a name; ignored")
                push(_Block("skip"))
                continue
            base = _KINDS[head]
            fields = (("description", "technology", "tags") if base in ("container", "component")
                      else ("description", "tags"))
            values = dict(zip(fields, args[1:], strict=False))
            tags = _tags(values.get("tags", ""))
            element_id = identifier or slug(args[0])
            if hierarchical and identifier and scope:
                element_id = f"{scope}.{identifier}"
            element = b.add_element(Element(
                id=element_id, name=args[0],
                kind=_kind_of(base, tags, values.get("technology", "")),
                technology=values.get("technology", ""),
                description=values.get("description", ""), parent=scope, tags=tags,
                external=any(t.lower() == "external" for t in tags)), number)
            bases[element.id] = base
            push(_Block("element", element.id))
            continue
        if head in ("group", "enterprise"):
            push(_Block("group"))
            continue
        if context.kind == "element" and scope in b.model.elements:
            element = b.model.elements[scope]
            args = [_text(t) for t in tokens[1:]]
            if head == "tags":
                element.tags.extend(t for a in args for t in _tags(a))
                element.kind = _kind_of(bases[scope], element.tags, element.technology)
                element.external = element.external or any(
                    t.lower() == "external" for t in element.tags)
                continue
            if head in ("description", "technology") and args:
                setattr(element, head, args[0])
                element.kind = _kind_of(bases[scope], element.tags, element.technology)
                continue
            if head == "location" and args:
                element.external = args[0].lower() == "external"
                continue
            if head in ("url", "instances", "perspectives", "properties"):
                push(_Block("skip"))
                continue
        b.warn(number, f"not understood: {line.strip()[:60]!r}")
        push(_Block("skip"))
    if stack:
        b.warn(None, f"{len(stack)} block(s) not closed with '}}'")

    def resolve(ref: str, scope: str | None) -> str:
        if ref in b.model.elements or not hierarchical:
            return ref
        while scope:  # hierarchical identifiers may be relative to the enclosing elements
            if f"{scope}.{ref}" in b.model.elements:
                return f"{scope}.{ref}"
            scope = b.model.elements[scope].parent if scope in b.model.elements else None
        return ref

    for index, (number, src, dst, rest, scope) in enumerate(pending):
        tags = _tags(rest[2]) if len(rest) > 2 else []
        b.add_relationship(Relationship(
            source=resolve(src, scope), target=resolve(dst, scope),
            description=rest[0] if rest else "", technology=rest[1] if len(rest) > 1 else "",
            tags=tags + rel_tags.get(index, [])), number)
    return b.finish()


def load_workspace_json(data: bytes | str, source: str = "<workspace.json>") -> Model:
    b = ModelBuilder(source)
    try:
        workspace = json.loads(data)
        model = workspace["model"]
        if not isinstance(model, dict):
            raise TypeError("model is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        b.warn(None, f"not a Structurizr workspace JSON: {exc}")
        return b.finish()
    b.model.name = str(workspace.get("name", ""))
    ids: dict[str, str] = {}  # Structurizr id -> our id
    relationships: list[tuple[str, dict]] = []

    def add(item: object, base: str, parent: str | None, where: str) -> None:
        if not isinstance(item, dict) or not item.get("name"):
            b.warn(where, "element without a name; ignored")
            return
        tags = _tags(str(item.get("tags", "")))
        technology = str(item.get("technology", ""))
        properties = item.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        identifier = properties.get("structurizr.dsl.identifier") or slug(str(item["name"]))
        element = b.add_element(Element(
            id=str(identifier), name=str(item["name"]), kind=_kind_of(base, tags, technology),
            technology=technology, description=str(item.get("description", "")),
            parent=parent, tags=[t for t in tags if t not in ("Element", "Person",
                                                             "Software System", "Container",
                                                             "Component")],
            external=str(item.get("location", "")).lower() == "external"
            or "external" in {t.lower() for t in tags}), where)
        ids[str(item.get("id", element.id))] = element.id
        for n, rel in enumerate(item.get("relationships") or []):
            relationships.append((f"{where}.relationships[{n}]", rel))
        for key, child_base in (("containers", "container"), ("components", "component")):
            for n, child in enumerate(item.get(key) or []):
                add(child, child_base, element.id, f"{where}.{key}[{n}]")

    for key, base in (("people", "person"), ("softwareSystems", "software_system")):
        for n, item in enumerate(model.get(key) or []):
            add(item, base, None, f"model.{key}[{n}]")
    for where, rel in relationships:
        if not isinstance(rel, dict) or rel.get("linkedRelationshipId"):
            continue  # implied relationships repeat an explicit one at a higher level
        b.add_relationship(Relationship(
            source=ids.get(str(rel.get("sourceId")), str(rel.get("sourceId") or "")),
            target=ids.get(str(rel.get("destinationId")), str(rel.get("destinationId") or "")),
            description=str(rel.get("description", "")), technology=str(rel.get("technology", "")),
            tags=[t for t in _tags(str(rel.get("tags", ""))) if t != "Relationship"]), where)
    return b.finish()


def load_dsl_file(path: Path) -> Model:
    return load_dsl(path.read_text(encoding="utf-8", errors="replace"), str(path))


def load_workspace_json_file(path: Path) -> Model:
    return load_workspace_json(path.read_bytes(), str(path))
