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
import threading
import unicodedata
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import graphviz

from explorer.c4.model import Element, Model
from explorer.diagrams.overlay import Metric, Overlay, Step

FONT = "Helvetica"
FILL = {"person": "#08427B", "software_system": "#1168BD", "container": "#438DD5",
        "database": "#438DD5", "queue": "#438DD5", "component": "#85BBF0"}
EXTERNAL_FILL = "#999999"
DIMMED_FILL = "#D9DEE4"
STEP_COLOUR = "#1864AB"
WARNING_COLOUR = "#E8590C"
SEVERITY_COLOUR = {"info": "#495057", "state": "#2B8A3E", "warning": "#E8590C",
                   "sla": "#C2255C", "anomaly": "#7048E8", "error": "#C92A2A"}
MAX_ROWS = 8
# Widest overlay text, in points: a note beside an element, a step row on a relationship, and
# the margins around the model's bounding box that hold them (a note sits beside an element at
# the edge; a step label is centred on its relationship; the title has a band of its own).
NOTE_WIDTH = 200  # a note takes up to two lines
STEP_WIDTH = 320
SIDE_MARGIN = NOTE_WIDTH + 40
END_MARGIN = 12 * (MAX_ROWS + 2)
TITLE_BAND = 32
TYPE_NAME = {"person": "Person", "software_system": "Software System", "container": "Container",
             "database": "Container", "queue": "Container", "component": "Component"}
SVG_CACHE_SIZE = 64
# Cached layouts and drawings are keyed by this file's content too: a changed renderer never
# serves what an older one drew.
RENDERER = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


def _e(text: object) -> str:
    """Text for an HTML-like label: escaped, control characters dropped."""
    cleaned = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", str(text))
    return html.escape(cleaned, quote=True)


def _text_width(text: str, size: float) -> float:
    """A generous estimate of Helvetica's width of `text` in points (bold included)."""
    def em(c: str) -> float:  # graphviz's widths for Helvetica (via pango), rounded up
        if ord(c) > 127:
            return 1.3 if unicodedata.east_asian_width(c) in "WF" else 1.0
        if c == " ":
            return 0.35
        if c in "MWmw@%":
            return 1.05
        return 0.75 if c.isupper() or c.isdigit() else 0.65
    return size * sum(em(c) for c in text)


def _clip(text: str, width: float, size: float = 9) -> str:
    """`text` cut (with an ellipsis) to at most `width` points."""
    if _text_width(text, size) <= width:
        return text
    text = text[:int(width / (0.3 * size))]  # no more characters than could ever fit
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


def _dom_id(element_id: str) -> str:
    return "el-" + re.sub(r"[^A-Za-z0-9_-]", "_", element_id)


def _ms(duration_ns: int) -> str:
    ms = duration_ns / 1e6
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def _element_text_colour(e: Element) -> str:
    return "#FFFFFF" if e.kind != "component" or e.external else "#000000"


def _node_label(e: Element) -> str:
    colour = _element_text_colour(e)
    kind = ("External " if e.external else "") + TYPE_NAME[e.kind]
    type_line = f"[{kind}: {e.technology}]" if e.technology and e.kind != "person" else f"[{kind}]"
    rows = []
    if e.kind == "person":
        rows.append(f'<TR><TD><FONT POINT-SIZE="22" COLOR="{colour}">&#9679;</FONT></TD></TR>')
    rows.append(f'<TR><TD><FONT POINT-SIZE="13" COLOR="{colour}"><B>{_e(e.name)}</B></FONT>'
                f'</TD></TR>')
    rows.append(f'<TR><TD><FONT POINT-SIZE="9" COLOR="{colour}">{_e(type_line)}</FONT></TD></TR>')
    if e.description:
        rows.append(f'<TR><TD><FONT POINT-SIZE="9" COLOR="{colour}">'
                    f'{_lines(e.description, 34)}</FONT></TD></TR>')
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
            f'{"".join(rows)}</TABLE>>')


def _boundary_label(e: Element) -> str:
    kind = "Software System" if e.kind == "software_system" else "Boundary"
    return (f'<<FONT POINT-SIZE="12"><B>{_e(e.name)}</B></FONT><BR ALIGN="LEFT"/>'
            f'<FONT POINT-SIZE="9">[{kind}]</FONT><BR ALIGN="LEFT"/>>')


def _relationship_label(description: str, technology: str, extra_rows: str = "") -> str:
    rows = []
    if description:
        rows.append(f'<TR><TD>{_lines(description, 28)}</TD></TR>')
    if technology:
        rows.append(f'<TR><TD>[{_e(technology)}]</TD></TR>')
    if not rows and not extra_rows:
        return "<>"
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
            f'<TR><TD><FONT POINT-SIZE="9" COLOR="#555555"><TABLE BORDER="0" CELLSPACING="0" '
            f'CELLPADDING="0">{"".join(rows) or "<TR><TD></TD></TR>"}</TABLE></FONT></TD></TR>'
            f'{extra_rows}</TABLE>>')


def _legend_label() -> str:
    def row(fill: str, text: str, font: str = "#FFFFFF") -> str:
        return (f'<TR><TD BGCOLOR="{fill}"><FONT COLOR="{font}" POINT-SIZE="9">{text}</FONT>'
                f'</TD></TR>')

    return ('<<TABLE BORDER="1" COLOR="#AAAAAA" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3">'
            '<TR><TD><FONT POINT-SIZE="10"><B>Legend</B></FONT></TD></TR>'
            + row(FILL["person"], "person") + row(FILL["software_system"], "software system")
            + row(FILL["container"], "container (database: cylinder, queue: pipe)")
            + row(FILL["component"], "component", "#000000")
            + row(EXTERNAL_FILL, "external element")
            + row("#FFFFFF", "&#8594; relationship in the model", "#555555")
            + row("#FFFFFF", "&#8594; 1. numbered step of the traces", STEP_COLOUR)
            + row("#FFFFFF", "&#8594; - - undocumented call (not in the model)", WARNING_COLOUR)
            + row("#FFFFFF", "state change", SEVERITY_COLOUR["state"])
            + row("#FFFFFF", "error", SEVERITY_COLOUR["error"])
            + row("#FFFFFF", "SLA breach", SEVERITY_COLOUR["sla"])
            + row("#FFFFFF", "anomaly", SEVERITY_COLOUR["anomaly"])
            + '</TABLE>>')


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
    legend: tuple[float, float]
    bb: tuple[float, float, float, float]


def _containers(model: Model) -> set[str]:
    return {e.parent for e in model.elements.values() if e.parent in model.elements}


def _layout_graph(model: Model) -> tuple[graphviz.Digraph, dict[str, str]]:
    names = {eid: f"n{i}" for i, eid in enumerate(model.elements)}
    clusters = _containers(model)
    g = graphviz.Digraph("c4")
    g.attr(rankdir="TB", nodesep="0.7", ranksep="1.0", fontname=FONT, compound="true", pad="0.3")
    g.attr("node", fontname=FONT, margin="0.15,0.08")
    g.attr("edge", fontname=FONT, fontsize="9")

    def add(parent_graph: graphviz.Digraph, parent: str | None) -> None:
        for e in model.elements.values():
            if e.parent != parent and not (parent is None and e.parent not in model.elements):
                continue
            if e.id in clusters:
                with parent_graph.subgraph(name=f"cluster_{names[e.id]}") as sub:
                    sub.attr(label=_boundary_label(e), labeljust="l", labelloc="b",
                             style="dashed,rounded", color="#444444", fontname=FONT)
                    add(sub, e.id)
            elif e.kind != "boundary":
                parent_graph.node(names[e.id], label=_node_label(e), **_shape(e))

    add(g, None)
    g.node("legend", label=_legend_label(), shape="plain")
    for index, r in enumerate(model.relationships):
        if r.source in clusters or r.target in clusters:
            continue  # relationships of a system drawn as a boundary are implied by its containers
        g.edge(names[r.source], names[r.target], label=_relationship_label(r.description,
                                                                           r.technology),
               dir="both" if r.bidirectional else "forward", id=f"rel-{index}")
    return g, names


_layouts: dict[str, Layout] = {}
_lock = threading.Lock()


def layout(model: Model, cache_dir: Path | None = None) -> Layout:
    """The model's fixed layout: computed once per model fingerprint, then reused."""
    key = hashlib.sha256(f"{RENDERER}|{model.fingerprint()}".encode()).hexdigest()
    with _lock:
        if key in _layouts:
            return _layouts[key]
    path = cache_dir / f"layout-{key}.json" if cache_dir else None
    if path and path.exists():
        data = json.loads(path.read_text())
        result = Layout(nodes={k: tuple(v) for k, v in data["nodes"].items()},
                        clusters={k: tuple(v) for k, v in data["clusters"].items()},
                        edges={int(k): tuple(v) for k, v in data["edges"].items()},
                        legend=tuple(data["legend"]),
                        bb=tuple(data["bb"]))
    else:
        result = _compute_layout(model)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(result)))
    with _lock:
        _layouts[key] = result
    return result


def _compute_layout(model: Model) -> Layout:
    graph, names = _layout_graph(model)
    data = json.loads(graph.pipe(format="json", engine="dot", quiet=True))
    by_name = {o["name"]: o for o in data.get("objects", [])}
    ids = {v: k for k, v in names.items()}
    nodes, clusters, legend = {}, {}, (0.0, 0.0)
    for name, obj in by_name.items():
        if name.startswith("cluster_"):
            clusters[ids[name[len("cluster_"):]]] = tuple(float(v) for v in obj["bb"].split(","))
        elif "pos" in obj:
            x, y = (float(v) for v in obj["pos"].split(","))
            if name == "legend":
                legend = (x, y)
            else:
                nodes[ids[name]] = (x, y, float(obj["width"]), float(obj["height"]))
    edges = {int(e["id"].removeprefix("rel-")): (e["pos"], e.get("lp"))
             for e in data.get("edges", [])}
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
    background.set("points", " ".join(f"{x:.2f},{-y:.2f}" for x, y in
                                      ((x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0))))


def _draw_pipes(root: ET.Element, model: Model, lay: Layout) -> None:
    """Redraw the boxes of queues as C4's horizontal pipe: a cylinder lying on its side."""
    groups = {g.get("id"): g for g in root.iter(f"{{{SVG_NS}}}g")}
    for eid, (x, y, w, h) in lay.nodes.items():
        group = groups.get(_dom_id(eid))
        if model.elements[eid].kind != "queue" or group is None:
            continue
        box = next(el for el in group.iter() if el.tag == f"{{{SVG_NS}}}polygon")
        left, right, top, bottom = x - w * 36, x + w * 36, -(y + h * 36), -(y - h * 36)
        rx, ry = min(12.0, w * 9), h * 36
        box.tag = f"{{{SVG_NS}}}path"
        del box.attrib["points"]
        box.set("d", f"M{left + rx:.2f},{top:.2f} H{right - rx:.2f} "
                     f"A{rx:.2f},{ry:.2f} 0 0 1 {right - rx:.2f},{bottom:.2f} "
                     f"H{left + rx:.2f} A{rx:.2f},{ry:.2f} 0 0 1 {left + rx:.2f},{top:.2f} Z "
                     f"M{right - rx:.2f},{top:.2f} "  # the open end: a whole ellipse, same turn
                     f"A{rx:.2f},{ry:.2f} 0 0 1 {right - rx:.2f},{bottom:.2f} "
                     f"A{rx:.2f},{ry:.2f} 0 0 1 {right - rx:.2f},{top:.2f} Z")


def _step_rows(steps: list[Step], reverse: set[int], links: _Links) -> str:
    rows = []
    for step in steps[:MAX_ROWS]:
        colour = WARNING_COLOUR if step.undocumented else (
            SEVERITY_COLOUR["error"] if step.outcome.startswith("error") else STEP_COLOUR)
        arrow = "← " if step.number in reverse else ""
        outcome = _clip(step.outcome, 80)
        fixed = f"{arrow}{step.number}. {_ms(step.duration_ns)} {outcome} "
        label = _clip(step.label, STEP_WIDTH - _text_width(fixed, 9))
        text = (f"{_e(arrow)}<B>{step.number}.</B> {_e(label)} "
                f"{_e(_ms(step.duration_ns))} {_e(outcome)}")
        href = (f' HREF="{links.ref(step.url)}" TARGET="_top" TOOLTIP="{_e(step.label)}"'
                if step.url else "")
        rows.append(f'<TR><TD ALIGN="LEFT"{href}><FONT POINT-SIZE="9" COLOR="{colour}">{text}'
                    f'</FONT></TD></TR>')
    if len(steps) > MAX_ROWS:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">+{len(steps) - MAX_ROWS} more'
                    f'</FONT></TD></TR>')
    return "".join(rows)


RATE_UNITS = {"min": 60, "h": 3600}  # a rate people read: per minute or per hour


def _metric_text(metric: Metric, unit: str = "min") -> str:
    per = RATE_UNITS.get(unit, 60) * metric.rate
    rate = f"{per:.1f}" if per < 10 else f"{per:.0f}"
    return (f"{rate}/{unit if unit in RATE_UNITS else 'min'} · "
            f"{metric.error_rate * 100:.1f}% err · p95 {metric.p95_ms:.0f} ms")


def _metric_node(g, name: str, metric: Metric, unit: str, x: float, y: float) -> None:
    """An element's metric as a label right under its box (an xlabel floats wherever graphviz
    finds room, away from the box it belongs to)."""
    text = _e(_clip(_metric_text(metric, unit), NOTE_WIDTH))
    g.node(name, label=f'<<TABLE BORDER="0" BGCOLOR="#FFFFFFE6" CELLBORDER="0" CELLSPACING="0" '
                       f'CELLPADDING="1"><TR><TD><FONT POINT-SIZE="9" COLOR="#212529"><B>{text}'
                       f'</B></FONT></TD></TR></TABLE>>',
           shape="plain", fixedsize="false", pos=f"{x:.2f},{y:.2f}!",
           **{"class": "c4-metric"})


def _xlabel(notes) -> str | None:
    rows: list[str] = []
    shown = 0
    for note in notes:
        lines = _wrap(note.text, NOTE_WIDTH)
        if len(rows) + len(lines) > MAX_ROWS:
            break
        colour = SEVERITY_COLOUR.get(note.severity, SEVERITY_COLOUR["info"])
        rows.extend(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="{colour}">{_e(line)}'
                    f'</FONT></TD></TR>' for line in lines)
        shown += 1
    if shown < len(notes):
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">+{len(notes) - shown} more'
                    f'</FONT></TD></TR>')
    if not rows:
        return None
    return (f'<<TABLE BORDER="0" BGCOLOR="#FFFFFFDD" CELLBORDER="0" CELLSPACING="0" '
            f'CELLPADDING="1">{"".join(rows)}</TABLE>>')


def _free_spot(lay: Layout, source: str, target: str, width: float,
               height: float) -> tuple[float, float]:
    """A point on the line between two elements where a label of this size covers no box,
    as near the middle as there is one (else the middle)."""
    (x0, y0, *_), (x1, y1, *_) = lay.nodes[source], lay.nodes[target]
    boxes = [(x - w * 36, y - h * 36, x + w * 36, y + h * 36)
             for x, y, w, h in lay.nodes.values()]
    for step in range(0, 8):
        for f in ({0.5 + step * 0.05, 0.5 - step * 0.05}):
            x, y = x0 + (x1 - x0) * f, y0 + (y1 - y0) * f
            left, bottom, right, top = x - width / 2, y - height / 2, x + width / 2, y + height / 2
            if all(right < bx0 or left > bx1 or top < by0 or bottom > by1
                   for bx0, by0, bx1, by1 in boxes):
                return x, y
    return (x0 + x1) / 2, (y0 + y1) / 2


def _drawing(model: Model, overlay: Overlay, urls: dict[str, str], lay: Layout,
             links: _Links) -> bytes:
    g = graphviz.Digraph("c4")
    g.attr(fontname=FONT, outputorder="nodesfirst", forcelabels="true", splines="true")
    g.attr("node", fontname=FONT, fixedsize="true", margin="0.15,0.08")
    g.attr("edge", fontname=FONT, fontsize="9")
    if overlay.title:  # a node in the title band, not a graph label: that would move the canvas
        x0, _, x1, y1 = lay.bb
        title = _clip(overlay.title, x1 - x0, 14)
        g.node("title", label=f'<<FONT POINT-SIZE="14"><B>{_e(title)}</B></FONT>>',
               shape="plain", fixedsize="false", pos=f"{(x0 + x1) / 2:.2f},"
               f"{y1 + END_MARGIN + TITLE_BAND / 2:.2f}!", **{"class": "c4-title"})
    involved = {s.source for s in overlay.steps} | {s.target for s in overlay.steps}
    involved |= set(overlay.element_notes) | {overlay.highlight}
    names = {eid: f"n{i}" for i, eid in enumerate(model.elements)}
    for eid, (bx0, by0, bx1, by1) in lay.clusters.items():  # boundaries first: drawn beneath
        e = model.elements[eid]
        g.node(f"b{names[eid]}", label=_boundary_label(e), shape="box",
               style="dashed,rounded", color="#444444", labelloc="b", labeljust="l",
               pos=f"{(bx0 + bx1) / 2:.2f},{(by0 + by1) / 2:.2f}!",
               width=f"{(bx1 - bx0) / 72:.4f}", height=f"{(by1 - by0) / 72:.4f}",
               id=_dom_id(eid), **{"class": f"c4-element c4-{e.kind}"},
               tooltip=graphviz.escape(e.name),
               **({"URL": links.ref(urls[eid])} if eid in urls else {}))
    for eid, (x, y, w, h) in lay.nodes.items():
        e = model.elements[eid]
        attrs = _shape(e)
        classes = ["c4-element", f"c4-{e.kind}"]
        if e.external:
            classes.append("c4-external")
        if overlay.highlight == eid:
            attrs.update(penwidth="4", color="#F08C00")
            classes.append("c4-highlight")
        elif overlay.dimmed and eid not in involved:
            attrs.update(fillcolor=DIMMED_FILL, color="#ADB5BD")
            classes.append("c4-dimmed")
        xlabel = _xlabel(overlay.element_notes.get(eid, []))
        metric = overlay.metrics.get(eid)
        if metric is not None:
            _metric_node(g, f"m{names[eid]}", metric, overlay.rate_unit, x, y - h * 36 - 7)
        if xlabel:
            attrs["xlabel"] = xlabel
        if eid in urls:
            attrs["URL"] = links.ref(urls[eid])
            attrs["target"] = "_top"
        g.node(names[eid], label=_node_label(e), pos=f"{x:.2f},{y:.2f}!", width=f"{w:.4f}",
               height=f"{h:.4f}", id=_dom_id(eid), tooltip=graphviz.escape(e.name),
               **{"class": " ".join(classes)}, **attrs)
    g.node("legend", label=_legend_label(), shape="plain", fixedsize="false",
           pos=f"{lay.legend[0]:.2f},{lay.legend[1]:.2f}!")

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
    for index, (pos, lp) in lay.edges.items():
        r = model.relationships[index]
        steps = on_edge.get(index, [])
        metric = overlay.metrics.get((r.source, r.target))
        rows = _step_rows(steps, reverse, links)
        if metric is not None:
            rows += (f'<TR><TD><FONT POINT-SIZE="9" COLOR="#212529"><B>'
                     f'{_e(_metric_text(metric, overlay.rate_unit))}</B></FONT></TD></TR>')
        attrs = {"pos": pos, "dir": "both" if r.bidirectional else "forward",
                 "color": "#707070", "id": f"rel-{index}",
                 "class": "c4-relationship" + (" c4-step" if steps else "")}
        if lp:
            attrs["lp"] = lp
        if steps:
            attrs.update(color=STEP_COLOUR, penwidth="2.5")
        elif overlay.dimmed:
            attrs.update(color="#CED4DA")
        g.edge(names[r.source], names[r.target],
               label=_relationship_label(r.description, r.technology, rows), **attrs)
    for n, ((source, target), steps) in enumerate(extra.items()):
        undocumented = any(s.undocumented for s in steps)
        colour = WARNING_COLOUR if undocumented else STEP_COLOUR
        g.edge(names[source], names[target], label=f"<<TABLE BORDER=\"0\" CELLSPACING=\"0\" "
               f"CELLPADDING=\"1\">{_step_rows(steps, reverse, links)}</TABLE>>",
               style="dashed" if undocumented else "solid", color=colour, penwidth="2.5",
               id=f"step-{n}", **{"class": "c4-step" + (" c4-undocumented" if undocumented
                                                         else "")})
    # Calls measured between elements with no relationship in the model: drawn dashed, as
    # undocumented steps are on journeys, with their metric.
    documented = set(drawn) | {(b, a) for a, b in drawn} | set(extra)
    for n, (pair, metric) in enumerate(sorted(
            (k, m) for k, m in overlay.metrics.items() if isinstance(k, tuple))):
        source, target = pair
        if pair in documented or source not in lay.nodes or target not in lay.nodes:
            continue
        g.edge(names[source], names[target], style="dashed", color=WARNING_COLOUR,
               penwidth="2", id=f"observed-{n}", **{"class": "c4-observed c4-undocumented"})
        text = _e(_clip(_metric_text(metric, overlay.rate_unit), NOTE_WIDTH))
        x, y = _free_spot(lay, source, target, _text_width(_metric_text(metric), 9) + 6, 26)
        g.node(f"o{n}", label=f'<<TABLE BORDER="0" BGCOLOR="#FFFFFFE6" CELLSPACING="0" '
                              f'CELLPADDING="1"><TR><TD><FONT POINT-SIZE="9" '
                              f'COLOR="{WARNING_COLOUR}">undocumented call</FONT></TD></TR>'
                              f'<TR><TD><FONT POINT-SIZE="9" COLOR="#212529"><B>{text}</B>'
                              f'</FONT></TD></TR></TABLE>>',
               shape="plain", fixedsize="false", pos=f"{x:.2f},{y:.2f}!",
               **{"class": "c4-metric c4-undocumented"})
    return g.source.encode("utf-8")


_svg_cache: OrderedDict[str, str] = OrderedDict()


def render_svg(model: Model, overlay: Overlay | None = None, *,
               element_url: Callable[[str], str | None] | None = None,
               cache_dir: Path | None = None) -> str:
    """The SVG of the model's container diagram with the overlay drawn on it.

    Rendered output is cached by content hash (model, overlay, links): in memory (LRU) and,
    when `cache_dir` is given, on disk beside the cached layouts.
    """
    overlay = overlay or Overlay()
    urls = {eid: url for eid in model.elements if element_url and (url := element_url(eid))}
    key = hashlib.sha256(
        f"{RENDERER}|{model.fingerprint()}|{overlay.fingerprint()}|"
        f"{json.dumps(urls, sort_keys=True)}"
        .encode()).hexdigest()
    with _lock:
        if key in _svg_cache:
            _svg_cache.move_to_end(key)
            return _svg_cache[key]
    path = cache_dir / f"svg-{key}.svg" if cache_dir else None
    if path and path.exists():
        svg = path.read_text(encoding="utf-8")
    else:
        lay, links = layout(model, cache_dir), _Links()
        raw = graphviz.pipe("neato", "svg", _drawing(model, overlay, urls, lay, links),
                            neato_no_op=2, quiet=True).decode("utf-8")
        root = ET.fromstring(raw[raw.index("<svg"):])  # noqa: S314 - graphviz's own output
        links.resolve(root)
        _fix_canvas(root, lay)
        _draw_pipes(root, model, lay)
        svg = ET.tostring(root, encoding="unicode")
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(svg, encoding="utf-8")
    with _lock:
        _svg_cache[key] = svg
        while len(_svg_cache) > SVG_CACHE_SIZE:
            _svg_cache.popitem(last=False)
    return svg
