"""How wide text is drawn, and text fitted, cut and wrapped to a width in points.

graphviz measures nothing for us before it draws: overlay text must fit the places reserved
for it, so its width is computed here from the advance widths of the widest face it may be
drawn in: DejaVu Sans Bold (graphviz's Helvetica through fontconfig on Debian, and wider than
the Helvetica, Arial or Liberation Sans a browser draws it in). Widths are per character,
for Latin, Cyrillic and the symbols the diagrams use, rounded up; other characters are
estimated generously. A width too small cuts nothing: graphviz widens the cell; a width too
large cuts a number that fits, which is what the table is for.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"
_FIGURE = re.compile(r"[(\[«]?[-+×~≈<>≤≥]?\d")
_SHORTEST = 3  # characters a shortened name keeps

# DejaVu Sans Bold's advance widths in ems (rounded up), read from its hmtx table.
_BOLD_EMS = {
    0.31: "'",
    0.35: " ijlіїј",
    0.37: "/\\|",
    0.38: ",.IJІЇЈ·",
    0.4: ":;",
    0.42: "-",
    0.44: "f",
    0.46: "!()[]",
    0.48: "t",
    0.5: "_`r–°",
    0.53: '"*гѓ',
    0.58: "т",
    0.59: "?zз",
    0.6: "csсэєѕ",
    0.64: "LЃГвь•",
    0.65: "xхя«»",
    0.66: "vyуў",
    0.67: "k",
    0.68: "aeаекѐёќ",
    0.69: "EFToЀЁЕТоч",
    0.7: "$0123456789бнпџ",
    0.71: "ийѝ",
    0.72: "bdghnpqu{}Зрђ",
    0.73: "SYZЅ",
    0.74: "CPЄРСЭлћ",
    0.75: "ц",
    0.76: "ъ",
    0.77: "BБВЬ",
    0.78: "AKRVXЎАУХЯ",
    0.81: "Чд",
    0.82: "UЌКм",
    0.83: "G",
    0.84: "#+<=>DHN^~ЍЏИЙЛНП→←×±≤≥↔✓✗",
    0.86: "OQО",
    0.88: "&ЂЋ●",
    0.9: "Д",
    0.91: "ы",
    0.93: "wЦ",
    0.94: "Ъ",
    0.95: "■",
    0.96: "њ",
    0.98: "ю",
    1.0: "@MМФжфљ…—",
    1.01: "%",
    1.04: "Ы",
    1.05: "m",
    1.07: "ш",
    1.11: "Wщ",
    1.13: "Њ",
    1.16: "Љ",
    1.18: "Ю",
    1.21: "№",
    1.23: "Ж",
    1.24: "Ш",
    1.33: "Щ",
}

_EMS = {c: em for em, chars in _BOLD_EMS.items() for c in chars}


def _em(c: str) -> float:
    """The advance width of a character, in ems of the widest face graphviz may use."""
    if (known := _EMS.get(c)) is not None:
        return known
    if unicodedata.east_asian_width(c) in "WF":
        return 2.0
    return 1.2  # other scripts may come from a fallback font, or as hex boxes


def text_width(text: str, size: float) -> float:
    """The width of `text` in points at `size`, bold included."""
    return size * sum(_em(c) for c in text)


def clip(text: str, width: float, size: float = 9) -> str:
    """`text` cut (with an ellipsis) to at most `width` points: for names only, never for
    text that holds a figure (fit() keeps those whole)."""
    if text_width(text, size) <= width:
        return text
    text = text[: int(width / (0.3 * size))]  # no more characters than could ever fit
    while text and text_width(text + ELLIPSIS, size) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def is_figure(word: str) -> bool:
    """A number as drawn ("526", "5,0", "×3", "+2", "(3", "0.1%", "05.03", "20:41")."""
    return bool(_FIGURE.match(word))


def _chunks(words: list[str]) -> list[str]:
    """Words with each figure joined to the word after it (its unit): never apart."""
    chunks: list[str] = []
    glue = False
    for word in words:
        if glue and chunks:
            chunks[-1] += " " + word
        else:
            chunks.append(word)
        glue = is_figure(word)
    return chunks


def fit(text: str, width: float, size: float = 9, shortest: int = _SHORTEST) -> str:
    """`text` in at most `width` points with every figure and its unit kept whole: the
    longest other words (names: operations, states, queues) are shortened first, each with
    an ellipsis; only when no name is left to shorten is the end cut."""
    if len(text) * 0.3 * size > 3 * width:  # hopeless: shortening names would not do
        return clip(text, width, size)
    words = text.split(" ")
    while (excess := text_width(" ".join(words), size) - width) > 0:
        names = [
            (text_width(w, size), i)
            for i, w in enumerate(words)
            if not is_figure(w)
            and not (i and is_figure(words[i - 1]))
            and not w.endswith(":")  # "SLA:", "error:": what the line is about
            and len(w.rstrip(ELLIPSIS)) > shortest + 1
        ]
        if not names:  # names down to a letter before a figure is ever cut
            if shortest > 1:
                return fit(" ".join(words), width, size, 1)
            return clip(" ".join(words), width, size)
        _, longest = max(names)
        word = words[longest].rstrip(ELLIPSIS)
        keep = len(word) - 1
        while keep > shortest and text_width(word[:keep], size) > text_width(
            word, size
        ) - excess - text_width(ELLIPSIS, size):
            keep -= 1
        words[longest] = word[:keep] + ELLIPSIS
    return " ".join(words)


def wrap(text: str, width: float, size: float = 9, max_lines: int = 2) -> list[str]:
    """`text` in at most `max_lines` lines of at most `width` points, broken between words
    (never between a figure and its unit); what does not fit goes on the last line, fitted
    (names shortened, figures whole)."""
    chunks = _chunks(text.split())
    lines: list[str] = []
    while chunks and len(lines) < max_lines - 1:
        line = chunks.pop(0)
        while chunks and text_width(f"{line} {chunks[0]}", size) <= width:
            line += " " + chunks.pop(0)
        lines.append(line)
    if chunks:
        lines.append(" ".join(chunks))
    return [fit(line, width, size) for line in lines]
