"""The overview of an order's journey: the model's elements by name only, laid out compactly by
`dot`, the ones the order touched drawn plainly and the others faded, the order's path (how many
calls on each hop) and where it is now. It fits a laptop screen at readable size (no text under
11 points) where the detailed diagram (render.py: descriptions, every call's numbers) is two
screens tall; the order page opens on it (docs/journey-diagram.md#the-overview).

The words drawn (the counts of calls, "now here") come from the caller, in the page's language.
Ids: element groups are "ov-" + dom_id(element), path edges "ov-" + source + "--" + target (dom
ids), so the page's script lights them step by step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import graphviz

from explorer.c4.model import Model
from explorer.caching import LocalCache
from explorer.diagrams.dot_labels import dom_id, escaped
from explorer.diagrams.style import (
    DIMMED_TEXT,
    FILL,
    FONT,
    STEP_COLOUR,
    STOP_COLOUR,
    WARNING_COLOUR,
)
from explorer.traces.visible import visible

NAME_POINTS = 14
SMALL_POINTS = 11  # the smallest text of the overview: 11 px when drawn at its own size
FADED = "#ADB5BD"

_overview_cache: LocalCache[str] = LocalCache("diagram-overviews", 64)


@dataclass(frozen=True, slots=True)
class Hop:
    """The order's calls from one element to another: how many, from which step on."""

    source: str
    target: str
    calls: int
    first_step: int
    undocumented: bool = False


@dataclass(frozen=True, slots=True)
class OverviewWords:
    """The words of the overview, in the page's language."""

    calls: Callable[[int], str]  # "3 calls"
    now_here: str
    finished_here: str


def hops(steps: Sequence) -> list[Hop]:
    """The steps (DiagramStep) grouped by (source, target), in the order first taken."""
    found: dict[tuple[str, str], list] = {}
    for step in steps:
        found.setdefault((step.source, step.target), []).append(step)
    return [
        Hop(source, target, len(calls), calls[0].number, all(s.undocumented for s in calls))
        for (source, target), calls in found.items()
    ]


def overview_svg(
    model: Model,
    path: Sequence[Hop],
    stops: Sequence[tuple[str, str]],
    words: OverviewWords,
    touched: Collection[str] = (),
) -> str:
    """The overview as SVG (cached by content). Stops: (element, kind) where the order is now
    (Stop.kind: "finished" or not); touched: the elements the order's spans ran in (besides
    the ends of its path and where it is now)."""
    key = hashlib.sha256(
        json.dumps(
            [
                model.fingerprint(),
                [list(vars_of(h)) for h in path],
                list(stops),
                sorted(touched),
                words.now_here,
                [words.calls(h.calls) for h in path],
            ],
        ).encode()
    ).hexdigest()
    cached = _overview_cache.get(key)
    if cached is not None:
        return cached
    source = _dot(model, path, stops, words, touched)
    svg = graphviz.pipe("dot", "svg", source.encode(), quiet=True).decode("utf-8")
    return _overview_cache.put(key, svg[svg.index("<svg") :])


def vars_of(hop: Hop) -> tuple:
    return (hop.source, hop.target, hop.calls, hop.first_step, hop.undocumented)


def _leaves(model: Model) -> list[str]:
    """The elements drawn: people, containers and outside systems (not the boundaries)."""
    parents = {e.parent for e in model.elements.values() if e.parent}
    return [eid for eid in model.elements if eid not in parents]


def _dot(
    model: Model,
    path: Sequence[Hop],
    stops: Sequence[tuple[str, str]],
    words: OverviewWords,
    ran_in: Collection[str],
) -> str:
    graph = graphviz.Digraph(
        graph_attr={
            "rankdir": "TB",
            "nodesep": "0.35",
            "ranksep": "0.45",
            "fontname": FONT,
            "bgcolor": "white",
            "pad": "0.1",
        },
        node_attr={
            "fontname": FONT,
            "shape": "box",
            "style": "rounded,filled",
            "margin": "0.15,0.06",
        },
        edge_attr={"fontname": FONT, "fontsize": str(SMALL_POINTS)},
    )
    leaves = _leaves(model)
    kinds = dict(stops)
    touched = {h.source for h in path} | {h.target for h in path} | set(kinds) | set(ran_in)
    for eid in leaves:
        _node(graph, model, eid, eid in touched, kinds.get(eid), words)
    walked = {(h.source, h.target) for h in path}
    for r in model.relationships:
        if r.source in leaves and r.target in leaves and (r.source, r.target) not in walked:
            on_path = r.bidirectional and (r.target, r.source) in walked
            if not on_path:
                graph.edge(
                    _name(r.source),
                    _name(r.target),
                    color=FADED,
                    arrowsize="0.6",
                    **{"class": "ov-model"},
                )
    for hop in path:
        if hop.source not in leaves or hop.target not in leaves:
            continue
        graph.edge(
            _name(hop.source),
            _name(hop.target),
            label=f'<<TABLE BORDER="0" CELLPADDING="3" BGCOLOR="#FFFFFF"><TR><TD>'
            f"{escaped(words.calls(hop.calls))}</TD></TR></TABLE>>",
            color=WARNING_COLOUR if hop.undocumented else STEP_COLOUR,
            fontcolor="#212529",
            penwidth="3",
            style="dashed" if hop.undocumented else "solid",
            id=f"ov-{dom_id(hop.source)}--{dom_id(hop.target)}",
            **{"class": "ov-hop" + (" c4-undocumented" if hop.undocumented else "")},
        )
    return graph.source


def _name(eid: str) -> str:
    return "n" + hashlib.sha1(eid.encode()).hexdigest()[:12]  # noqa: S324 - a name, not a secret


def _node(
    graph: graphviz.Digraph,
    model: Model,
    eid: str,
    touched: bool,
    stop: str | None,
    words: OverviewWords,
) -> None:
    """An element by name; faded if the order never touched it; where it is now marked."""
    e = model.elements[eid]
    fill = "#999999" if e.external else FILL.get(e.kind, FILL["container"])
    rows = f"<B>{escaped(e.name)}</B>"
    if stop is not None:
        here = words.finished_here if stop == "finished" else words.now_here
        rows += f'<BR/><FONT POINT-SIZE="{SMALL_POINTS}">{escaped(here)}</FONT>'
    classes = ["ov-element", f"c4-{e.kind}"]
    attrs = {"fillcolor": fill, "fontcolor": "#FFFFFF", "color": fill}
    if not touched:
        classes.append("c4-dimmed")
        attrs = {"fillcolor": "#F1F3F5", "fontcolor": DIMMED_TEXT, "color": "#DEE2E6"}
    if stop is not None:
        classes.append("journey-stop")
        attrs.update(color=STOP_COLOUR, penwidth="4")
    if e.kind == "database":
        attrs["shape"] = "cylinder"
    tooltip = e.name + (f"\n{e.description}" if e.description else "")
    graph.node(
        _name(eid),
        label=f"<{rows}>",
        fontsize=str(NAME_POINTS),
        tooltip=graphviz.escape(visible(tooltip)),
        id=f"ov-{dom_id(eid)}",
        **{"class": " ".join(classes)},
        **attrs,
    )
