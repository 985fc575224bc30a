"""Draw a C4 model, with an optional overlay, as SVG through graphviz.

The model is laid out once with `dot` (positions cached per model fingerprint, in memory and
optionally on disk); every drawing then places the elements at those fixed positions with
`neato -n2`, so an element sits at the same coordinates whatever overlay is drawn on it. The
canvas is the model's too: graphviz sizes its output to whatever the overlay's labels cover, so
the root <svg>'s size and viewBox and the top group's transform are rewritten to the model's
bounding box plus fixed margins, and overlay text is clipped to widths that fit those margins.
All model and trace text reaches DOT only inside HTML-like labels escaped with html.escape,
or through graphviz.escape + the graphviz package's quoting; node names are generated.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import textwrap
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import graphviz

from explorer.c4.model import Element, Model
from explorer.caching import LocalCache
from explorer.diagrams.overlay import Metric, Note, Overlay, Step, Stop
from explorer.diagrams.words import count, milliseconds, word
from explorer.traces.visible import visible, visible_line

FONT = "Helvetica"
FILL = {
    "person": "#08427B",
    "software_system": "#1168BD",
    "container": "#438DD5",
    "database": "#438DD5",
    "queue": "#438DD5",
    "component": "#85BBF0",
}
EXTERNAL_FILL = "#999999"
DIMMED_FILL = "#E9ECEF"
DIMMED_TEXT = "#495057"
STEP_COLOUR = "#1864AB"
WARNING_COLOUR = "#E8590C"
STOP_COLOUR = "#D6336C"
TYPICAL_COLOUR = "#B197FC"  # the typical path, drawn under the order's own calls
SEVERITY_COLOUR = {
    "info": "#495057",
    "state": "#2B8A3E",
    "warning": "#E8590C",
    "sla": "#C2255C",
    "anomaly": "#7048E8",
    "error": "#C92A2A",
    "violation": "#C92A2A",
    "stop": STOP_COLOUR,
}
# Overlay text has places of its own, reserved in the layout so that dot keeps everything
# else clear of them: a band of NOTE_LINES lines at the bottom of every container (its notes:
# where it stopped, states, errors, SLA, anomalies) and SUMMARY_LINES lines under every
# relationship's label (the order's calls on it, aggregated). Nothing is ever placed beside.
LINE = 12  # points per 9-point line
NOTE_LINES = 3
NOTE_WIDTH = 170
SUMMARY_LINES = 4
SUMMARY_WIDTH = 160
DESCRIPTION_CHARS = 30  # the model's descriptions are wrapped to lines of this many characters
RELATIONSHIP_CHARS = 26
SIDE_MARGIN = 24
END_MARGIN = 16
TITLE_BAND = 32
TYPE_NAME = {
    "person": "Person",
    "software_system": "Software System",
    "container": "Container",
    "database": "Container",
    "queue": "Container",
    "component": "Component",
}
NOTE_ORDER = ("stop", "violation", "error", "sla", "anomaly", "warning", "state", "info")
TOOLTIP_LINES = 40
SVG_CACHE_SIZE = 64
# Cached layouts and drawings are keyed by this file's content too: a changed renderer never
# serves what an older one drew.
RENDERER = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


def _e(text: object) -> str:
    """Text for an HTML-like label: escaped, control and bidi characters as symbols."""
    return html.escape(visible_line(str(text)), quote=True)


def _text_width(text: str, size: float) -> float:
    """A generous estimate of the width of `text` in points, bold included (graphviz renders
    Helvetica through fontconfig, DejaVu Sans on Debian, whose bold is the widest)."""

    def em(c: str) -> float:
        if 0x400 <= ord(c) < 0x530:  # Cyrillic
            return 0.95 if c.isupper() or c in "жшщюмыЖШЩЮМЫ" else 0.74
        if ord(c) > 127:  # other scripts may come from a fallback font, or as hex boxes
            return 2.0 if unicodedata.east_asian_width(c) in "WF" else 1.2
        if c in " ijlI.,:;!|'()[]/":
            return 0.4
        if c in "frt-":
            return 0.5
        if c in "MWmw@%":
            return 1.2
        return 0.78 if c.isupper() or c.isdigit() else 0.7

    return size * sum(em(c) for c in text)


def _clip(text: str, width: float, size: float = 9) -> str:
    """`text` cut (with an ellipsis) to at most `width` points."""
    if _text_width(text, size) <= width:
        return text
    text = text[: int(width / (0.3 * size))]  # no more characters than could ever fit
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, width: float, size: float = 9, max_lines: int = 2) -> list[str]:
    """`text` in at most `max_lines` lines of at most `width` points, broken between words;
    what does not fit is cut with an ellipsis."""
    words, lines = text.split(), []
    while words and len(lines) < max_lines:
        line = words.pop(0)
        while words and _text_width(f"{line} {words[0]}", size) <= width:
            line += " " + words.pop(0)
        lines.append(line)
    if words:
        lines[-1] += " " + words[0]  # too wide by construction: _clip marks the cut
    return [_clip(line, width, size) for line in lines]


def _lines(text: str, width: int) -> str:
    return "<BR/>".join(_e(line) for line in textwrap.wrap(text, width)[:4])


def dom_id(element_id: str) -> str:
    return "el-" + re.sub(r"[^A-Za-z0-9_-]", "_", element_id)


def _element_text_colour(e: Element) -> str:
    return "#FFFFFF" if e.kind != "component" or e.external else "#000000"


def _has_notes_band(e: Element) -> bool:
    """Containers run code, so they are where notes go; people, stores and queues have none."""
    return e.kind == "container"


def _text_rows(lines: list[tuple[str, str, bool]]) -> str:
    """Rows of a nested table: (text, colour, bold), left-aligned, already clipped."""
    rows = []
    for text, colour, bold in lines:
        body = f"<B>{_e(text)}</B>" if bold else _e(text)
        rows.append(
            f'<TR><TD ALIGN="LEFT" HEIGHT="{LINE - 1}"><FONT POINT-SIZE="9" '
            f'COLOR="{colour}">{body}</FONT></TD></TR>'
        )
    return "".join(rows)


def _reserved(
    width: int, lines: int, content: list[tuple[str, str, bool]], background: str | None = None
) -> str:
    """A cell of the reserved size (so the layout is the same whatever it holds) with the
    lines at its top, clipped to fit it; a minimum, not FIXEDSIZE: text that a font draws
    wider than estimated then widens the cell a little instead of failing graphviz's
    assertions. Lines, not a nested table: graphviz stretches a nested table to its cell."""
    text = "".join(
        f'<FONT POINT-SIZE="9" COLOR="{colour}">'
        f'{f"<B>{_e(line)}</B>" if bold else _e(line)}</FONT><BR ALIGN="LEFT"/>'
        for line, colour, bold in content
    )
    bg = f' BGCOLOR="{background}" STYLE="rounded"' if background and content else ""
    return (
        f'<TD WIDTH="{width}" HEIGHT="{lines * LINE + 4}" ALIGN="LEFT"'
        f' BALIGN="LEFT" CELLPADDING="2"{bg}>{text}</TD>'
    )


def _node_label(
    e: Element, lang: str, notes: list[tuple[str, str, bool]] = (), dimmed: bool = False
) -> str:
    colour = DIMMED_TEXT if dimmed else _element_text_colour(e)
    kind = (word("External", lang) + " " if e.external else "") + word(TYPE_NAME[e.kind], lang)
    if e.external and lang == "ru":
        kind = kind.lower().capitalize()
    type_line = f"[{kind}: {e.technology}]" if e.technology and e.kind != "person" else f"[{kind}]"
    rows = []
    if e.kind == "person":
        rows.append(f'<TR><TD><FONT POINT-SIZE="22" COLOR="{colour}">&#9679;</FONT></TD></TR>')
    rows.append(
        f'<TR><TD><FONT POINT-SIZE="13" COLOR="{colour}"><B>{_e(e.name)}</B></FONT></TD></TR>'
    )
    rows.append(f'<TR><TD><FONT POINT-SIZE="9" COLOR="{colour}">{_e(type_line)}</FONT></TD></TR>')
    if e.description:
        rows.append(
            f'<TR><TD><FONT POINT-SIZE="9" COLOR="{colour}">'
            f"{_lines(e.description, DESCRIPTION_CHARS)}</FONT></TD></TR>"
        )
    if _has_notes_band(e):
        rows.append(f"<TR>{_reserved(NOTE_WIDTH, NOTE_LINES, list(notes), '#FFFFFF')}</TR>")
    return (
        f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        f"{''.join(rows)}</TABLE>>"
    )


def _boundary_label(e: Element, lang: str) -> str:
    kind = word("Software System" if e.kind == "software_system" else "Boundary", lang)
    return (
        f'<<FONT POINT-SIZE="12"><B>{_e(e.name)}</B></FONT><BR ALIGN="LEFT"/>'
        f'<FONT POINT-SIZE="9">[{_e(kind)}]</FONT><BR ALIGN="LEFT"/>>'
    )


def _relationship_label(
    description: str, technology: str, summary: list[tuple[str, str, bool]] = ()
) -> str:
    """The model's words for the relationship, and below them the order's calls on it."""
    rows = []
    if description:
        rows.append(f"<TR><TD>{_lines(description, RELATIONSHIP_CHARS)}</TD></TR>")
    if technology:
        rows.append(f"<TR><TD>[{_e(technology)}]</TD></TR>")
    return (
        f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        f'<TR><TD><FONT POINT-SIZE="9" COLOR="#555555"><TABLE BORDER="0" CELLSPACING="0" '
        f'CELLPADDING="0">{"".join(rows) or "<TR><TD></TD></TR>"}</TABLE></FONT></TD></TR>'
        f"<TR>{_reserved(SUMMARY_WIDTH, SUMMARY_LINES, list(summary))}</TR></TABLE>>"
    )


def _legend_label(lang: str) -> str:
    def row(fill: str, text: str, font: str = "#FFFFFF", prefix: str = "") -> str:
        return (
            f'<TR><TD BGCOLOR="{fill}" ALIGN="LEFT"><FONT COLOR="{font}" POINT-SIZE="9">'
            f"{prefix}{_e(word(text, lang))}</FONT></TD></TR>"
        )

    return (
        '<<TABLE BORDER="1" COLOR="#AAAAAA" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3">'
        f'<TR><TD><FONT POINT-SIZE="10"><B>{_e(word("Legend", lang))}</B></FONT></TD></TR>'
        + row(FILL["person"], "person")
        + row(FILL["software_system"], "software system")
        + row(FILL["container"], "container (database: cylinder, queue: pipe)")
        + row(FILL["component"], "component", "#000000")
        + row(EXTERNAL_FILL, "external element")
        + row("#FFFFFF", "relationship in the model", "#555555", "&#8594; ")
        + row("#FFFFFF", "calls of this order: count, total, slowest", STEP_COLOUR, "&#8594; ")
        + row("#FFFFFF", "undocumented call (not in the model)", WARNING_COLOUR, "- - ")
        + row("#FFFFFF", "where the order is now", STOP_COLOUR, "&#9632; ")
        + row("#FFFFFF", "state change", SEVERITY_COLOUR["state"])
        + row("#FFFFFF", "error", SEVERITY_COLOUR["error"])
        + row("#FFFFFF", "SLA breach", SEVERITY_COLOUR["sla"])
        + row("#FFFFFF", "anomaly", SEVERITY_COLOUR["anomaly"])
        + "</TABLE>>"
    )


def _shape(e: Element) -> dict[str, str]:
    fill = EXTERNAL_FILL if e.external else FILL[e.kind]
    attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "color": "#2E3A46"}
    if e.kind == "database":
        attrs.update(shape="cylinder", style="filled")
    elif e.kind == "queue":  # a box in DOT, redrawn as a horizontal pipe in the SVG
        attrs.update(style="filled", margin="0.3,0.08")
    return attrs


@dataclass
class Layout:
    """Fixed positions, in points, of a model's drawing (graphviz coordinates, y up)."""

    nodes: dict[str, tuple[float, float, float, float]]  # id -> centre x, y, width, height (in)
    clusters: dict[str, tuple[float, float, float, float]]  # id -> x0, y0, x1, y1
    edges: dict[int, tuple[str, str | None]]  # relationship index -> pos, label pos
    legend: tuple[float, float, float, float]  # centre x, y, width, height (in)
    bb: tuple[float, float, float, float]


def _containers(model: Model) -> set[str]:
    return {e.parent for e in model.elements.values() if e.parent in model.elements}


def _layout_graph(model: Model, lang: str) -> tuple[graphviz.Digraph, dict[str, str]]:
    names = {eid: f"n{i}" for i, eid in enumerate(model.elements)}
    clusters = _containers(model)
    g = graphviz.Digraph("c4")
    g.attr(rankdir="TB", nodesep="0.3", ranksep="0.8", fontname=FONT, compound="true", pad="0.3")
    g.attr("node", fontname=FONT, margin="0.15,0.08")
    g.attr("edge", fontname=FONT, fontsize="9")

    def add(parent_graph: graphviz.Digraph, parent: str | None) -> None:
        for e in model.elements.values():
            if e.parent != parent and not (parent is None and e.parent not in model.elements):
                continue
            if e.id in clusters:
                with parent_graph.subgraph(name=f"cluster_{names[e.id]}") as sub:
                    sub.attr(
                        label=_boundary_label(e, lang),
                        labeljust="l",
                        labelloc="b",
                        style="dashed,rounded",
                        color="#444444",
                        fontname=FONT,
                    )
                    add(sub, e.id)
            elif e.kind != "boundary":
                parent_graph.node(names[e.id], label=_node_label(e, lang), **_shape(e))

    add(g, None)
    g.node("legend", label=_legend_label(lang), shape="plain")
    for index, r in enumerate(model.relationships):
        # A relationship of a system drawn as a boundary is drawn to the boundary's edge: from a
        # node inside it, clipped there by graphviz (ltail/lhead).
        ends, clipped = [], {}
        for end, attr in ((r.source, "ltail"), (r.target, "lhead")):
            if end in clusters:
                clipped[attr] = f"cluster_{names[end]}"
                end = _member(model, end, clusters)
            ends.append(end)
        source, target = ends
        if (
            source is None
            or target is None
            or _within(model, source, r.target)
            or _within(model, target, r.source)
        ):
            continue  # an empty boundary, or a relationship between a boundary and its own part
        g.edge(
            names[source],
            names[target],
            label=_relationship_label(r.description, r.technology),
            dir="both" if r.bidirectional else "forward",
            id=f"rel-{index}",
            **clipped,
        )
    return g, names


def _member(model: Model, cluster: str, clusters: set[str]) -> str | None:
    """A drawn node inside a boundary (depth first), to anchor its relationships."""
    for e in model.elements.values():
        if e.parent == cluster:
            if e.id not in clusters and e.kind != "boundary":
                return e.id
            if e.id in clusters:
                found = _member(model, e.id, clusters)
                if found is not None:
                    return found
    return None


def _within(model: Model, element_id: str, ancestor: str) -> bool:
    """Whether an element lies inside `ancestor` (or is it)."""
    seen = set()
    current: str | None = element_id
    while current is not None and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        parent = model.elements.get(current)
        current = parent.parent if parent is not None else None
    return False


_layouts: LocalCache[Layout] = LocalCache("diagram layouts", 16)  # models, not drawings


def layout(model: Model, cache_dir: Path | None = None, lang: str = "en") -> Layout:
    """The model's fixed layout in a language (its words have their own widths): computed
    once per model fingerprint and language, then reused."""
    key = hashlib.sha256(f"{RENDERER}|{model.fingerprint()}|{lang}".encode()).hexdigest()
    cached = _layouts.get(key)
    if cached is not None:
        return cached
    path = cache_dir / f"layout-{key}.json" if cache_dir else None
    if path and path.exists():
        data = json.loads(path.read_text())
        result = Layout(
            nodes={k: tuple(v) for k, v in data["nodes"].items()},
            clusters={k: tuple(v) for k, v in data["clusters"].items()},
            edges={int(k): tuple(v) for k, v in data["edges"].items()},
            legend=tuple(data["legend"]),
            bb=tuple(data["bb"]),
        )
    else:
        result = _compute_layout(model, lang)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(result)))
    return _layouts.put(key, result)


def _compute_layout(model: Model, lang: str) -> Layout:
    graph, names = _layout_graph(model, lang)
    data = json.loads(graph.pipe(format="json", engine="dot", quiet=True))
    by_name = {o["name"]: o for o in data.get("objects", [])}
    ids = {v: k for k, v in names.items()}
    nodes, clusters, legend = {}, {}, (0.0, 0.0, 0.0, 0.0)
    for name, obj in by_name.items():
        if name.startswith("cluster_"):
            clusters[ids[name[len("cluster_") :]]] = tuple(float(v) for v in obj["bb"].split(","))
        elif "pos" in obj:
            x, y = (float(v) for v in obj["pos"].split(","))
            if name == "legend":
                legend = (x, y, float(obj["width"]), float(obj["height"]))
            else:
                nodes[ids[name]] = (x, y, float(obj["width"]), float(obj["height"]))
    edges = {
        int(e["id"].removeprefix("rel-")): (e["pos"], e.get("lp")) for e in data.get("edges", [])
    }
    bb = tuple(float(v) for v in data["bb"].split(","))
    return Layout(nodes=nodes, clusters=clusters, edges=edges, legend=legend, bb=bb)


class _Links:
    """Stands in for link targets while in DOT: graphviz 2.43 writes URLs into the SVG without
    escaping them, so dot only ever sees placeholders, replaced in the parsed output (and
    escaped when it is written out again)."""

    PLACEHOLDER = re.compile(r"c4link-(\d+)")

    def __init__(self):
        self.urls: list[str] = []

    def ref(self, url: str) -> str:
        self.urls.append(url)
        return f"c4link-{len(self.urls) - 1}"

    def resolve(self, root: ET.Element) -> None:
        for el in root.iter():
            for key, value in el.attrib.items():
                if m := self.PLACEHOLDER.fullmatch(value):
                    el.set(key, self.urls[int(m.group(1))])


def canvas(lay: Layout) -> tuple[float, float, float, float]:
    """The drawing area of a model, in graphviz coordinates: its layout's bounding box with
    room for overlay labels around it and a title band on top; the same whatever is drawn."""
    x0, y0, x1, y1 = lay.bb
    return (x0 - SIDE_MARGIN, y0 - END_MARGIN, x1 + SIDE_MARGIN, y1 + END_MARGIN + TITLE_BAND)


def _fix_canvas(root: ET.Element, lay: Layout) -> None:
    """Give graphviz's SVG the model's canvas instead of the one it fitted to this overlay."""
    x0, y0, x1, y1 = canvas(lay)
    width, height = x1 - x0, y1 - y0
    root.set("width", f"{width:.0f}pt")
    root.set("height", f"{height:.0f}pt")
    root.set("viewBox", f"0.00 0.00 {width:.2f} {height:.2f}")
    graph = root.find(f"{{{SVG_NS}}}g")
    # graph coordinates have y up; graphviz draws them at (x, -y) inside this group
    graph.set("transform", f"scale(1 1) rotate(0) translate({-x0:.2f} {y1:.2f})")
    background = graph.find(f"{{{SVG_NS}}}polygon")
    background.set(
        "points",
        " ".join(
            f"{x:.2f},{-y:.2f}" for x, y in ((x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0))
        ),
    )


def _draw_pipes(root: ET.Element, model: Model, lay: Layout) -> None:
    """Redraw the boxes of queues as C4's horizontal pipe: a cylinder lying on its side."""
    groups = {g.get("id"): g for g in root.iter(f"{{{SVG_NS}}}g")}
    for eid, (x, y, w, h) in lay.nodes.items():
        group = groups.get(dom_id(eid))
        if model.elements[eid].kind != "queue" or group is None:
            continue
        box = next(el for el in group.iter() if el.tag == f"{{{SVG_NS}}}polygon")
        left, right, top, bottom = x - w * 36, x + w * 36, -(y + h * 36), -(y - h * 36)
        rx, ry = min(12.0, w * 9), h * 36
        box.tag = f"{{{SVG_NS}}}path"
        del box.attrib["points"]
        box.set(
            "d",
            f"M{left + rx:.2f},{top:.2f} H{right - rx:.2f} "
            f"A{rx:.2f},{ry:.2f} 0 0 1 {right - rx:.2f},{bottom:.2f} "
            f"H{left + rx:.2f} A{rx:.2f},{ry:.2f} 0 0 1 {left + rx:.2f},{top:.2f} Z "
            f"M{right - rx:.2f},{top:.2f} "  # the open end: a whole ellipse, same turn
            f"A{rx:.2f},{ry:.2f} 0 0 1 {right - rx:.2f},{bottom:.2f} "
            f"A{rx:.2f},{ry:.2f} 0 0 1 {right - rx:.2f},{top:.2f} Z",
        )


RATE_UNITS = {"min": 60, "h": 3600}  # a rate people read: per minute or per hour


def _metric_text(metric: Metric, unit: str = "min") -> str:
    per = RATE_UNITS.get(unit, 60) * metric.rate
    rate = f"{per:.1f}" if per < 10 else f"{per:.0f}"
    return (
        f"{rate}/{unit if unit in RATE_UNITS else 'min'} · "
        f"{metric.error_rate * 100:.1f}% err · p95 {metric.p95_ms:.0f} ms"
    )


def _metric_node(g, name: str, metric: Metric, unit: str, x: float, y: float) -> None:
    """A metric as a label right under its element's box, for elements without a notes band
    (an xlabel floats wherever graphviz finds room, away from the box it belongs to)."""
    text = _e(_clip(_metric_text(metric, unit), NOTE_WIDTH))
    g.node(
        name,
        label=f'<<TABLE BORDER="0" BGCOLOR="#FFFFFFE6" CELLBORDER="0" CELLSPACING="0" '
        f'CELLPADDING="1"><TR><TD><FONT POINT-SIZE="9" COLOR="#212529"><B>{text}'
        f"</B></FONT></TD></TR></TABLE>>",
        shape="plain",
        fixedsize="false",
        pos=f"{x:.2f},{y:.2f}!",
        **{"class": "c4-metric"},
    )


def _state_name(note: Note) -> str:
    return note.text.rsplit("→", 1)[-1].strip()


def _note_lines(
    notes: list[Note],
    metric: Metric | None,
    lang: str,
    unit: str = "min",
    width: float = NOTE_WIDTH - 4,
) -> list[tuple[str, str, bool]]:
    """An element's notes in its band: one line per kind (where it stopped first, then
    problems, then the states it set), each kind's first note with how many more; "+N more"
    when the band is full. The full list is in the element's tooltip."""
    lines: list[tuple[str, str, bool]] = []
    if metric is not None:
        lines.append((_clip(_metric_text(metric, unit), width), "#212529", True))
    groups: dict[str, list[Note]] = {}
    for note in notes:
        groups.setdefault(note.severity if note.severity in NOTE_ORDER else "info", []).append(note)
    for severity in NOTE_ORDER:
        group = groups.get(severity, [])
        if not group:
            continue
        colour = SEVERITY_COLOUR.get(severity, SEVERITY_COLOUR["info"])
        if severity == "stop":
            lines.extend(
                (line, colour, True)
                for n in group
                for line in _wrap(n.text, width, max_lines=NOTE_LINES)
            )
        elif severity == "state":
            names = [_state_name(n) for n in group]
            candidates = [
                "→ " + ", ".join(names),
                f"→ {names[0]} … {names[-1]} ({count(len(names), 'state', lang)})",
                f"→ {names[0]} … {names[-1]}",
                f"{count(len(names), 'state', lang)} → {names[-1]}",
            ]
            text = next((t for t in candidates if _text_width(t, 9) <= width), candidates[-1])
            lines.append((_clip(text, width), colour, False))
        else:
            more = f" (+{len(group) - 1})" if len(group) > 1 else ""
            lines.append((_clip(group[0].text, width - _text_width(more, 9)) + more, colour, False))
    if len(lines) > NOTE_LINES:
        hidden = len(lines) - NOTE_LINES + 1
        lines = lines[: NOTE_LINES - 1] + [
            (word("+%d more", lang) % hidden, SEVERITY_COLOUR["info"], False)
        ]
    return lines


def _operations(steps: list[Step], reverse: set[int]) -> str:
    """'POST /orders ×3, PUT /orders/{id} ×2' in the order first seen."""
    seen: dict[str, int] = {}
    for step in steps:
        name = ("← " if step.number in reverse else "") + step.label
        seen[name] = seen.get(name, 0) + 1
    return ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in seen.items())


def _summary_lines(
    steps: list[Step], reverse: set[int], lang: str, width: float = SUMMARY_WIDTH - 2
) -> list[tuple[str, str, bool]]:
    """The order's calls on one relationship in two lines: which operations how often;
    how many calls, total and slowest time, errors."""
    if not steps:
        return []
    undocumented = any(s.undocumented for s in steps)
    if not any(s.timed for s in steps):
        return [
            (line, STEP_COLOUR, True)
            for line in _wrap(
                ", ".join(dict.fromkeys(s.label for s in steps)), width, max_lines=SUMMARY_LINES
            )
        ]
    errors = sum(s.outcome.startswith("error") for s in steps)
    durations = [s.duration_ns for s in steps]
    parts = [count(len(steps), "call", lang)]
    if len(steps) > 1:
        parts += [
            f"{word('total', lang)} {milliseconds(sum(durations), lang)}",
            f"{word('max', lang)} {milliseconds(max(durations), lang)}",
        ]
    else:
        parts.append(milliseconds(durations[0], lang))
    if errors:
        parts.append(count(errors, "error", lang))
    colour = WARNING_COLOUR if undocumented else STEP_COLOUR
    stats = (
        [" · ".join(parts[:1] + parts[3:]), " · ".join(parts[1:3])]
        if len(steps) > 1
        else [" · ".join(parts)]
    )
    operations = _wrap(_operations(steps, reverse), width, max_lines=SUMMARY_LINES - len(stats))
    return [(line, colour, True) for line in operations] + [
        (_clip(line, width), SEVERITY_COLOUR["error"] if errors else colour, False)
        for line in stats
    ]


def _step_list(steps: list[Step], reverse: set[int], lang: str) -> str:
    """The numbered steps of a relationship, for its tooltip."""
    lines = [
        f"{s.number}. {'← ' if s.number in reverse else ''}{s.label} "
        f"{milliseconds(s.duration_ns, lang)} {s.outcome}"
        for s in steps[:TOOLTIP_LINES]
    ]
    if len(steps) > TOOLTIP_LINES:
        lines.append(word("+%d more", lang) % (len(steps) - TOOLTIP_LINES))
    return "\n".join(lines)


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in graph coordinates (y up)


def _overlaps(a: Box, b: Box, pad: float = 4) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _occupied(model: Model, lay: Layout) -> list[Box]:
    """Where the layout has put something: elements, the legend, relationship labels (as
    reserved, generously estimated) and the boundaries' titles."""
    boxes = [
        (x - w * 36, y - h * 36, x + w * 36, y + h * 36)
        for x, y, w, h in (*lay.nodes.values(), lay.legend)
    ]
    for index, (_, lp) in lay.edges.items():
        if not lp:
            continue
        r = model.relationships[index]
        x, y = (float(v) for v in lp.split(","))
        texts = textwrap.wrap(r.description, RELATIONSHIP_CHARS)[:4] + (
            [f"[{r.technology}]"] if r.technology else []
        )
        w = max([SUMMARY_WIDTH] + [_text_width(t, 9) for t in texts]) + 4
        h = (len(texts) + SUMMARY_LINES) * LINE + 8
        boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
    for x0, y0, _, _ in lay.clusters.values():
        boxes.append((x0, y0, x0 + 260, y0 + 36))
    return boxes


def _free_spot(
    a: tuple[float, float],
    b: tuple[float, float],
    size: tuple[float, float],
    taken: list[Box],
    area: Box,
) -> tuple[float, float] | None:
    """The centre of a free box of `size` nearest the middle of the line from a to b."""
    (ax, ay), (bx, by), (w, h) = a, b, size
    length = max(((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5, 1.0)
    nx, ny = -(by - ay) / length, (bx - ax) / length
    for offset in range(0, 260, 8):  # nearest the line first, then nearest its middle
        for along in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8):
            for sign in (1, -1):
                cx = ax + (bx - ax) * along + sign * offset * nx
                cy = ay + (by - ay) * along + sign * offset * ny
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                if (
                    area[0] <= box[0]
                    and box[2] <= area[2]
                    and area[1] <= box[1]
                    and box[3] <= area[3]
                    and not any(_overlaps(box, t) for t in taken)
                ):
                    return cx, cy
    return None


def _place_label(
    g,
    dom: str,
    lines: list[tuple[str, str, bool]],
    a: tuple,
    b: tuple,
    taken: list[Box],
    area: Box,
    classes: str,
) -> None:
    """A label of `lines` in the free spot nearest the line between elements a and b (layout
    node boxes), marked taken; nothing when there is no room."""
    size = (max(_text_width(t, 9) for t, _, _ in lines) + 8, len(lines) * LINE + 8)
    spot = _free_spot((a[0], a[1]), (b[0], b[1]), size, taken, area)
    if spot is None:
        return
    x, y = spot
    taken.append((x - size[0] / 2, y - size[1] / 2, x + size[0] / 2, y + size[1] / 2))
    g.node(
        dom,
        shape="plain",
        fixedsize="false",
        pos=f"{x:.2f},{y:.2f}!",
        id=dom,
        label=f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2" '
        f'BGCOLOR="#FFFFFF">{_text_rows(lines)}</TABLE>>',
        **{"class": classes},
    )


@dataclass
class _Drawn:
    """What the SVG post-processing adds that DOT cannot carry: tooltips, step numbers for
    playback, the marks of where the order is now."""

    titles: dict[str, str]  # dom id -> tooltip text
    steps: dict[str, list[int]]  # dom id of a relationship -> its step numbers
    ends: dict[str, tuple[str, str]]  # dom id of a relationship -> dom ids of its ends
    classes: dict[str, list[str]]  # dom id -> extra classes


def _drawing(
    model: Model, overlay: Overlay, urls: dict[str, str], lay: Layout, links: _Links
) -> tuple[bytes, _Drawn]:
    lang = overlay.lang
    extra_out = _Drawn({}, {}, {}, {})
    g = graphviz.Digraph("c4")
    g.attr(fontname=FONT, outputorder="nodesfirst", splines="true")
    g.attr("node", fontname=FONT, fixedsize="true", margin="0.15,0.08")
    g.attr("edge", fontname=FONT, fontsize="9")
    if overlay.title:  # a node in the title band, not a graph label: that would move the canvas
        x0, _, x1, y1 = lay.bb
        title = _clip(overlay.title, x1 - x0, 14)
        g.node(
            "title",
            label=f'<<FONT POINT-SIZE="14"><B>{_e(title)}</B></FONT>>',
            shape="plain",
            fixedsize="false",
            pos=f"{(x0 + x1) / 2:.2f},{y1 + END_MARGIN + TITLE_BAND / 2:.2f}!",
            **{"class": "c4-title"},
        )
    stops_at = {s.element: s for s in overlay.stops if s.kind != "lost"}
    involved = {s.source for s in overlay.steps} | {s.target for s in overlay.steps}
    involved |= set(overlay.element_notes) | {overlay.highlight}
    involved |= {e for s in overlay.stops for e in (s.element, s.target) if e}
    names = {eid: f"n{i}" for i, eid in enumerate(model.elements)}
    for eid, (bx0, by0, bx1, by1) in lay.clusters.items():  # boundaries first: drawn beneath
        e = model.elements[eid]
        g.node(
            f"b{names[eid]}",
            label=_boundary_label(e, lang),
            shape="box",
            style="dashed,rounded",
            color="#444444",
            labelloc="b",
            labeljust="l",
            pos=f"{(bx0 + bx1) / 2:.2f},{(by0 + by1) / 2:.2f}!",
            width=f"{(bx1 - bx0) / 72:.4f}",
            height=f"{(by1 - by0) / 72:.4f}",
            id=dom_id(eid),
            **{"class": f"c4-element c4-{e.kind}"},
            tooltip=graphviz.escape(visible_line(e.name)),
            **({"URL": links.ref(urls[eid])} if eid in urls else {}),
        )
    for eid, (x, y, w, h) in lay.nodes.items():
        e = model.elements[eid]
        attrs = _shape(e)
        classes = ["c4-element", f"c4-{e.kind}"]
        if e.external:
            classes.append("c4-external")
        notes = list(overlay.element_notes.get(eid, []))
        if eid in stops_at:
            notes.insert(0, Note(stops_at[eid].text, "stop"))
            attrs.update(penwidth="4", color=STOP_COLOUR)
            classes += ["journey-stop", f"journey-{stops_at[eid].kind}"]
        if overlay.highlight == eid:
            attrs.update(penwidth="4", color="#F08C00")
            classes.append("c4-highlight")
        elif overlay.dimmed and eid not in involved:
            attrs.update(fillcolor=DIMMED_FILL, color="#ADB5BD")
            classes.append("c4-dimmed")
        metric = overlay.metrics.get(eid)
        band = _note_lines(notes, metric, lang, overlay.rate_unit) if _has_notes_band(e) else []
        if metric is not None and not _has_notes_band(e):
            _metric_node(g, f"m{names[eid]}", metric, overlay.rate_unit, x, y - h * 36 - 7)
        if notes or metric:  # the tooltip has it all (stores and queues have no band)
            extra_out.titles[dom_id(eid)] = "\n".join(
                [e.name]
                + ([_metric_text(metric, overlay.rate_unit)] if metric else [])
                + [n.text for n in notes[:TOOLTIP_LINES]]
            )
        if eid in urls:
            attrs["URL"] = links.ref(urls[eid])
            attrs["target"] = "_top"
        g.node(
            names[eid],
            label=_node_label(e, lang, band, "c4-dimmed" in classes),
            pos=f"{x:.2f},{y:.2f}!",
            width=f"{w:.4f}",
            height=f"{h:.4f}",
            id=dom_id(eid),
            tooltip=graphviz.escape(visible_line(e.name)),
            **{"class": " ".join(classes)},
            **attrs,
        )
    g.node(
        "legend",
        label=_legend_label(lang),
        shape="plain",
        fixedsize="false",
        pos=f"{lay.legend[0]:.2f},{lay.legend[1]:.2f}!",
    )

    drawn: dict[tuple[str, str], int] = {}  # (source, target) -> index of the relationship
    for index in lay.edges:
        r = model.relationships[index]
        drawn.setdefault((r.source, r.target), index)
    on_edge: dict[int, list[Step]] = {}
    reverse: set[int] = set()
    extra: dict[tuple[str, str], list[Step]] = {}
    for step in overlay.steps:
        if step.source not in lay.nodes or step.target not in lay.nodes:  # boundaries too
            continue
        index = drawn.get((step.source, step.target))
        if index is None and not step.undocumented:
            index = drawn.get((step.target, step.source))
            if index is not None:
                reverse.add(step.number)
        if index is None:
            extra.setdefault((step.source, step.target), []).append(step)
        else:
            on_edge.setdefault(index, []).append(step)
    lost: dict[int, Stop] = {}
    for stop in overlay.stops:
        if (
            stop.kind == "lost"
            and (index := drawn.get((stop.element, stop.target or ""))) is not None
        ):
            lost[index] = stop
    for index, (pos, lp) in lay.edges.items():
        r = model.relationships[index]
        steps = on_edge.get(index, [])
        metric = overlay.metrics.get((r.source, r.target))
        summary = _summary_lines(steps, reverse, lang)
        if metric is not None:
            summary.append(
                (_clip(_metric_text(metric, overlay.rate_unit), SUMMARY_WIDTH - 2), "#212529", True)
            )
        attrs = {
            "pos": pos,
            "dir": "both" if r.bidirectional else "forward",
            "color": "#707070",
            "id": f"rel-{index}",
        }
        classes = ["c4-relationship"]
        if (r.source, r.target) in overlay.typical or (
            r.bidirectional and (r.target, r.source) in overlay.typical
        ):
            classes.append("c4-typical")
        if lp:
            attrs["lp"] = lp
        if steps:
            attrs.update(color=STEP_COLOUR, penwidth="2.5")
            classes.append("c4-step")
            if link := next((s.url for s in steps if s.url), None):  # without script: the first
                attrs.update(URL=links.ref(link), target="_top")
        elif overlay.dimmed:
            attrs.update(color="#CED4DA")
        if index in lost:
            stop = lost[index]
            summary = [
                (line, STOP_COLOUR, True)
                for line in _wrap(stop.text, SUMMARY_WIDTH - 2, max_lines=3)
            ] + summary
            summary = summary[:SUMMARY_LINES]
            attrs.update(color=STOP_COLOUR, penwidth="3", style="dashed", arrowhead="tee")
            classes += ["journey-stop", "journey-lost"]
            extra_out.titles[f"rel-{index}"] = stop.text
        if steps:
            extra_out.titles[f"rel-{index}"] = "\n".join(
                filter(
                    None, [extra_out.titles.get(f"rel-{index}"), _step_list(steps, reverse, lang)]
                )
            )
            extra_out.steps[f"rel-{index}"] = [s.number for s in steps]
        extra_out.ends[f"rel-{index}"] = (dom_id(r.source), dom_id(r.target))
        ends = [
            end if end in lay.nodes else _member(model, end, _containers(model))
            for end in (r.source, r.target)
        ]
        g.edge(
            names[ends[0]],
            names[ends[1]],
            label=_relationship_label(r.description, r.technology, summary),
            **{"class": " ".join(classes)},
            **attrs,
        )
    taken = _occupied(model, lay)
    x0, y0, x1, y1 = canvas(lay)
    area = (x0, y0, x1, y1 - TITLE_BAND)
    for n, ((source, target), steps) in enumerate(extra.items()):
        undocumented = any(s.undocumented for s in steps)
        colour = WARNING_COLOUR if undocumented else STEP_COLOUR
        dom = f"step-{n}"
        link = next((s.url for s in steps if s.url), None)
        g.edge(
            names[source],
            names[target],
            style="dashed" if undocumented else "solid",
            color=colour,
            penwidth="2.5",
            id=dom,
            **({"URL": links.ref(link), "target": "_top"} if link else {}),
            **{"class": "c4-step" + (" c4-undocumented" if undocumented else "")},
        )
        extra_out.titles[dom] = _step_list(steps, reverse, lang)
        extra_out.steps[dom] = [s.number for s in steps]
        extra_out.ends[dom] = (dom_id(source), dom_id(target))
        # No room: the steps are in the tooltip and the side panel.
        _place_label(
            g,
            f"{dom}-label",
            _summary_lines(steps, reverse, lang),
            lay.nodes[source],
            lay.nodes[target],
            taken,
            area,
            "c4-call-label",
        )
    # Calls measured between elements with no relationship in the model: drawn dashed, as
    # undocumented steps are on journeys, with their metric.
    documented = set(drawn) | {(b, a) for a, b in drawn} | set(extra)
    for n, (pair, metric) in enumerate(
        sorted((k, m) for k, m in overlay.metrics.items() if isinstance(k, tuple))
    ):
        source, target = pair
        if pair in documented or source not in lay.nodes or target not in lay.nodes:
            continue
        g.edge(
            names[source],
            names[target],
            style="dashed",
            color=WARNING_COLOUR,
            penwidth="2",
            id=f"observed-{n}",
            **{"class": "c4-observed c4-undocumented"},
        )
        lines = [
            (word("undocumented call", lang), WARNING_COLOUR, False),
            (_clip(_metric_text(metric, overlay.rate_unit), NOTE_WIDTH), "#212529", True),
        ]
        # No room: the call is drawn, its figures are on the analytics tables.
        _place_label(
            g,
            f"o{n}",
            lines,
            lay.nodes[source],
            lay.nodes[target],
            taken,
            area,
            "c4-metric c4-undocumented",
        )
    return g.source.encode("utf-8"), extra_out


def _finish(root: ET.Element, drawn: _Drawn) -> None:
    """Tooltips, step numbers and ends, and marks the DOT attributes cannot carry."""
    for group in root.iter(f"{{{SVG_NS}}}g"):
        dom = group.get("id")
        if dom in drawn.titles:
            title = group.find(f"{{{SVG_NS}}}title")
            if title is not None:
                title.text = visible(drawn.titles[dom])  # lines kept, other controls pictured
            for a in group.iter(f"{{{SVG_NS}}}a"):
                if a.get(f"{{{XLINK_NS}}}title") is not None:
                    a.set(f"{{{XLINK_NS}}}title", title.text if title is not None else "")
        if dom in drawn.steps:
            group.set("data-steps", " ".join(map(str, drawn.steps[dom])))
        if dom in drawn.ends:
            group.set("data-source", drawn.ends[dom][0])
            group.set("data-target", drawn.ends[dom][1])
        if dom in drawn.classes:
            group.set("class", " ".join([group.get("class", "")] + drawn.classes[dom]).strip())
    for group in list(root.iter(f"{{{SVG_NS}}}g")):  # not while iterating: it inserts
        if (group.get("id") or "").startswith("rel-") and "c4-typical" in (
            group.get("class") or ""
        ).split():
            _typical_under(group)


def _typical_under(group: ET.Element) -> None:
    """A wide, faint copy of a typical relationship's line under it; hidden (the page shows it
    when its comparison is on), so the download stays the picture the page shows."""
    for parent in group.iter():
        for index, child in enumerate(parent):
            if child.tag == f"{{{SVG_NS}}}path":
                under = ET.Element(child.tag, dict(child.attrib))
                under.attrib.pop("stroke-dasharray", None)
                under.attrib.update(
                    {
                        "class": "c4-typical-under",
                        "stroke": TYPICAL_COLOUR,
                        "stroke-width": "9",
                        "stroke-opacity": "0.55",
                        "fill": "none",
                        "visibility": "hidden",
                    }
                )
                parent.insert(index, under)
                return


_svg_cache: LocalCache[str] = LocalCache("diagrams", SVG_CACHE_SIZE)


def render_svg(
    model: Model,
    overlay: Overlay | None = None,
    *,
    element_url: Callable[[str], str | None] | None = None,
    cache_dir: Path | None = None,
) -> str:
    """The SVG of the model's container diagram with the overlay drawn on it.

    Rendered output is cached by content hash (model, overlay, links): in memory (LRU) and,
    when `cache_dir` is given, on disk beside the cached layouts.
    """
    overlay = overlay or Overlay()
    urls = {eid: url for eid in model.elements if element_url and (url := element_url(eid))}
    key = hashlib.sha256(
        f"{RENDERER}|{model.fingerprint()}|{overlay.fingerprint()}|"
        f"{json.dumps(urls, sort_keys=True)}".encode()
    ).hexdigest()
    cached = _svg_cache.get(key)
    if cached is not None:
        return cached
    path = cache_dir / f"svg-{key}.svg" if cache_dir else None
    if path and path.exists():
        svg = path.read_text(encoding="utf-8")
    else:
        lay, links = layout(model, cache_dir, overlay.lang), _Links()
        source, drawn = _drawing(model, overlay, urls, lay, links)
        raw = graphviz.pipe("neato", "svg", source, neato_no_op=2, quiet=True).decode("utf-8")
        root = ET.fromstring(raw[raw.index("<svg") :])  # noqa: S314 - graphviz's own output
        links.resolve(root)
        _finish(root, drawn)
        _fix_canvas(root, lay)
        _draw_pipes(root, model, lay)
        svg = ET.tostring(root, encoding="unicode")
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(svg, encoding="utf-8")
    return _svg_cache.put(key, svg)
