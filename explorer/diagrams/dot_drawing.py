"""One drawing of a model in DOT: the model at its layout's fixed positions (for `neato -n2`)
with an overlay on it — the order's calls on the relationships, notes and metrics of the
elements, where the order is now, calls the model does not document.

Model and trace text reaches DOT only in labels escaped by dot_labels, or through
graphviz.escape and the graphviz package's quoting; node names are generated; link targets
are placeholders (Links).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import graphviz

from explorer.c4.model import Model, Relationship
from explorer.diagrams.dot_labels import (
    TextLine,
    boundary_label,
    dom_id,
    escaped,
    has_notes_band,
    legend_label,
    node_label,
    relationship_label,
    shape,
)
from explorer.diagrams.model_layout import (
    Layout,
    NodeBox,
    canvas,
    containers,
    member,
    node_names,
)
from explorer.diagrams.overlay import DiagramStep, Note, Overlay, Stop
from explorer.diagrams.overlay_text import (
    metric_lines,
    metric_text,
    note_lines,
    step_list,
    summary_lines,
)
from explorer.diagrams.placement import (
    Room,
    edge_points,
    occupied,
    occupied_elements,
    place_by,
    place_label,
    spline_points,
)
from explorer.diagrams.routing import routes
from explorer.diagrams.style import (
    DIMMED_FILL,
    END_MARGIN,
    FONT,
    NOTE_WIDTH,
    STEP_COLOUR,
    STOP_COLOUR,
    SUMMARY_LINES,
    SUMMARY_WIDTH,
    TITLE_BAND,
    TOOLTIP_LINES,
    WARNING_COLOUR,
)
from explorer.diagrams.text_measure import fit, wrap
from explorer.diagrams.words import word
from explorer.traces.visible import visible_line


class Links:
    """Stands in for link targets while in DOT: graphviz 2.43 writes URLs into the SVG without
    escaping them, so dot only ever sees placeholders, replaced in the parsed output (and
    escaped when it is written out again)."""

    PLACEHOLDER = re.compile(r"c4link-(\d+)")

    def __init__(self) -> None:
        self.urls: list[str] = []

    def ref(self, url: str) -> str:
        self.urls.append(url)
        return f"c4link-{len(self.urls) - 1}"

    def resolve(self, root: ET.Element) -> None:
        for el in root.iter():
            for key, value in el.attrib.items():
                if m := self.PLACEHOLDER.fullmatch(value):
                    el.set(key, self.urls[int(m.group(1))])


@dataclass
class Drawn:
    """What the SVG post-processing adds that DOT cannot carry: tooltips, step numbers for
    playback, the marks of where the order is now."""

    titles: dict[str, str]  # dom id -> tooltip text
    steps: dict[str, list[int]]  # dom id of a relationship -> its step numbers
    ends: dict[str, tuple[str, str]]  # dom id of a relationship -> dom ids of its ends
    classes: dict[str, list[str]]  # dom id -> extra classes


@dataclass
class _Scene:
    """A drawing being made: what it draws, the DOT graph, and what the SVG gets later."""

    model: Model
    overlay: Overlay
    lay: Layout
    urls: dict[str, str]  # element id -> its link
    links: Links
    graph: graphviz.Digraph
    names: dict[str, str]  # element id -> node name
    out: Drawn
    # metrics of elements without a notes band: node name, lines, element id
    metrics: list[tuple[str, list[TextLine], str]] = field(default_factory=list)


@dataclass
class _Line:
    """A call with no relationship in the model, its line routed once every text is placed."""

    dom: str
    source: str
    target: str
    attrs: dict[str, str]
    label: list[TextLine]
    label_dom: str
    label_classes: str


@dataclass
class _Calls:
    """The overlay's steps and lost messages sorted onto what the layout drew."""

    drawn: dict[tuple[str, str], int]  # (source, target) -> index of its relationship
    on_edge: dict[int, list[DiagramStep]]  # relationship index -> steps along it
    reverse: set[int]  # numbers of steps going against their relationship's direction
    extra: dict[tuple[str, str], list[DiagramStep]]  # steps on no relationship of the model
    lost: dict[int, Stop]  # relationship index -> the message lost on it


def drawing(
    model: Model, overlay: Overlay, urls: dict[str, str], lay: Layout, links: Links
) -> tuple[bytes, Drawn]:
    """The DOT source of the model at the layout's positions with the overlay drawn on it,
    and what the SVG post-processing is to add to graphviz's output."""
    g = graphviz.Digraph("c4")
    # notranslate: a label in the margin left of the layout must not shift the drawing
    g.attr(fontname=FONT, outputorder="nodesfirst", splines="true", notranslate="true")
    g.attr("node", fontname=FONT, fixedsize="true", margin="0.15,0.08")
    g.attr("edge", fontname=FONT, fontsize="9")
    scene = _Scene(model, overlay, lay, urls, links, g, node_names(model), Drawn({}, {}, {}, {}))
    if overlay.title:
        _draw_title(scene)
    _draw_boundaries(scene)
    _draw_elements(scene)
    g.node(
        "legend",
        label=legend_label(overlay.lang, overlay.legend),
        shape="plain",
        fixedsize="false",
        pos=f"{lay.legend[0]:.2f},{lay.legend[1]:.2f}!",
    )
    calls = _sorted_calls(model, overlay, lay)
    for index, (pos, lp) in lay.edges.items():
        _draw_relationship(scene, calls, index, pos, lp)
    x0, y0, x1, y1 = canvas(lay)
    room = Room(occupied(model, lay), (x0, y0, x1, y1 - TITLE_BAND))
    room.add_line(edge_points(lay))
    for name, lines, eid in scene.metrics:
        place_by(g, name, lines, lay.nodes[eid], room, "c4-metric")
    routed = _draw_undocumented_calls(scene, calls) + _draw_observed_calls(scene, calls)
    _draw_routed(scene, routed, room)
    return g.source.encode("utf-8"), scene.out


def _draw_title(scene: _Scene) -> None:
    """A node in the title band, not a graph label: that would move the canvas."""
    x0, _, x1, y1 = scene.lay.bb
    title = fit(word(scene.overlay.title, scene.overlay.lang), x1 - x0, 14)
    scene.graph.node(
        "title",
        label=f'<<FONT POINT-SIZE="14"><B>{escaped(title)}</B></FONT>>',
        shape="plain",
        fixedsize="false",
        pos=f"{(x0 + x1) / 2:.2f},{y1 + END_MARGIN + TITLE_BAND / 2:.2f}!",
        **{"class": "c4-title"},
    )


def _draw_boundaries(scene: _Scene) -> None:
    """Boundaries first: drawn beneath the elements in them."""
    for eid, (bx0, by0, bx1, by1) in scene.lay.clusters.items():
        e = scene.model.elements[eid]
        scene.graph.node(
            f"b{scene.names[eid]}",
            label=boundary_label(e, scene.overlay.lang),
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
            **({"URL": scene.links.ref(scene.urls[eid])} if eid in scene.urls else {}),
        )


def _involved(overlay: Overlay) -> set[str | None]:
    """The elements the overlay is about: never dimmed."""
    involved: set[str | None] = {e for s in overlay.steps for e in (s.source, s.target)}
    involved |= set(overlay.element_notes) | {overlay.highlight}
    involved |= {e for s in overlay.stops for e in (s.element, s.target) if e}
    return involved


def _draw_elements(scene: _Scene) -> None:
    stops_at = {s.element: s for s in scene.overlay.stops if s.kind != "lost"}
    involved = _involved(scene.overlay)
    for eid, box in scene.lay.nodes.items():
        _draw_element(scene, eid, box, stops_at.get(eid), eid in involved)


def _draw_element(scene: _Scene, eid: str, box: NodeBox, stop: Stop | None, involved: bool) -> None:
    """An element at its place with its marks, notes band, metric and tooltip."""
    overlay, e = scene.overlay, scene.model.elements[eid]
    x, y, w, h = box
    attrs = shape(e)
    classes = ["c4-element", f"c4-{e.kind}"]
    if e.external:
        classes.append("c4-external")
    notes = list(overlay.element_notes.get(eid, []))
    if stop is not None:
        notes.insert(0, Note(stop.text, "stop"))
        attrs.update(penwidth="4", color=STOP_COLOUR)
        classes += ["journey-stop", f"journey-{stop.kind}"]
    if overlay.highlight == eid:
        attrs.update(penwidth="4", color="#F08C00")
        classes.append("c4-highlight")
    elif overlay.dimmed and not involved:
        attrs.update(fillcolor=DIMMED_FILL, color="#ADB5BD")
        classes.append("c4-dimmed")
    metric = overlay.metrics.get(eid)
    band = note_lines(notes, metric, overlay.lang, overlay.rate_unit) if has_notes_band(e) else []
    if metric is not None and not has_notes_band(e):
        lines = metric_lines(metric, overlay.rate_unit, overlay.lang, NOTE_WIDTH)
        scene.metrics.append((f"m{scene.names[eid]}", lines, eid))  # placed clear of lines
    if notes or metric:  # the tooltip has it all (stores and queues have no band)
        scene.out.titles[dom_id(eid)] = "\n".join(
            [e.name]
            + ([metric_text(metric, overlay.rate_unit, overlay.lang)] if metric else [])
            + [n.text for n in notes[:TOOLTIP_LINES]]
        )
    if eid in scene.urls:
        attrs["URL"] = scene.links.ref(scene.urls[eid])
        attrs["target"] = "_top"
    scene.graph.node(
        scene.names[eid],
        label=node_label(e, overlay.lang, band, "c4-dimmed" in classes),
        pos=f"{x:.2f},{y:.2f}!",
        width=f"{w:.4f}",
        height=f"{h:.4f}",
        id=dom_id(eid),
        tooltip=graphviz.escape(visible_line(e.name)),
        **{"class": " ".join(classes)},
        **attrs,
    )


def _sorted_calls(model: Model, overlay: Overlay, lay: Layout) -> _Calls:
    """Each step on the relationship it goes along (or against), else among the extra calls;
    each lost message on the relationship from its queue to the consumer."""
    calls = _Calls({}, {}, set(), {}, {})
    for laid_out in lay.edges:
        r = model.relationships[laid_out]
        calls.drawn.setdefault((r.source, r.target), laid_out)
    for step in overlay.steps:
        if step.source not in lay.nodes or step.target not in lay.nodes:  # boundaries too
            continue
        index: int | None = calls.drawn.get((step.source, step.target))
        if index is None and not step.undocumented:
            index = calls.drawn.get((step.target, step.source))
            if index is not None:
                calls.reverse.add(step.number)
        if index is None:
            calls.extra.setdefault((step.source, step.target), []).append(step)
        else:
            calls.on_edge.setdefault(index, []).append(step)
    for stop in overlay.stops:
        if (
            stop.kind == "lost"
            and (lost_on := calls.drawn.get((stop.element, stop.target or ""))) is not None
        ):
            calls.lost[lost_on] = stop
    return calls


def _relationship_style(
    scene: _Scene, r: Relationship, index: int, pos: str, lp: str | None, steps: list[DiagramStep]
) -> tuple[dict[str, str], list[str]]:
    """The DOT attributes and classes of a relationship: typical, walked by the order, dimmed."""
    typical = scene.overlay.typical
    attrs = {
        "pos": pos,
        "dir": "both" if r.bidirectional else "forward",
        "color": "#707070",
        "id": f"rel-{index}",
    }
    classes = ["c4-relationship"]
    if (r.source, r.target) in typical or (r.bidirectional and (r.target, r.source) in typical):
        classes.append("c4-typical")
    if lp:
        attrs["lp"] = lp
    if steps:
        attrs.update(color=STEP_COLOUR, penwidth="2.5")
        classes.append("c4-step")
        if link := next((s.url for s in steps if s.url), None):  # without script: the first
            attrs.update(URL=scene.links.ref(link), target="_top")
    elif scene.overlay.dimmed:
        attrs.update(color="#CED4DA")
    return attrs, classes


def _mark_lost(
    stop: Stop, summary: list[TextLine], attrs: dict[str, str], classes: list[str]
) -> list[TextLine]:
    """A relationship a message was lost on: drawn as cut, the loss first in its summary."""
    attrs.update(color=STOP_COLOUR, penwidth="3", style="dashed", arrowhead="tee")
    classes += ["journey-stop", "journey-lost"]
    lines = [(line, STOP_COLOUR, True) for line in wrap(stop.text, SUMMARY_WIDTH - 2, max_lines=3)]
    return (lines + summary)[:SUMMARY_LINES]


def _anchor(model: Model, lay: Layout, end: str) -> str:
    """The laid-out node a relationship's end is drawn from (of a boundary: one inside it)."""
    found = end if end in lay.nodes else member(model, end, containers(model))
    if found is None:  # never: the layout drew the relationship from a node inside it
        raise ValueError(f"no laid-out node for {end!r}")
    return found


def _draw_relationship(scene: _Scene, calls: _Calls, index: int, pos: str, lp: str | None) -> None:
    """A relationship of the model with the order's calls on it, summed up in its label."""
    overlay, out, dom = scene.overlay, scene.out, f"rel-{index}"
    r = scene.model.relationships[index]
    steps = calls.on_edge.get(index, [])
    metric = overlay.metrics.get((r.source, r.target))
    summary = summary_lines(steps, calls.reverse, overlay.lang)
    if metric is not None:
        summary += metric_lines(metric, overlay.rate_unit, overlay.lang, SUMMARY_WIDTH - 2)
    attrs, classes = _relationship_style(scene, r, index, pos, lp, steps)
    if index in calls.lost:
        summary = _mark_lost(calls.lost[index], summary, attrs, classes)
        out.titles[dom] = calls.lost[index].text
    if steps:
        out.titles[dom] = "\n".join(
            filter(None, [out.titles.get(dom), step_list(steps, calls.reverse, overlay.lang)])
        )
        out.steps[dom] = [s.number for s in steps]
    out.ends[dom] = (dom_id(r.source), dom_id(r.target))
    scene.graph.edge(
        scene.names[_anchor(scene.model, scene.lay, r.source)],
        scene.names[_anchor(scene.model, scene.lay, r.target)],
        label=relationship_label(r.description, r.technology, summary),
        **{"class": " ".join(classes)},
        **attrs,
    )


def _draw_undocumented_calls(scene: _Scene, calls: _Calls) -> list[_Line]:
    """Steps between elements with no relationship (in either direction) in the model: their
    lines and labels, drawn once routed (_draw_routed)."""
    lang = scene.overlay.lang
    lines = []
    for n, ((source, target), steps) in enumerate(calls.extra.items()):
        undocumented = any(s.undocumented for s in steps)
        dom = f"step-{n}"
        link = next((s.url for s in steps if s.url), None)
        attrs = {
            "style": "dashed" if undocumented else "solid",
            "color": WARNING_COLOUR if undocumented else STEP_COLOUR,
            "penwidth": "2.5",
            **({"URL": scene.links.ref(link), "target": "_top"} if link else {}),
            "class": "c4-step" + (" c4-undocumented" if undocumented else ""),
        }
        label = summary_lines(steps, calls.reverse, lang)
        lines.append(_Line(dom, source, target, attrs, label, f"{dom}-label", "c4-call-label"))
        scene.out.titles[dom] = step_list(steps, calls.reverse, lang)
        scene.out.steps[dom] = [s.number for s in steps]
        scene.out.ends[dom] = (dom_id(source), dom_id(target))
    return lines


def _draw_observed_calls(scene: _Scene, calls: _Calls) -> list[_Line]:
    """Calls measured between elements with no relationship in the model: drawn dashed, as
    undocumented steps are on journeys, with their metric."""
    overlay, lay = scene.overlay, scene.lay
    drawn = calls.drawn
    documented = set(drawn) | {(b, a) for a, b in drawn} | set(calls.extra)
    measured = sorted((k, m) for k, m in overlay.metrics.items() if isinstance(k, tuple))
    found = []
    for n, (pair, metric) in enumerate(measured):
        source, target = pair
        if pair in documented or source not in lay.nodes or target not in lay.nodes:
            continue
        attrs = {
            "style": "dashed",
            "color": WARNING_COLOUR,
            "penwidth": "2",
            "class": "c4-observed c4-undocumented",
        }
        label = [(word("undocumented call", overlay.lang), WARNING_COLOUR, False)]
        label += metric_lines(metric, overlay.rate_unit, overlay.lang, NOTE_WIDTH)
        found.append(
            _Line(
                f"observed-{n}", source, target, attrs, label, f"o{n}", "c4-metric c4-undocumented"
            )
        )
    return found


def _draw_routed(scene: _Scene, lines: list[_Line], room: Room) -> None:
    """The lines of calls the model does not document, routed by graphviz around every
    element and text (a line it cannot route is drawn straight, as neato would), then their
    labels in the free spot nearest the middle of their line, clear of every line.
    With no room, a label is left out: the calls are in the tooltip and the side panel."""
    elements = set(occupied_elements(scene.lay))
    texts = [box for box in room.taken if box not in elements]
    pos = routes(scene.lay, scene.names, [(i.dom, i.source, i.target) for i in lines], texts)
    along = {}
    for line in lines:
        scene.graph.edge(
            scene.names[line.source],
            scene.names[line.target],
            id=line.dom,
            **({"pos": pos[line.dom]} if line.dom in pos else {}),
            **line.attrs,
        )
        (ax, ay), (bx, by) = scene.lay.nodes[line.source][:2], scene.lay.nodes[line.target][:2]
        straight = [(ax + (bx - ax) * n / 20, ay + (by - ay) * n / 20) for n in range(21)]
        along[line.dom] = spline_points(pos[line.dom]) if line.dom in pos else straight
        room.add_line(along[line.dom])
    for line in lines:
        place_label(
            scene.graph, line.label_dom, line.label, along[line.dom], room, line.label_classes
        )
