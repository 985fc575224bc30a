"""Checks of a rendered diagram's SVG, as pure functions over its text (no browser): a
number cut off ("макс. 52…"), a line drawn across text it does not belong to, text over text.

Text boxes come from tests.diagram_text (graphviz's x/y/font-size/text-anchor and the advance
widths of the font the text is drawn in); edge lines are graphviz's <path d="M… C…"> of every
edge group, sampled along their cubic Bézier curves.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tests.diagram_text import SVG, TextBox, overlapping, text_boxes

SAMPLES = 24  # points per Bézier segment: every 2-5 pt on a diagram's edges
INSET = 1.0  # a line may graze the edge of a text's box (its ascent and descent are generous)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def cut_numbers(svg: str) -> list[str]:
    """Every line of text that ends in an ellipsis and holds a digit: a number or unit may
    have been cut off."""
    root = ET.fromstring(svg)  # noqa: S314 - our own renderer's output
    found = []
    for text in root.iter(f"{SVG}text"):
        content = "".join(text.itertext()).strip()
        if content.endswith("…") and any(c.isdigit() for c in content):
            found.append(f"cut: {content!r}")
    return found


def _points(d: str) -> list[tuple[float, float]]:
    """Points along a path of M, C and L commands (all graphviz writes for edges)."""
    points: list[tuple[float, float]] = []
    for command, args in re.findall(r"([MCL])([^MCLZz]*)", d):
        values = [float(v) for v in _NUMBER.findall(args)]
        pairs = list(zip(values[::2], values[1::2], strict=False))
        if command == "M":
            points += pairs[:1]
            points += pairs[1:]
        elif command == "L":
            points += pairs
        else:
            for i in range(0, len(pairs) - 2, 3):
                p0, (p1, p2, p3) = points[-1], pairs[i : i + 3]
                for n in range(1, SAMPLES + 1):
                    t = n / SAMPLES
                    a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
                    points.append(
                        (
                            a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0],
                            a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1],
                        )
                    )
    return points


def edge_lines(svg: str) -> dict[str, list[list[tuple[float, float]]]]:
    """The id of every edge group -> the sampled points of each of its paths."""
    root = ET.fromstring(svg)  # noqa: S314 - our own renderer's output
    lines: dict[str, list[list[tuple[float, float]]]] = {}
    for group in root.iter(f"{SVG}g"):
        if "edge" not in (group.get("class") or "").split():
            continue
        for path in group.iter(f"{SVG}path"):
            if path.get("visibility") == "hidden" or not path.get("d"):
                continue  # the typical path's under-line: shown only over the same line
            lines.setdefault(group.get("id") or "", []).append(_points(path.get("d") or ""))
    return lines


def _inside(point: tuple[float, float], box: TextBox) -> bool:
    x, y = point
    return box.x0 + INSET < x < box.x1 - INSET and box.y0 + INSET < y < box.y1 - INSET


def _crosses(points: list[tuple[float, float]], box: TextBox) -> bool:
    """Whether the polyline through `points` enters the box (its segments, finely)."""
    for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
        if max(ax, bx) < box.x0 or min(ax, bx) > box.x1:
            continue
        if max(ay, by) < box.y0 or min(ay, by) > box.y1:
            continue
        steps = max(1, int(max(abs(bx - ax), abs(by - ay)) / 1.5))
        if any(
            _inside((ax + (bx - ax) * k / steps, ay + (by - ay) * k / steps), box)
            for k in range(steps + 1)
        ):
            return True
    return False


def crossings(svg: str) -> list[str]:
    """Every edge line that runs through a line of text that is not its own label's."""
    boxes = text_boxes(svg)
    found = []
    for edge, paths in edge_lines(svg).items():
        for box in boxes:
            if box.owner != edge and any(_crosses(points, box) for points in paths):
                found.append(f"{edge} crosses {box.owner} {box.text!r}")
    return found


def overlaps(svg: str) -> list[str]:
    """Every line of text over another one (tests.diagram_text.overlapping)."""
    return [
        f"{a.owner} {a.text!r} over {b.owner} {b.text!r}" for a, b in overlapping(text_boxes(svg))
    ]


def findings(svg: str) -> list[str]:
    """Everything wrong with a diagram's text: cut numbers, crossed text, text over text."""
    return cut_numbers(svg) + crossings(svg) + overlaps(svg)
