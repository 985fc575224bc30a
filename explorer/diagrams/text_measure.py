"""How wide text is drawn, and text cut and wrapped to a width in points.

graphviz measures nothing for us before it draws: overlay text must fit the places reserved
for it, so its width is estimated here from the font's metrics, generously.
"""

from __future__ import annotations

import unicodedata


def _em(c: str) -> float:
    """The advance width of a character, in ems of the widest face graphviz may use."""
    if 0x400 <= ord(c) < 0x530:  # Cyrillic
        return 0.95 if c.isupper() or c in "жшщюмыЖШЩЮМЫ" else 0.74
    if ord(c) > 127:  # other scripts may come from a fallback font, or as hex boxes
        return 2.0 if unicodedata.east_asian_width(c) in "WF" else 1.2
    if c in " ijlI.,:;!|'()[]/":
        return 0.4
    if c in "frt-":
        return 0.5
    if c in "MWmw@%":
        return 1.2
    return 0.78 if c.isupper() or c.isdigit() else 0.7


def text_width(text: str, size: float) -> float:
    """A generous estimate of the width of `text` in points, bold included (graphviz renders
    Helvetica through fontconfig, DejaVu Sans on Debian, whose bold is the widest)."""
    return size * sum(_em(c) for c in text)


def clip(text: str, width: float, size: float = 9) -> str:
    """`text` cut (with an ellipsis) to at most `width` points."""
    if text_width(text, size) <= width:
        return text
    text = text[: int(width / (0.3 * size))]  # no more characters than could ever fit
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def wrap(text: str, width: float, size: float = 9, max_lines: int = 2) -> list[str]:
    """`text` in at most `max_lines` lines of at most `width` points, broken between words;
    what does not fit is cut with an ellipsis."""
    words = text.split()
    lines: list[str] = []
    while words and len(lines) < max_lines:
        line = words.pop(0)
        while words and text_width(f"{line} {words[0]}", size) <= width:
            line += " " + words.pop(0)
        lines.append(line)
    if words:
        lines[-1] += " " + words[0]  # too wide by construction: clip marks the cut
    return [clip(line, width, size) for line in lines]
