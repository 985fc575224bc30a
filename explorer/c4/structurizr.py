"""Structurizr DSL and Structurizr workspace JSON -> Model.

The DSL subset: workspace, model, person, softwareSystem, container, component, group (nested
too), enterprise, relationships (`a -> b`, `-> b` and `this -> b` inside element blocks), tags
and tag, description/technology statements, `!identifiers hierarchical`, and the ways real
workspaces are split and reused (following Structurizr's DSL tests and examples):
- `workspace extends <file>`: the base workspace (DSL or JSON) is read first, its identifiers
  usable in the extending one;
- `!include <file or folder>`: the file's lines (every file of a folder, by name) read in place;
- `!ref`, `!element` and `!extend <identifier or canonical name>` `{ ... }`: statements about an
  element declared earlier (in this file, an included one or the base workspace);
- `!relationship <identifier>` `{ ... }`: tags and properties of a relationship declared earlier
  as `identifier = a -> b` (in a DSL file; a JSON base's relationships cannot be named);
- `archetypes { name = container { technology ... tags ... } }`: element types of one's own
  (and relationship types, used as `a --name-> b`) with their defaults;
- `!const NAME "value"` / `!constant` with `${NAME}` substituted.
Identifiers are case-insensitive, as in Structurizr (its IdentifiersRegister lower-cases every
identifier it registers and looks up): `!ref internetbankingsystem` names an element declared
as `internetBankingSystem`, in a base workspace too, and so do relationship ends, `!element`,
`!extend` and hierarchical identifiers (`Shop.API`); an element keeps the id spelt where it is
declared, and declaring `API` after `api` is a duplicate. Relationship identifiers, for
`!relationship`, share that one case-insensitive namespace with the elements' (a relationship
named like an element or another relationship is kept without the name, with a warning).
`this` is a keyword in any case; views are skipped, so the identifiers in them need nothing.
Files are named relative to the file that names them (`../catalog.dsl` too, as Structurizr's
system-catalog example does); absolute paths, URLs (never fetched) and files named by a model
that has no folder (an upload) are refused with a warning, as are include cycles.
- `properties { "name:ru" "..." "description:ru" "..." }` in an element's or a relationship's
  block: its texts in another language (other properties are ignored).
Views, styles, deployment and workspace properties blocks are skipped; anything else becomes a
warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from explorer.c4.model import (
    Element,
    Model,
    ModelBuilder,
    Relationship,
    refine_container_kind,
    slug,
    translations,
)

_KINDS = {
    "person": "person",
    "softwaresystem": "software_system",
    "container": "container",
    "component": "component",
}
# Blocks whose content does not describe the static model.
_SKIPPED_BLOCKS = {
    "views",
    "styles",
    "configuration",
    "properties",
    "perspectives",
    "deploymentenvironment",
    "deploymentnode",
    "infrastructurenode",
    "branding",
    "terminology",
    "themes",
    "users",
    "!docs",
    "!adrs",
}
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
    # workspace, model, element, group, relationship, archetypes, archetype, skip, and
    # "properties of element" / "properties of relationship" (`element` names which)
    kind: str
    element: str | None = None


@dataclass
class _Archetype:
    base: str  # an element keyword of _KINDS, "group", or "->" for a relationship archetype
    description: str = ""
    technology: str = ""
    tags: list[str] = field(default_factory=list)


_ARCHETYPE_ARROW = re.compile(r"^--([^\s>]+)->$")
_CANONICAL = re.compile(r"^(person|softwaresystem|container|component)://(.+)$", re.I)
_CONSTANT = re.compile(r"\$\{(\w+)\}")
MAX_INCLUDED_FILES = 100


def load_dsl(text: str, source: str = "<dsl>", base_dir: Path | None = None) -> Model:
    """A model from DSL text; `base_dir` is the folder files may be included from (none for an
    upload)."""
    reader = _DslReader(ModelBuilder(source))
    reader.read(text, source, base_dir.resolve() if base_dir else None)
    return reader.finish()


class _DslReader:
    def __init__(self, builder: ModelBuilder):
        self.b = builder
        self.stack: list[_Block] = []
        self.hierarchical = False
        # (file, line, source, destination, description/technology/tags, scope, archetype tags)
        self.pending: list[tuple[str, int, str, str, list[str], str | None, list[str]]] = []
        self.rel_tags: dict[int, list[str]] = {}
        self.rel_translated: dict[int, dict[str, str]] = {}
        self.bases: dict[str, str] = {}  # element id -> the keyword that declared it
        self.folded: dict[str, str] = {}  # element id in lower case -> the id as declared
        self.relationship_ids: dict[str, int] = {}  # identifier in lower case -> pending index
        self.archetypes: dict[str, _Archetype] = {}
        self.constants: dict[str, str] = {}
        self.reading: list[Path] = []  # files being read, to refuse include cycles
        self.files_read = 0

    # --- files ---------------------------------------------------------------------------

    def read(self, text: str, source: str, folder: Path | None) -> None:
        text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
        outer, self.b.source = self.b.source, source
        try:
            for number, line in enumerate(text.splitlines(), start=1):
                self.line(number, line, folder)
        finally:
            self.b.source = outer

    def file(self, number: int, name: str, folder: Path | None, what: str) -> list[Path]:
        """The files a directive names (a folder gives its files by name), or [] with a
        warning saying why not."""
        if re.match(r"^[a-z][a-z0-9+.-]*://", name, re.I):
            self.b.warn(number, f"{what} {name!r}: URLs are not fetched; ignored")
            return []
        if folder is None:
            self.b.warn(
                number,
                f"{what} {name!r}: no folder to read it from (an uploaded "
                "model cannot name other files); ignored",
            )
            return []
        if Path(name).is_absolute():
            self.b.warn(
                number,
                f"{what} {name!r}: an absolute path; files are named relative "
                "to the file naming them; ignored",
            )
            return []
        path = (folder / name).resolve()
        if path.is_dir():
            return sorted(p for p in path.iterdir() if p.is_file())
        if not path.is_file():
            self.b.warn(number, f"{what} {name!r}: no such file; ignored")
            return []
        return [path]

    def include(self, number: int, path: Path, what: str) -> None:
        if path in self.reading:
            self.b.warn(number, f"{what} {path.name!r} includes itself; ignored")
            return
        self.files_read += 1
        if self.files_read > MAX_INCLUDED_FILES:
            self.b.warn(
                number, f"more than {MAX_INCLUDED_FILES} files included; {path.name!r} ignored"
            )
            return
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            self.b.warn(number, f"{what} {path.name!r}: cannot read it: {exc.strerror}")
            return
        self.reading.append(path)
        try:
            if what == "workspace extends" and path.suffix.lower() == ".json":
                self.extend_json(text, str(path))
            else:
                self.read(text, str(path), path.parent)
        finally:
            self.reading.pop()

    def extend_json(self, text: str, source: str) -> None:
        base = load_workspace_json(text, source)
        self.b.model.warnings.extend(base.warnings)
        for element in base.elements.values():
            self.b.model.elements.setdefault(element.id, element)
            self.bases.setdefault(element.id, element.kind)
            self.folded.setdefault(element.id.lower(), element.id)
        for rel in base.relationships:
            self.b.add_relationship(rel, None)

    # --- statements ------------------------------------------------------------------------

    def line(self, number: int, line: str, folder: Path | None) -> None:
        b, stack = self.b, self.stack
        if "${" in line:
            line = _CONSTANT.sub(lambda m: self.constants.get(m.group(1), m.group(0)), line)
        tokens = tokenize(line)
        if not tokens:
            return
        if tokens == ["}"]:
            if stack:
                stack.pop()
            else:
                b.warn(number, "'}' without an open block; ignored")
            return
        opens = tokens[-1] == "{"
        if opens:
            tokens = tokens[:-1]
        context = stack[-1] if stack else _Block("top")
        scope = next((blk.element for blk in reversed(stack) if blk.element), None)

        def push(block: _Block, opens: bool = opens) -> None:
            if opens:
                stack.append(block)

        if self.block_statement(number, tokens, opens, context, scope, folder, push):
            return
        if context.kind in ("workspace", "top"):
            if (tokens[0].lower() if tokens else "") not in ("name", "description"):
                b.warn(number, f"not understood here: {line.strip()[:60]!r}")
            return
        self.model_statement(number, line, tokens, context, scope, push)

    def block_statement(
        self,
        number: int,
        tokens: list[str],
        opens: bool,
        context: _Block,
        scope: str | None,
        folder: Path | None,
        push: Callable[[_Block], None],
    ) -> bool:
        """A statement of the workspace's structure (blocks, directives, archetypes, the tags
        of a relationship); False if it is none of them."""
        head = tokens[0].lower() if tokens else ""
        if context.kind == "archetypes":
            self.archetype(number, tokens, opens)
            return True
        if context.kind == "archetype":
            self.archetype_default(context.element or "", tokens)
            push(_Block("skip"))
        elif context.kind == "skip":
            push(_Block("skip"))
        elif context.kind.startswith("properties of "):
            self.property(context, [_text(t) for t in tokens])
            push(_Block("skip"))
        elif head == "properties" and context.kind in ("element", "relationship"):
            push(_Block(f"properties of {context.kind}", context.element))
        elif head.startswith("!"):
            self.directive(number, tokens, opens, scope, folder)
        elif head == "workspace" and context.kind == "top":
            if len(tokens) > 2 and tokens[1] == "extends":
                for path in self.file(number, _text(tokens[2]), folder, "workspace extends"):
                    self.include(number, path, "workspace extends")
            elif len(tokens) > 1 and tokens[1] != "extends":
                self.b.model.name = _text(tokens[1])
            push(_Block("workspace"))
        elif head == "model" and context.kind in ("top", "workspace"):
            push(_Block("model"))
        elif head == "archetypes" and context.kind in ("model", "workspace") and opens:
            push(_Block("archetypes"))
        elif head in _SKIPPED_BLOCKS or (context.kind in ("workspace", "top") and opens):
            push(_Block("skip"))
        elif context.kind == "relationship":
            if head in ("tags", "tag") and context.element is not None:
                self.rel_tags.setdefault(int(context.element), []).extend(
                    t for tok in tokens[1:] for t in _tags(_text(tok))
                )
            push(_Block("skip"))
        else:
            return False
        return True

    def model_statement(
        self,
        number: int,
        line: str,
        tokens: list[str],
        context: _Block,
        scope: str | None,
        push: Callable[[_Block], None],
    ) -> None:
        """A statement inside the model, a group or an element: a relationship, a group, an
        element, or an element's own statement (description, tags...)."""
        identifier = None
        head = tokens[0].lower() if tokens else ""
        if len(tokens) > 2 and tokens[1] == "=":
            identifier, tokens = tokens[0], tokens[2:]
            head = tokens[0].lower()
        arrow = next(
            (i for i, t in enumerate(tokens) if t == "->" or _ARCHETYPE_ARROW.match(t)), None
        )
        if arrow is not None:
            read = self.relationship(number, line, tokens, arrow, scope, push)
            if read and identifier is not None:
                self.name_relationship(number, identifier)
            return
        archetype = self.archetypes.get(head)
        if head in ("group", "enterprise") or (archetype is not None and archetype.base == "group"):
            push(_Block("group"))
            return
        if head in _KINDS or (archetype is not None and archetype.base != "->"):
            self.element(number, tokens, identifier, scope, push)
            return
        if (
            context.kind == "element"
            and scope in self.b.model.elements
            and self.statement(scope, head, [_text(t) for t in tokens[1:]], push)
        ):
            return
        self.b.warn(number, f"not understood: {line.strip()[:60]!r}")
        push(_Block("skip"))

    def directive(
        self, number: int, tokens: list[str], opens: bool, scope: str | None, folder: Path | None
    ) -> None:
        head = tokens[0].lower()
        args = [_text(t) for t in tokens[1:]]
        block = _Block("skip")
        if head == "!identifiers":
            self.hierarchical = bool(args) and args[0].lower() == "hierarchical"
        elif head in ("!const", "!constant") and len(args) >= 2:
            self.constants[args[0]] = args[1]
        elif head == "!include" and args:
            for path in self.file(number, args[0], folder, "!include"):
                self.include(number, path, "!include")
        elif head in ("!ref", "!element", "!extend") and args:
            element = self.find(args[0], scope)
            if element is None:
                self.b.warn(number, f"{tokens[0]} {args[0]!r}: no such element; block ignored")
            else:
                block = _Block("element", element)
        elif head == "!relationship" and args:
            index = self.relationship_ids.get(args[0].lower())
            if index is None:
                self.b.warn(number, f"{tokens[0]} {args[0]!r}: no such relationship; block ignored")
            else:
                block = _Block("relationship", str(index))
        elif head not in (
            "!docs",
            "!adrs",
            "!impliedrelationships",
            "!relationships",
            "!elements",
            "!plugin",
            "!script",
        ):
            self.b.warn(number, f"directive {tokens[0]} not supported; ignored")
        if opens:
            self.stack.append(block)

    def find(self, ref: str, scope: str | None) -> str | None:
        """The element an identifier or canonical name ("Container://System.Container")
        names, or None."""
        canonical = _CANONICAL.match(ref)
        if canonical is None:
            found = self.resolve(ref, scope)
            return found if found in self.b.model.elements else None
        names = canonical.group(2).split(".")
        parent = None
        for name in names:
            parent = next(
                (
                    e.id
                    for e in self.b.model.elements.values()
                    if e.name == name and e.parent == parent
                ),
                None,
            )
            if parent is None:
                return None
        return parent

    def known(self, ref: str) -> str | None:
        """The id of the element an identifier names, in any case, or None."""
        return ref if ref in self.b.model.elements else self.folded.get(ref.lower())

    def resolve(self, ref: str, scope: str | None) -> str:
        found = self.known(ref)
        if found is not None or not self.hierarchical:
            return found or ref
        elements = self.b.model.elements
        while scope:  # hierarchical identifiers may be relative to the enclosing elements
            found = self.known(f"{scope}.{ref}")
            if found is not None:
                return found
            scope = elements[scope].parent if scope in elements else None
        return ref

    def property(self, block: _Block, words: list[str]) -> None:
        """A `"key" "value"` line of a properties block: kept when it is a translation."""
        found = translations({words[0]: words[1]}) if len(words) == 2 else {}
        if not found or block.element is None:
            return
        if block.kind == "properties of relationship":
            self.rel_translated.setdefault(int(block.element), {}).update(found)
        elif block.element in self.b.model.elements:
            self.b.model.elements[block.element].translated.update(found)

    def archetype(self, number: int, tokens: list[str], opens: bool) -> None:
        if len(tokens) < 3 or tokens[1] != "=":
            self.b.warn(number, f"archetype not understood: {' '.join(tokens)[:60]!r}")
            if opens:
                self.stack.append(_Block("skip"))
            return
        name, base = tokens[0].lower(), tokens[2]
        arrow = _ARCHETYPE_ARROW.match(base)
        if base == "->" or arrow:
            parent = self.archetypes.get(arrow.group(1).lower()) if arrow else None
            archetype = _Archetype(
                "->",
                parent.description if parent else "",
                parent.technology if parent else "",
                list(parent.tags) if parent else [],
            )
        elif base.lower() in _KINDS or base.lower() == "group":
            archetype = _Archetype(base.lower())
        elif base.lower() in self.archetypes:
            parent = self.archetypes[base.lower()]
            archetype = _Archetype(
                parent.base, parent.description, parent.technology, list(parent.tags)
            )
        else:
            self.b.warn(number, f"archetype {tokens[0]!r}: unknown base type {base!r}; ignored")
            if opens:
                self.stack.append(_Block("skip"))
            return
        self.archetypes[name] = archetype
        if opens:
            self.stack.append(_Block("archetype", name))

    def archetype_default(self, name: str, tokens: list[str]) -> None:
        archetype = self.archetypes.get(name)
        args = [_text(t) for t in tokens[1:]]
        if archetype is None or not args:
            return
        head = tokens[0].lower()
        if head in ("tag", "tags"):
            archetype.tags.extend(t for a in args for t in _tags(a))
        elif head in ("description", "technology"):
            setattr(archetype, head, args[0])

    def element(
        self, number: int, tokens: list[str], identifier: str | None, scope: str | None, push
    ) -> None:
        head = tokens[0].lower()
        archetype = self.archetypes.get(head) if head not in _KINDS else None
        base = _KINDS[archetype.base if archetype else head]
        args = [_text(t) for t in tokens[1:]]
        if not args:
            self.b.warn(number, f"{tokens[0]} without a name; ignored")
            push(_Block("skip"))
            return
        fields = (
            ("description", "technology", "tags")
            if base in ("container", "component")
            else ("description", "tags")
        )
        values = dict(zip(fields, args[1:], strict=False))
        tags = (list(archetype.tags) if archetype else []) + _tags(values.get("tags", ""))
        technology = values.get("technology", "") or (archetype.technology if archetype else "")
        description = values.get("description", "") or (archetype.description if archetype else "")
        element_id = identifier or slug(args[0])
        if self.hierarchical and identifier and scope:
            element_id = f"{scope}.{identifier}"
        if identifier:  # the same identifier in another case: a duplicate, warned as one
            element_id = self.folded.get(element_id.lower(), element_id)
        element = self.b.add_element(
            Element(
                id=element_id,
                name=args[0],
                kind=_kind_of(base, tags, technology),
                technology=technology,
                description=description,
                parent=scope,
                tags=tags,
                external=any(t.lower() == "external" for t in tags),
            ),
            number,
        )
        self.bases[element.id] = base
        self.folded.setdefault(element.id.lower(), element.id)
        push(_Block("element", element.id))

    def statement(self, scope: str, head: str, args: list[str], push) -> bool:
        """A statement inside an element's block; False when not understood."""
        element = self.b.model.elements[scope]
        base = self.bases.get(scope, element.kind)
        if head in ("tags", "tag"):
            element.tags.extend(t for a in args for t in _tags(a))
            element.kind = _kind_of(base, element.tags, element.technology)
            element.external = element.external or any(
                t.lower() == "external" for t in element.tags
            )
            return True
        if head in ("description", "technology") and args:
            setattr(element, head, args[0])
            element.kind = _kind_of(base, element.tags, element.technology)
            return True
        if head == "location" and args:
            element.external = args[0].lower() == "external"
            return True
        if head in ("url", "instances", "perspectives", "properties"):
            push(_Block("skip"))
            return True
        return False

    def relationship(
        self, number: int, line: str, tokens: list[str], arrow: int, scope: str | None, push
    ) -> bool:
        """Read `a -> b ...` (or `-> b` in an element's block); False if not understood."""
        if arrow > 1 or (arrow == 0 and not scope) or arrow + 1 >= len(tokens):
            self.b.warn(number, f"relationship not understood: {line.strip()[:60]!r}")
            push(_Block("skip"))
            return False
        defaults: list[str] = []
        tags: list[str] = []
        named = _ARCHETYPE_ARROW.match(tokens[arrow])
        if named:
            archetype = self.archetypes.get(named.group(1).lower())
            if archetype is None or archetype.base != "->":
                self.b.warn(
                    number,
                    f"relationship type {named.group(1)!r} is not a "
                    "relationship archetype; read as a plain relationship",
                )
            else:
                defaults, tags = [archetype.description, archetype.technology], archetype.tags
        src = scope if arrow == 0 or tokens[0].lower() == "this" else tokens[0]
        dst = scope if tokens[arrow + 1].lower() == "this" else tokens[arrow + 1]
        rest = [_text(t) for t in tokens[arrow + 2 :]]
        for i, default in enumerate(defaults):
            if default and (len(rest) <= i or not rest[i]):
                rest += [""] * (i + 1 - len(rest))
                rest[i] = default
        self.pending.append((self.b.source, number, src or "", dst or "", rest, scope, list(tags)))
        push(_Block("relationship", str(len(self.pending) - 1)))
        return True

    def name_relationship(self, number: int, identifier: str) -> None:
        """Register the identifier of the relationship just read, in lower case: element and
        relationship identifiers share one namespace in Structurizr, in any case."""
        folded = identifier.lower()
        if folded in self.relationship_ids or folded in self.folded:
            self.b.warn(
                number,
                f"identifier {identifier!r} is already in use (identifiers are "
                "case-insensitive); the relationship is kept without it",
            )
            return
        self.relationship_ids[folded] = len(self.pending) - 1

    def finish(self) -> Model:
        if self.stack:
            self.b.warn(None, f"{len(self.stack)} block(s) not closed with '}}'")
        for index, (source, number, src, dst, rest, scope, tags) in enumerate(self.pending):
            tags = tags + (_tags(rest[2]) if len(rest) > 2 else [])
            self.b.add_relationship(
                Relationship(
                    source=self.resolve(src, scope),
                    target=self.resolve(dst, scope),
                    description=rest[0] if rest else "",
                    technology=rest[1] if len(rest) > 1 else "",
                    tags=tags + self.rel_tags.get(index, []),
                    translated=self.rel_translated.get(index, {}),
                ),
                (source, number),
            )
        return self.b.finish()


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
        found = item.get("properties")
        properties: dict = found if isinstance(found, dict) else {}
        identifier = properties.get("structurizr.dsl.identifier") or slug(str(item["name"]))
        element = b.add_element(
            Element(
                id=str(identifier),
                name=str(item["name"]),
                kind=_kind_of(base, tags, technology),
                technology=technology,
                description=str(item.get("description", "")),
                parent=parent,
                tags=[
                    t
                    for t in tags
                    if t not in ("Element", "Person", "Software System", "Container", "Component")
                ],
                external=str(item.get("location", "")).lower() == "external"
                or "external" in {t.lower() for t in tags},
                translated=_json_translations(properties),
            ),
            where,
        )
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
        b.add_relationship(
            Relationship(
                source=ids.get(str(rel.get("sourceId")), str(rel.get("sourceId") or "")),
                target=ids.get(str(rel.get("destinationId")), str(rel.get("destinationId") or "")),
                description=str(rel.get("description", "")),
                technology=str(rel.get("technology", "")),
                tags=[t for t in _tags(str(rel.get("tags", ""))) if t != "Relationship"],
                translated=_json_translations(rel.get("properties")),
            ),
            where,
        )
    return b.finish()


def _json_translations(properties: object) -> dict[str, str]:
    if not isinstance(properties, dict):
        return {}
    return translations({str(k): str(v) for k, v in properties.items() if isinstance(v, str)})


def load_dsl_file(path: Path) -> Model:
    return load_dsl(path.read_text(encoding="utf-8", errors="replace"), str(path), path.parent)


def load_workspace_json_file(path: Path) -> Model:
    return load_workspace_json(path.read_bytes(), str(path))
