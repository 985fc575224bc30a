"""Where the text of a rendered diagram lies, from graphviz's SVG and the font's own metrics.

graphviz writes each line of text as <text x y font-size text-anchor>; its width is measured
here with the advance widths of the font graphviz and the browser draw it with (DejaVu Sans on
Debian: fontconfig's Helvetica), read from the TrueType file's cmap and hmtx tables.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FONTS = {
    False: Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    True: Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
}
SVG = "{http://www.w3.org/2000/svg}"
ASCENT, DESCENT = 0.76, 0.24  # of the font size: the tops of capitals and the descenders


class Font:
    """Advance widths of a TrueType font, in ems."""

    def __init__(self, path: Path):
        data = path.read_bytes()
        tables = {}
        for i in range(struct.unpack(">H", data[4:6])[0]):
            tag, _, offset, length = struct.unpack(">4sIII", data[12 + 16 * i : 28 + 16 * i])
            tables[tag.decode()] = data[offset : offset + length]
        self.units = struct.unpack(">H", tables["head"][18:20])[0]
        metrics = struct.unpack(">H", tables["hhea"][34:36])[0]
        hmtx = tables["hmtx"]
        self.advances = [struct.unpack(">H", hmtx[4 * i : 4 * i + 2])[0] for i in range(metrics)]
        self.glyphs = self._cmap(tables["cmap"])

    @staticmethod
    def _cmap(cmap: bytes) -> dict[int, int]:
        count = struct.unpack(">H", cmap[2:4])[0]
        for i in range(count):
            platform, encoding, offset = struct.unpack(">HHI", cmap[4 + 8 * i : 12 + 8 * i])
            if (platform, encoding) == (3, 1) and struct.unpack(">H", cmap[offset : offset + 2])[
                0
            ] == 4:
                break
        else:
            raise ValueError("no Unicode BMP cmap (format 4)")
        segments = struct.unpack(">H", cmap[offset + 6 : offset + 8])[0] // 2
        base = offset + 14

        def array(n: int) -> list[int]:
            start = base + n * 2 * segments + (2 if n else 0)
            return list(struct.unpack(f">{segments}H", cmap[start : start + 2 * segments]))

        ends, starts, deltas, range_offsets = array(0), array(1), array(2), array(3)
        ro_base = base + 3 * 2 * segments + 2
        glyphs = {}
        for s in range(segments):
            for code in range(starts[s], ends[s] + 1):
                if code == 0xFFFF:
                    continue
                if range_offsets[s] == 0:
                    glyph = (code + deltas[s]) & 0xFFFF
                else:
                    at = ro_base + 2 * s + range_offsets[s] + 2 * (code - starts[s])
                    glyph = struct.unpack(">H", cmap[at : at + 2])[0]
                    glyph = (glyph + deltas[s]) & 0xFFFF if glyph else 0
                glyphs[code] = glyph
        return glyphs

    def width(self, text: str) -> float:
        """The advance width of `text` in ems (a missing glyph as a full em)."""
        total = 0.0
        for c in text:
            glyph = self.glyphs.get(ord(c))
            if glyph is None:
                total += self.units
            else:
                total += self.advances[min(glyph, len(self.advances) - 1)]
        return total / self.units


@cache
def font(bold: bool) -> Font:
    return Font(FONTS[bold])


@dataclass(frozen=True)
class TextBox:
    text: str
    owner: str  # id of the node or edge group the text belongs to
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(
        self, other: TextBox | tuple[float, float, float, float], tolerance: float = 0.5
    ) -> bool:
        x0, y0, x1, y1 = (
            (other.x0, other.y0, other.x1, other.y1) if isinstance(other, TextBox) else other
        )
        return (
            self.x0 + tolerance < x1
            and x0 + tolerance < self.x1
            and self.y0 + tolerance < y1
            and y0 + tolerance < self.y1
        )


def text_boxes(svg: str) -> list[TextBox]:
    """Every line of text in the SVG with its box, in the SVG's graph coordinates."""
    root = ET.fromstring(svg)  # noqa: S314 - our own renderer's output
    boxes = []

    def walk(element: ET.Element, owner: str) -> None:
        for child in element:
            if child.tag == f"{SVG}g" and child.get("id"):
                # graphviz wraps a node's or edge's content in <g id="a_ID"><a> for its link
                walk(child, child.get("id").removeprefix("a_"))
            elif child.tag == f"{SVG}text":
                text = "".join(child.itertext())
                if not text.strip():
                    continue
                size = float(child.get("font-size", "14"))
                width = font(child.get("font-weight") == "bold").width(text) * size
                x, y = float(child.get("x")), float(child.get("y"))
                anchor = child.get("text-anchor", "start")
                x0 = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
                boxes.append(
                    TextBox(text, owner, x0, y - ASCENT * size, x0 + width, y + DESCENT * size)
                )
            else:
                walk(child, owner)

    walk(root, "")
    return boxes


def overlapping(boxes: list[TextBox]) -> list[tuple[TextBox, TextBox]]:
    """Pairs of lines of text that overlap (sorted sweep over x)."""
    found = []
    ordered = sorted(boxes, key=lambda b: b.x0)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.x0 >= a.x1:
                break
            if a.overlaps(b):
                found.append((a, b))
    return found
