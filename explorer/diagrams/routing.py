"""Lines for calls the model does not document, routed by graphviz around everything drawn.

The layout has no place for them (elements never move between drawings), so their labels
are placed first (placement), and then graphviz's own spline router (`neato -n2`,
splines=true) draws each line from element to element around every element and every
text: the relationships' labels, the legend, the boundaries' titles, the metrics and the
calls' own labels. What it returns is the edge's `pos`, drawn as any other.
"""

from __future__ import annotations

import json

import graphviz

from explorer.diagrams.model_layout import Box, Layout

GAP = 6.0  # points kept between obstacles: the router refuses ones that touch


def _near(a: Box, b: Box, gap: float = GAP) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _merged(boxes: list[Box]) -> list[Box]:
    """Boxes that touch joined into one (no line could pass between them anyway)."""
    out: list[Box] = []
    for box in boxes:
        joined = True
        while joined:
            joined = False
            for i, other in enumerate(out):
                if _near(box, other):
                    box, joined = _union(box, out.pop(i)), True
                    break
        out.append(box)
    return out


def _clear_of(box: Box, element: Box) -> Box | None:
    """`box` cut back to keep clear of an element it touches (the side that keeps most of
    it), or None when nothing is left."""
    x0, y0, x1, y1 = box
    cuts = [
        (x0, y0, min(x1, element[0] - GAP), y1),
        (max(x0, element[2] + GAP), y0, x1, y1),
        (x0, y0, x1, min(y1, element[1] - GAP)),
        (x0, max(y0, element[3] + GAP), x1, y1),
    ]
    best = max(
        cuts, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]) if b[2] > b[0] and b[3] > b[1] else 0
    )
    return best if best[2] - best[0] > 1 and best[3] - best[1] > 1 else None


def _node(name: str, box: Box) -> str:
    x0, y0, x1, y1 = box
    return (
        f'{name} [pos="{(x0 + x1) / 2:.2f},{(y0 + y1) / 2:.2f}!" '
        f"width={(x1 - x0) / 72:.4f} height={(y1 - y0) / 72:.4f}]"
    )


def routes(
    lay: Layout,
    names: dict[str, str],
    calls: list[tuple[str, str, str]],
    obstacles: list[Box],
) -> dict[str, str]:
    """Edge id -> graphviz's spline (`pos`) for each (id, source, target) call between laid-out
    elements, around the elements and `obstacles` (text boxes, in graph points)."""
    if not calls:
        return {}
    elements = {
        eid: (x - w * 36, y - h * 36, x + w * 36, y + h * 36)
        for eid, (x, y, w, h) in lay.nodes.items()
    }
    kept = []
    for merged in _merged(obstacles):
        box: Box | None = merged
        for element in elements.values():
            if box is not None and _near(box, element):
                box = _clear_of(box, element)
        if box is not None:
            kept.append(box)
    # notranslate: graphviz would otherwise move its output so that the lowest, leftmost box
    # sits at 0,0, and the line would be drawn that far off the text it was routed around
    lines = [
        'digraph r { splines=true; esep="+1"; notranslate=true;',
        'node [shape=box fixedsize=true label=""];',
    ]
    lines += [_node(names[eid], box) for eid, box in elements.items()]
    lines += [_node(f"o{i}", box) for i, box in enumerate(kept)]  # disjoint: cut from disjoint
    lines += [f'{names[s]} -> {names[t]} [id="{dom}"];' for dom, s, t in calls]
    lines.append("}")
    out = graphviz.pipe("neato", "json", "\n".join(lines).encode(), neato_no_op=2, quiet=True)
    return {e["id"]: e["pos"] for e in json.loads(out).get("edges", []) if "pos" in e}
