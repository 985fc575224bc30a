"""graphviz's SVG of a drawing made final: links put back, tooltips, step numbers and ends
added, the typical path's under-lines, queues redrawn as pipes, and the model's canvas.

graphviz sizes its output to whatever the overlay's labels cover, so the root <svg>'s size
and viewBox and the top group's transform are rewritten to the model's bounding box plus
fixed margins (model_layout.canvas): every drawing of a model has the same canvas.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from explorer.c4.model import Model
from explorer.diagrams.dot_drawing import Drawn, Links
from explorer.diagrams.dot_labels import dom_id
from explorer.diagrams.model_layout import Layout, canvas
from explorer.diagrams.style import TYPICAL_COLOUR
from explorer.traces.visible import visible

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


def finished_svg(raw: str, model: Model, lay: Layout, links: Links, drawn: Drawn) -> str:
    """The SVG served and downloaded, from graphviz's output for the drawing."""
    root = ET.fromstring(raw[raw.index("<svg") :])  # noqa: S314 - graphviz's own output
    links.resolve(root)
    _finish(root, drawn)
    _fix_canvas(root, lay)
    _draw_pipes(root, model, lay)
    return ET.tostring(root, encoding="unicode")


def _finish(root: ET.Element, drawn: Drawn) -> None:
    """Tooltips, step numbers and ends, and marks the DOT attributes cannot carry."""
    for group in root.iter(f"{{{SVG_NS}}}g"):
        dom = group.get("id")
        if dom is None:
            continue
        if dom in drawn.titles:
            title = group.find(f"{{{SVG_NS}}}title")
            if title is not None:
                title.text = visible(drawn.titles[dom])  # lines kept, other controls pictured
            for a in group.iter(f"{{{SVG_NS}}}a"):
                if a.get(f"{{{XLINK_NS}}}title") is not None:
                    a.set(f"{{{XLINK_NS}}}title", (title.text or "") if title is not None else "")
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


def _fix_canvas(root: ET.Element, lay: Layout) -> None:
    """Give graphviz's SVG the model's canvas instead of the one it fitted to this overlay."""
    x0, y0, x1, y1 = canvas(lay)
    width, height = x1 - x0, y1 - y0
    root.set("width", f"{width:.0f}pt")
    root.set("height", f"{height:.0f}pt")
    root.set("viewBox", f"0.00 0.00 {width:.2f} {height:.2f}")
    graph = _child(root, "g")
    # graph coordinates have y up; graphviz draws them at (x, -y) inside this group
    graph.set("transform", f"scale(1 1) rotate(0) translate({-x0:.2f} {y1:.2f})")
    _child(graph, "polygon").set(  # the background
        "points",
        " ".join(
            f"{x:.2f},{-y:.2f}" for x, y in ((x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0))
        ),
    )


def _child(parent: ET.Element, tag: str) -> ET.Element:
    """The first child of an SVG tag; graphviz always writes the graph's group and background."""
    found = parent.find(f"{{{SVG_NS}}}{tag}")
    if found is None:
        raise ValueError(f"graphviz's SVG has no <{tag}> where expected")
    return found


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
