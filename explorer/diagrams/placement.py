"""Where a label of an overlay goes when the layout reserved no place for it (calls between
elements with no relationship in the model): the free spot nearest the middle of its line."""

from __future__ import annotations

from dataclasses import dataclass, field

import graphviz

from explorer.c4.model import Model
from explorer.diagrams.dot_labels import TextLine, relationship_texts, text_rows
from explorer.diagrams.model_layout import Box, Layout, NodeBox
from explorer.diagrams.style import LINE, SUMMARY_LINES, SUMMARY_WIDTH
from explorer.diagrams.text_measure import text_width

CELL = 4.0  # points: the grid the lines' points are kept on
BLOCK = 64.0  # points: the grid the taken boxes are kept on
PAD = 4  # points kept between labels and what is taken


def _blocks(box: Box) -> list[tuple[int, int]]:
    x0, y0, x1, y1 = (
        int((v + d) // BLOCK) for v, d in zip(box, (-PAD, -PAD, PAD, PAD), strict=True)
    )
    return [(i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1)]


def _overlaps(a: Box, b: Box, pad: float = PAD) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _inside(box: Box, area: Box) -> bool:
    return area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]


def occupied_elements(lay: Layout) -> list[Box]:
    """The boxes of the laid-out elements."""
    return [(x - w * 36, y - h * 36, x + w * 36, y + h * 36) for x, y, w, h in lay.nodes.values()]


def occupied(model: Model, lay: Layout) -> list[Box]:
    """Where the layout has put something: elements, the legend, relationship labels (as
    reserved, generously estimated) and the boundaries' titles."""
    x, y, w, h = lay.legend
    boxes = occupied_elements(lay) + [(x - w * 36, y - h * 36, x + w * 36, y + h * 36)]
    for index, (_, lp) in lay.edges.items():
        if not lp:
            continue
        r = model.relationships[index]
        x, y = (float(v) for v in lp.split(","))
        texts = relationship_texts(r.description, r.technology)
        w = max([SUMMARY_WIDTH] + [text_width(t, 9) for t in texts]) + 4
        h = (len(texts) + SUMMARY_LINES) * LINE + 8
        boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
    for eid, (x0, y0, x1, _) in lay.clusters.items():
        # a drawing's boundary is a node: its title is centred at the bottom
        e = model.elements[eid]
        half = max(text_width(e.name, 12), text_width(f"[{e.technology or e.kind}]", 9)) / 2 + 12
        boxes.append(((x0 + x1) / 2 - half, y0, (x0 + x1) / 2 + half, y0 + 36))
    return boxes


def spline_points(pos: str) -> list[tuple[float, float]]:
    """Points along a graphviz spline (`pos`: cubic Bézier control points after optional
    s,x,y and e,x,y arrow ends), at most 3 points apart (Room's cells keep them)."""
    points = [
        (float(x), float(y))
        for part in pos.split()
        for x, y in [part.split(",")[-2:]]
        if not part.startswith(("s,", "e,"))
    ]
    found = []
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i : i + 4]
        hull = sum(abs(b[0] - a[0]) + abs(b[1] - a[1]) for a, b in ((p0, p1), (p1, p2), (p2, p3)))
        count = max(2, int(hull / 3) + 1)  # the control polygon is never shorter than the curve
        for n in range(count + 1):
            t = n / count
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
            found.append(
                (
                    a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
                )
            )
    return found


def edge_points(lay: Layout) -> list[tuple[float, float]]:
    """Points along the relationships' lines."""
    return [point for pos, _ in lay.edges.values() for point in spline_points(pos)]


@dataclass
class Room:
    """Where a label may go: inside `area`, clear of the `taken` boxes (which it joins once
    placed) and of the lines drawn (points along them, kept as the CELL-point squares they
    fall in: a label keeps at least 3 points, at most CELL + 3, from a line)."""

    taken: list[Box]
    area: Box
    cells: set[tuple[int, int]] = field(default_factory=set)
    # the taken boxes by the BLOCK-point squares they cover: a candidate is checked only
    # against its neighbours (thousands of candidates are tried for one label)
    blocks: dict[tuple[int, int], list[Box]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for box in self.taken:
            self._index(box)

    def _index(self, box: Box) -> None:
        for key in _blocks(box):
            self.blocks.setdefault(key, []).append(box)

    def take(self, box: Box) -> None:
        self.taken.append(box)
        self._index(box)

    def add_line(self, points: list[tuple[float, float]]) -> None:
        self.cells.update((int(x // CELL), int(y // CELL)) for x, y in points)

    def _on_a_line(self, box: Box) -> bool:
        """Whether a line runs into the box: through the cells along its border (a line
        starts and ends in elements, which are taken, so it cannot lie wholly inside)."""
        x0, y0, x1, y1 = (int(v // CELL) for v in (box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3))
        cells = self.cells
        return any(
            (i, y0) in cells or (i, y0 + 1) in cells or (i, y1) in cells or (i, y1 - 1) in cells
            for i in range(x0, x1 + 1)
        ) or any(
            (x0, j) in cells or (x0 + 1, j) in cells or (x1, j) in cells or (x1 - 1, j) in cells
            for j in range(y0, y1 + 1)
        )

    def free(self, box: Box) -> bool:
        return (
            _inside(box, self.area)
            and not any(_overlaps(box, t) for key in _blocks(box) for t in self.blocks.get(key, ()))
            and not self._on_a_line(box)
        )


def _outline(node: NodeBox, count: int = 80) -> list[tuple[float, float]]:
    """Points around an element's box from the middle of its top, round to the middle of its
    bottom halfway (graph coordinates, y up), and back."""
    x, y, w, h = node
    half_w, half_h = w * 36, h * 36
    corners = [
        (x, y + half_h),
        (x + half_w, y + half_h),
        (x + half_w, y - half_h),
        (x - half_w, y - half_h),
        (x - half_w, y + half_h),
        (x, y + half_h),
    ]
    sides = list(zip(corners, corners[1:], strict=False))
    lengths = [abs(bx - ax) + abs(by - ay) for (ax, ay), (bx, by) in sides]
    total, points = sum(lengths), []
    for n in range(count):
        at = total * n / count
        for ((ax, ay), (bx, by)), length in zip(sides, lengths, strict=True):
            if at <= length:
                points.append((ax + (bx - ax) * at / length, ay + (by - ay) * at / length))
                break
            at -= length
    return points


def _size(lines: list[TextLine]) -> tuple[float, float]:
    """The size of a label node: rows of LINE - 1 points, each padded 2 points round."""
    return max(text_width(t, 9) for t, _, _ in lines) + 8, len(lines) * (LINE + 3) + 4


def _label_node(
    g: graphviz.Digraph,
    dom: str,
    lines: list[TextLine],
    spot: tuple[float, float],
    room: Room,
    classes: str,
) -> None:
    (x, y), (w, h) = spot, _size(lines)
    room.take((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
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


def _spot_along(
    points: list[tuple[float, float]], size: tuple[float, float], room: Room
) -> tuple[float, float] | None:
    """The centre of a free box of `size` beside a line (its points), nearest the line
    first, then nearest its middle."""
    w, h = size
    middle = len(points) // 2
    order = sorted(range(len(points)), key=lambda i: abs(i - middle))[:: max(1, len(points) // 40)]
    sides = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))
    for offset in range(4, 260, 8):
        for i in order:
            x, y = points[i]
            for dx, dy in sides:
                cx, cy = x + dx * (w / 2 + offset), y + dy * (h / 2 + offset)
                if room.free((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)):
                    return cx, cy
    return None


def place_label(
    g: graphviz.Digraph,
    dom: str,
    lines: list[TextLine],
    line: list[tuple[float, float]],
    room: Room,
    classes: str,
) -> None:
    """A label of `lines` in the free spot nearest the middle of the line it labels (its
    points), marked taken; nothing when there is no room."""
    spot = _spot_along(line, _size(lines), room)
    if spot is not None:
        _label_node(g, dom, lines, spot, room, classes)


def place_by(
    g: graphviz.Digraph, dom: str, lines: list[TextLine], node: NodeBox, room: Room, classes: str
) -> None:
    """A label of `lines` right under an element (or the free spot nearest it), clear of the
    relationships' lines, marked taken; nothing when there is no room."""
    spot = _spot_along(_outline(node), _size(lines), room)
    if spot is not None:
        _label_node(g, dom, lines, spot, room, classes)
