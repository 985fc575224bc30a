"""draw.io (diagrams.net) files drawn with the C4 shape library -> Model.

Shapes are `object` cells carrying c4Name/c4Type/c4Technology/c4Description; plain cells whose
label reads like a C4 box ("Name [Container: tech] description") are accepted too. Boundaries
own what sits in them by parent or, when drawn over the shapes, by geometry. An edge points the
way its arrowheads point (endArrow/startArrow). Pages may be stored compressed
(base64 + raw deflate + URL-encoding); XML copied from draw.io's clipboard (URL-encoded) is read.

Each shape (cell) is its own element: shapes with the same name on one page stay separate
elements (with a warning, since mapping telemetry by name cannot tell them apart), so an edge
between two of them is not a self-loop; the same shape drawn again on another page is one
element. A shape's or an edge's texts in another language sit in attributes of their own beside
c4Name and c4Description: `c4Name_ru`, `c4Description_ru` (draw.io's "Edit Data").
A C4 shape without `c4Name` (the library's database shape keeps its visible name in
its label) is named from its label, its type then read from the label's "[Type: technology]"
line. A labelled container or group cell that holds C4 shapes or ends an edge (a software
system drawn as a plain container) is a boundary, so relationships to it are kept.

The XML is untrusted: DTDs and entity declarations are refused (no entity expansion, no external
entities), and decompressed pages are size-capped.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote
from xml.etree.ElementTree import Element as XmlElement
from xml.parsers import expat

from explorer.c4.model import (
    Element,
    Model,
    ModelBuilder,
    Relationship,
    refine_container_kind,
    translations,
)

MAX_PAGE_BYTES = 20 * 1024 * 1024
# Fill colours of the C4 library's "external" shapes (and the usual grey).
EXTERNAL_FILLS = {"#6c6477", "#8c8496", "#999999", "#686868"}
_BOX_LABEL = re.compile(r"^\s*\[(?P<type>[^\]:]+?)(?::\s*(?P<tech>[^\]]*))?\]\s*$")


class UnsafeXml(ValueError):
    pass


def parse_xml(data: bytes | str) -> tuple[XmlElement, dict[XmlElement, int]]:
    """Parse XML with expat, refusing DTDs and entities; returns the root and line numbers."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    lines: dict[XmlElement, int] = {}
    stack: list[XmlElement] = []
    roots: list[XmlElement] = []

    def start(tag, attrs):
        el = XmlElement(tag, attrs)
        lines[el] = parser.CurrentLineNumber
        (stack[-1].append(el) if stack else roots.append(el))
        stack.append(el)

    def end(tag):
        stack.pop()

    def text(data):
        if stack:
            el = stack[-1]
            el.text = (el.text or "") + data

    def refuse(*args):
        raise UnsafeXml("DTDs and entity declarations are not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.Parse(data, True)
    return roots[0], lines


def html_to_text(value: str) -> str:
    """Label HTML -> plain text: line breaks kept, tags dropped, entities decoded."""
    value = re.sub(r"(?i)<br\s*/?>|</div>|</p>|<div[^>]*>", "\n", value or "")
    value = html.unescape(re.sub(r"<[^>]*>", "", value)).replace("\xa0", " ")
    lines = [re.sub(r"\s+", " ", line).strip() for line in value.splitlines()]
    return "\n".join(line for line in lines if line)


def parse_style(style: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (style or "").split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out.setdefault(key.strip(), value.strip())  # real files repeat keys; the first wins
        elif key.strip():
            out.setdefault("", key.strip())
    return out


def decompress_page(text: str) -> str:
    raw = base64.b64decode(text.strip(), validate=False)
    inflater = zlib.decompressobj(-15)
    data = inflater.decompress(raw, MAX_PAGE_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"compressed page is larger than {MAX_PAGE_BYTES} bytes")
    return unquote(data.decode("utf-8"))


@dataclass
class _Cell:
    id: str
    line: int
    parent: str | None
    attrs: dict[str, str]
    style: dict[str, str]
    vertex: bool
    edge: bool
    geometry: tuple[float, float, float, float] | None
    children: list[str] = field(default_factory=list)


def _cells(graph: XmlElement, lines: dict[XmlElement, int]) -> dict[str, _Cell]:
    root = graph.find("root")
    cells: dict[str, _Cell] = {}
    for node in list(root) if root is not None else []:
        attrs = dict(node.attrib)
        cell_el = node
        if node.tag in ("object", "UserObject"):
            inner = node.find("mxCell")
            if inner is None:
                continue
            cell_el = inner
            attrs.update({k: v for k, v in cell_el.attrib.items() if k != "id"})
        elif node.tag != "mxCell":
            continue
        geo = cell_el.find("mxGeometry")
        geometry: tuple[float, float, float, float] | None = None
        if geo is not None and geo.get("relative") != "1":
            try:
                x, y, width, height = (
                    float(geo.get(k, "0")) for k in ("x", "y", "width", "height")
                )
                geometry = (x, y, width, height)
            except ValueError:
                geometry = None
        cid = attrs.get("id") or f"line{lines.get(node, 0)}"
        cells[cid] = _Cell(
            id=cid,
            line=lines.get(node, 0),
            parent=attrs.get("parent"),
            attrs=attrs,
            style=parse_style(attrs.get("style", "")),
            vertex=attrs.get("vertex") == "1",
            edge=attrs.get("edge") == "1",
            geometry=geometry,
        )
    for cell in cells.values():
        if cell.parent in cells:
            cells[cell.parent].children.append(cell.id)
    return cells


def _kind(c4type: str, style: dict[str, str], technology: str) -> str | None:
    t = c4type.lower().replace("_", " ")
    shape = style.get("shape", style.get("", "")).lower()
    if "boundary" in t:
        return "boundary"
    if "person" in t:
        return "person"
    if "database" in t or t in ("db", "containerdb"):
        return "database"
    if "queue" in t:
        return "queue"
    if "component" in t or "container" in t:
        kind = "component" if "component" in t else "container"
        if "cylinder" in shape or "database" in shape:
            # The library draws queues as a cylinder lying on its side.
            return "queue" if style.get("direction") in ("south", "north") else "database"
        return refine_container_kind(kind, technology)
    if "system" in t:
        return "software_system"
    return None


def _label(cell: _Cell) -> str:
    raw = cell.attrs.get("label", cell.attrs.get("value", ""))
    # Placeholders such as %c4Name% refer to the object's own attributes.
    raw = re.sub(r"%(\w+)%", lambda m: cell.attrs.get(m.group(1), ""), raw)
    return html_to_text(raw)


def _translations(attrs: dict[str, str]) -> dict[str, str]:
    """A shape's texts in other languages, in attributes beside c4Name and c4Description:
    `c4Name_ru`, `c4Description_ru` (or `name_ru`, `description_ru`)."""
    return translations(
        {
            re.sub(r"^c4(?=[A-Z])", "", key): html_to_text(value)
            for key, value in attrs.items()
            if key not in ("c4Name", "c4Description")
        }
    )


def _described_box(cell: _Cell) -> tuple[str, str, str, str] | None:
    """A plain cell labelled "Name / [Type: technology] / description" (no C4 attributes)."""
    lines = _label(cell).splitlines()
    for i, line in enumerate(lines[1:], start=1):
        m = _BOX_LABEL.match(line)
        if m:
            name, description = " ".join(lines[:i]), " ".join(lines[i + 1 :])
            return name, m.group("type"), m.group("tech") or "", description
    return None


class _PageLoader:
    def __init__(self, builder: ModelBuilder, page: str, line_of_page: int, compressed: bool):
        self.b = builder
        self.page = page
        self.line_of_page = line_of_page
        self.compressed = compressed

    def where(self, cell: _Cell) -> int:
        return self.line_of_page if self.compressed else cell.line

    def warn(self, cell: _Cell, what: str) -> None:
        page = f"page {self.page!r}" + (f", line {cell.line}" if self.compressed else "")
        self.b.warn(self.where(cell), f"{page}: {what}")

    def load(self, cells: dict[str, _Cell], by_name: dict[tuple[str, str], str]) -> None:
        element_of: dict[str, str] = {}  # cell id -> element id
        on_this_page: dict[tuple[str, str], list[_Cell]] = {}
        plain_boundaries = self.plain_boundaries(cells)
        for cell in cells.values():
            if not cell.vertex or (cell.parent in cells and cells[cell.parent].edge):
                continue
            element: Element | None
            if cell.id in plain_boundaries:
                element = Element(id="", name=_label(cell).split("\n")[0], kind="boundary")
            else:
                element = self.element(cell)
            if element is None:
                continue
            key = (element.kind, element.name)
            on_this_page.setdefault(key, []).append(cell)
            if key in by_name and len(on_this_page[key]) == 1:
                element_of[cell.id] = by_name[key]  # the same shape drawn on an earlier page
                continue
            self.b.add_element(element, self.where(cell))
            element_of[cell.id] = element.id
            by_name.setdefault(key, element.id)
        for (kind, name), same in on_this_page.items():
            if len(same) > 1:
                self.warn(
                    same[1],
                    f"{len(same)} {kind} shapes named {name!r} on this page "
                    "(cells "
                    + ", ".join(repr(c.id) for c in same)
                    + "); kept as separate elements",
                )
        self.assign_parents(cells, element_of)
        for cell in cells.values():
            if cell.edge:
                self.edge(cell, cells, element_of)

    def plain_boundaries(self, cells: dict[str, _Cell]) -> set[str]:
        """Labelled container or group cells without C4 attributes that hold C4 shapes or end
        an edge: a system (or any boundary) drawn with draw.io's own container shapes."""
        found = set()
        ends = {c.attrs.get(k) for c in cells.values() if c.edge for k in ("source", "target")}
        for cell in cells.values():
            style = cell.style
            grouping = (
                style.get("container") == "1"
                or style.get("") in ("group", "swimlane")
                or "swimlane" in style
            )
            if not cell.vertex or "c4Type" in cell.attrs or not grouping or not _label(cell):
                continue
            holds_c4 = any("c4Type" in cells[c].attrs for c in cell.children)
            if holds_c4 or cell.id in ends:
                found.add(cell.id)
        return found

    def element(self, cell: _Cell) -> Element | None:
        a = cell.attrs
        c4type = a.get("c4Type", "")
        name = html_to_text(a.get("c4Name", ""))
        technology = html_to_text(a.get("c4Technology", ""))
        description = html_to_text(a.get("c4Description", ""))
        if c4type and not name and c4type.lower() != "relationship":
            # No c4Name (the library's database shape): the label holds the visible name.
            box = _described_box(cell)
            if box is not None:
                name, c4type, label_technology, label_description = box
                technology = technology or label_technology
                description = description or label_description
            else:
                name = _label(cell).split("\n")[0]
        if not c4type:
            box = _described_box(cell)
            if box is None:
                if _label(cell):
                    self.warn(cell, f"shape {_label(cell)[:40]!r} has no C4 type; ignored")
                return None
            name, c4type, technology, description = box
        if c4type.lower() == "relationship":
            return None
        kind = _kind(c4type, cell.style, technology)
        if kind is None:
            self.warn(cell, f"unknown c4Type {c4type!r} of {name!r}; ignored")
            return None
        if not name:
            self.warn(cell, f"{kind} without a name; ignored")
            return None
        fill = cell.style.get("fillColor", "").lower()
        external = "ext" in c4type.lower() or fill in EXTERNAL_FILLS
        tags = [a["c4Application"]] if a.get("c4Application") else []
        return Element(
            id="",
            name=name,
            kind=kind,
            technology=technology,
            description=description,
            external=external,
            tags=tags,
            translated=_translations(a),
        )

    def assign_parents(self, cells: dict[str, _Cell], element_of: dict[str, str]) -> None:
        elements = self.b.model.elements

        def absolute(cid: str) -> tuple[float, float, float, float] | None:
            cell = cells[cid]
            if cell.geometry is None:
                return None
            x, y, w, h = cell.geometry
            parent = cells.get(cell.parent or "")
            if parent is not None and parent.vertex:
                origin = absolute(parent.id)
                if origin:
                    x, y = x + origin[0], y + origin[1]
            return x, y, w, h

        containers = [
            cid
            for cid, eid in element_of.items()
            if elements[eid].kind in ("boundary", "software_system")
        ]
        for cid, eid in element_of.items():
            element = elements[eid]
            if element.parent is not None:
                continue
            ancestor = cells[cid].parent
            while ancestor in cells:  # containment by parent cell
                if ancestor in element_of and ancestor in containers:
                    element.parent = element_of[ancestor]
                    break
                ancestor = cells[ancestor].parent
            if element.parent is not None:
                continue
            box = absolute(cid)
            if box is None:
                continue
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            best = None
            for other in containers:  # containment by geometry: the smallest boundary around
                obox = absolute(other)
                if other == cid or obox is None or elements[element_of[other]].kind != "boundary":
                    continue
                if obox[2] * obox[3] <= box[2] * box[3]:
                    continue
                inside = obox[0] <= cx <= obox[0] + obox[2] and obox[1] <= cy <= obox[1] + obox[3]
                if inside and (best is None or obox[2] * obox[3] < best[0]):
                    best = (obox[2] * obox[3], element_of[other])
            if best:
                element.parent = best[1]

    def edge(self, cell: _Cell, cells: dict[str, _Cell], element_of: dict[str, str]) -> None:
        a = cell.attrs
        labels = [html_to_text(a.get("c4Description", "")) or _label(cell)]
        labels += [_label(cells[c]) for c in cell.children]
        description = " ".join(t for t in labels if t)
        source, target = (element_of.get(a.get(k, ""), "") for k in ("source", "target"))
        for end, key in ((source, "source"), (target, "target")):
            if not end:
                ref = a.get(key)
                what = f"points at {ref!r}, which is not a C4 element" if ref else f"has no {key}"
                self.warn(cell, f"edge {cell.id!r} ({description or 'no label'}) {what}; skipped")
                return
        end_arrow = cell.style.get("endArrow", "classic") != "none"
        start_arrow = cell.style.get("startArrow", "none") != "none"
        if start_arrow and not end_arrow:
            source, target = target, source
        elif not (start_arrow or end_arrow):
            self.warn(cell, f"edge {cell.id!r} has no arrowhead; taken from source to target")
        rel = Relationship(
            source=source,
            target=target,
            description=description,
            technology=html_to_text(a.get("c4Technology", "")),
            bidirectional=start_arrow and end_arrow,
            translated=_translations(a),
        )
        if any(
            (r.source, r.target, r.description) == (rel.source, rel.target, rel.description)
            for _, r in self.b._pending
        ):
            return  # the same relationship drawn on several pages
        self.b.add_relationship(rel, self.where(cell))


def _clipboard_xml(data: bytes | str) -> bytes | str:
    """draw.io's clipboard holds the XML URL-encoded ("%3CmxGraphModel%3E..."): decoded here."""
    head = data[:3] if isinstance(data, str) else data[:3].decode("latin-1")
    if head.upper() != "%3C":
        return data
    text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
    return unquote(text)


def load_drawio(data: bytes | str, source: str = "<drawio>") -> Model:
    builder = ModelBuilder(source)
    data = _clipboard_xml(data.lstrip())
    try:
        root, lines = parse_xml(data)
    except (expat.ExpatError, UnsafeXml) as exc:
        line = getattr(exc, "lineno", None)
        builder.warn(line, f"not a readable draw.io file: {exc}")
        return builder.finish()
    if root.tag == "mxGraphModel":
        pages = [("Page-1", 1, root, lines, False)]
    elif root.tag == "mxfile":
        pages = []
        for n, diagram in enumerate(root.findall("diagram"), start=1):
            name, line = diagram.get("name") or f"page {n}", lines.get(diagram, 0)
            graph = diagram.find("mxGraphModel")
            if graph is not None:
                pages.append((name, line, graph, lines, False))
                continue
            try:
                page_root, page_lines = parse_xml(decompress_page(diagram.text or ""))
            except (
                ValueError,
                binascii.Error,
                zlib.error,
                UnicodeDecodeError,
                expat.ExpatError,
            ) as exc:
                builder.warn(line, f"page {name!r}: cannot decompress: {exc}")
                continue
            pages.append((name, line, page_root, page_lines, True))
        if not pages:
            builder.warn(lines.get(root), "no diagram pages")
    else:
        builder.warn(lines.get(root), f"root element <{root.tag}> is not a draw.io file")
        return builder.finish()
    by_name: dict[tuple[str, str], str] = {}
    for name, line, graph, page_lines, compressed in pages:
        loader = _PageLoader(builder, name, line, compressed)
        loader.load(_cells(graph, page_lines), by_name)
    return builder.finish()


def load_drawio_file(path: Path) -> Model:
    return load_drawio(path.read_bytes(), str(path))
