"""A model's fixed layout: positions computed once with `dot`, cached per model fingerprint
and language, in memory and optionally on disk, so that an element sits at the same
coordinates whatever overlay is drawn on it; and the canvas every drawing of it has."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import graphviz

from explorer.c4.model import Model
from explorer.caching import LocalCache
from explorer.diagrams import disk_cache, version
from explorer.diagrams.dot_labels import (
    boundary_label,
    legend_label,
    node_label,
    relationship_label,
    shape,
)
from explorer.diagrams.style import END_MARGIN, FONT, SIDE_MARGIN, TITLE_BAND

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in graph coordinates (y up)
NodeBox = tuple[float, float, float, float]  # centre x, y (points), width, height (inches)


@dataclass
class Layout:
    """Fixed positions, in points, of a model's drawing (graphviz coordinates, y up)."""

    nodes: dict[str, NodeBox]  # id -> centre x, y, width, height (in)
    clusters: dict[str, Box]  # id -> x0, y0, x1, y1
    edges: dict[int, tuple[str, str | None]]  # relationship index -> pos, label pos
    legend: NodeBox  # centre x, y, width, height (in)
    bb: Box


def containers(model: Model) -> set[str]:
    """The elements other elements lie in: drawn as boundaries (clusters)."""
    return {e.parent for e in model.elements.values() if e.parent in model.elements}


def node_names(model: Model) -> dict[str, str]:
    """Element id -> the generated name of its node in DOT (never the model's own text)."""
    return {eid: f"n{i}" for i, eid in enumerate(model.elements)}


def _add_elements(
    graph: graphviz.Digraph, model: Model, lang: str, names: dict[str, str], parent: str | None
) -> None:
    """The elements directly in `parent` (None: at the top), boundaries as nested clusters."""
    clusters = containers(model)
    for e in model.elements.values():
        if e.parent != parent and not (parent is None and e.parent not in model.elements):
            continue
        if e.id in clusters:
            with graph.subgraph(name=f"cluster_{names[e.id]}") as sub:
                sub.attr(
                    label=boundary_label(e, lang),
                    labeljust="l",
                    labelloc="b",
                    style="dashed,rounded",
                    color="#444444",
                    fontname=FONT,
                )
                _add_elements(sub, model, lang, names, e.id)
        elif e.kind != "boundary":
            graph.node(names[e.id], label=node_label(e, lang), **shape(e))


def _add_relationships(graph: graphviz.Digraph, model: Model, names: dict[str, str]) -> None:
    clusters = containers(model)
    for index, r in enumerate(model.relationships):
        # A relationship of a system drawn as a boundary is drawn to the boundary's edge: from a
        # node inside it, clipped there by graphviz (ltail/lhead).
        ends: list[str | None] = []
        clipped = {}
        for end, attr in ((r.source, "ltail"), (r.target, "lhead")):
            anchor: str | None = end
            if end in clusters:
                clipped[attr] = f"cluster_{names[end]}"
                anchor = member(model, end, clusters)
            ends.append(anchor)
        source, target = ends
        if (
            source is None
            or target is None
            or _within(model, source, r.target)
            or _within(model, target, r.source)
        ):
            continue  # an empty boundary, or a relationship between a boundary and its own part
        graph.edge(
            names[source],
            names[target],
            label=relationship_label(r.description, r.technology),
            dir="both" if r.bidirectional else "forward",
            id=f"rel-{index}",
            **clipped,
        )


def _layout_graph(model: Model, lang: str) -> tuple[graphviz.Digraph, dict[str, str]]:
    names = node_names(model)
    g = graphviz.Digraph("c4")
    g.attr(rankdir="TB", nodesep="0.3", ranksep="0.8", fontname=FONT, compound="true", pad="0.3")
    g.attr("node", fontname=FONT, margin="0.15,0.08")
    g.attr("edge", fontname=FONT, fontsize="9")
    _add_elements(g, model, lang, names, None)
    g.node("legend", label=legend_label(lang), shape="plain")
    _add_relationships(g, model, names)
    return g, names


def member(model: Model, cluster: str, clusters: set[str]) -> str | None:
    """A drawn node inside a boundary (depth first), to anchor its relationships."""
    for e in model.elements.values():
        if e.parent == cluster:
            if e.id not in clusters and e.kind != "boundary":
                return e.id
            if e.id in clusters:
                found = member(model, e.id, clusters)
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
    key = hashlib.sha256(f"{version.RENDERER}|{model.fingerprint()}|{lang}".encode()).hexdigest()
    cached = _layouts.get(key)
    if cached is not None:
        return cached
    path = cache_dir / f"layout-{key}.json" if cache_dir else None
    stored = disk_cache.read(path) if path else None
    if stored is not None:
        result = _from_json(stored)
    else:
        result = _compute_layout(model, lang)
        if path:
            disk_cache.write(path, json.dumps(asdict(result)))
    return _layouts.put(key, result)


def _four(values: list[float]) -> tuple[float, float, float, float]:
    a, b, c, d = values
    return a, b, c, d


def _from_json(text: str) -> Layout:
    data = json.loads(text)
    return Layout(
        nodes={k: _four(v) for k, v in data["nodes"].items()},
        clusters={k: _four(v) for k, v in data["clusters"].items()},
        edges={int(k): (v[0], v[1]) for k, v in data["edges"].items()},
        legend=_four(data["legend"]),
        bb=_four(data["bb"]),
    )


def _compute_layout(model: Model, lang: str) -> Layout:
    graph, names = _layout_graph(model, lang)
    data = json.loads(graph.pipe(format="json", engine="dot", quiet=True))
    by_name = {o["name"]: o for o in data.get("objects", [])}
    ids = {v: k for k, v in names.items()}
    nodes: dict[str, NodeBox] = {}
    clusters: dict[str, Box] = {}
    legend: NodeBox = (0.0, 0.0, 0.0, 0.0)
    for name, obj in by_name.items():
        if name.startswith("cluster_"):
            clusters[ids[name[len("cluster_") :]]] = _four([float(v) for v in obj["bb"].split(",")])
        elif "pos" in obj:
            x, y = (float(v) for v in obj["pos"].split(","))
            if name == "legend":
                legend = (x, y, float(obj["width"]), float(obj["height"]))
            else:
                nodes[ids[name]] = (x, y, float(obj["width"]), float(obj["height"]))
    edges = {
        int(e["id"].removeprefix("rel-")): (e["pos"], e.get("lp")) for e in data.get("edges", [])
    }
    bb = _four([float(v) for v in data["bb"].split(",")])
    return Layout(nodes=nodes, clusters=clusters, edges=edges, legend=legend, bb=bb)


def canvas(lay: Layout) -> Box:
    """The drawing area of a model, in graphviz coordinates: its layout's bounding box with
    room for overlay labels around it and a title band on top; the same whatever is drawn."""
    x0, y0, x1, y1 = lay.bb
    return (x0 - SIDE_MARGIN, y0 - END_MARGIN, x1 + SIDE_MARGIN, y1 + END_MARGIN + TITLE_BAND)
