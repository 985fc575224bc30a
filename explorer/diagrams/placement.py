"""Where a label of an overlay goes when the layout reserved no place for it (calls between
elements with no relationship in the model): the free spot nearest the middle of its line."""

from __future__ import annotations

import graphviz

from explorer.c4.model import Model
from explorer.diagrams.dot_labels import TextLine, relationship_texts, text_rows
from explorer.diagrams.model_layout import Box, Layout, NodeBox
from explorer.diagrams.style import LINE, SUMMARY_LINES, SUMMARY_WIDTH
from explorer.diagrams.text_measure import text_width


def _overlaps(a: Box, b: Box, pad: float = 4) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _inside(box: Box, area: Box) -> bool:
    return area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]


def occupied(model: Model, lay: Layout) -> list[Box]:
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
        texts = relationship_texts(r.description, r.technology)
        w = max([SUMMARY_WIDTH] + [text_width(t, 9) for t in texts]) + 4
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
                if _inside(box, area) and not any(_overlaps(box, t) for t in taken):
                    return cx, cy
    return None


def place_label(
    g: graphviz.Digraph,
    dom: str,
    lines: list[TextLine],
    a: NodeBox,
    b: NodeBox,
    taken: list[Box],
    area: Box,
    classes: str,
) -> None:
    """A label of `lines` in the free spot nearest the line between elements a and b (layout
    node boxes), marked taken; nothing when there is no room."""
    size = (max(text_width(t, 9) for t, _, _ in lines) + 8, len(lines) * LINE + 8)
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
        f'BGCOLOR="#FFFFFF">{text_rows(lines)}</TABLE>>',
        **{"class": classes},
    )
