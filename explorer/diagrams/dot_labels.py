"""The HTML-like labels and shapes of a model's nodes, boundaries, relationships and legend
in DOT, the same for the layout and for every drawing (so the positions fit the drawing).

All model and trace text reaches DOT only inside these labels, escaped with html.escape.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence

from explorer.c4.model import Element
from explorer.diagrams.style import (
    DESCRIPTION_CHARS,
    DIMMED_TEXT,
    EXTERNAL_FILL,
    FILL,
    LINE,
    NOTE_LINES,
    NOTE_WIDTH,
    RELATIONSHIP_CHARS,
    SEVERITY_COLOUR,
    STEP_COLOUR,
    STOP_COLOUR,
    SUMMARY_LINES,
    SUMMARY_WIDTH,
    TYPE_NAME,
    WARNING_COLOUR,
)
from explorer.diagrams.words import word
from explorer.traces.visible import visible_line

TextLine = tuple[str, str, bool]  # text (already clipped), colour, bold


def escaped(text: object) -> str:
    """Text for an HTML-like label: escaped, control and bidi characters as symbols."""
    return html.escape(visible_line(str(text)), quote=True)


def _lines(text: str, width: int) -> str:
    return "<BR/>".join(escaped(line) for line in textwrap.wrap(text, width)[:4])


def dom_id(element_id: str) -> str:
    """The id of an element's group in the SVG."""
    return "el-" + re.sub(r"[^A-Za-z0-9_-]", "_", element_id)


def _element_text_colour(e: Element) -> str:
    return "#FFFFFF" if e.kind != "component" or e.external else "#000000"


def has_notes_band(e: Element) -> bool:
    """Containers run code, so they are where notes go; people, stores and queues have none."""
    return e.kind == "container"


def text_rows(lines: Sequence[TextLine]) -> str:
    """Rows of a nested table: (text, colour, bold), left-aligned, already clipped."""
    rows = []
    for text, colour, bold in lines:
        body = f"<B>{escaped(text)}</B>" if bold else escaped(text)
        rows.append(
            f'<TR><TD ALIGN="LEFT" HEIGHT="{LINE - 1}"><FONT POINT-SIZE="9" '
            f'COLOR="{colour}">{body}</FONT></TD></TR>'
        )
    return "".join(rows)


def _reserved(
    width: int, lines: int, content: Sequence[TextLine], background: str | None = None
) -> str:
    """A cell of the reserved size (so the layout is the same whatever it holds) with the
    lines at its top, clipped to fit it; a minimum, not FIXEDSIZE: text that a font draws
    wider than estimated then widens the cell a little instead of failing graphviz's
    assertions. Lines, not a nested table: graphviz stretches a nested table to its cell."""
    text = "".join(
        f'<FONT POINT-SIZE="9" COLOR="{colour}">'
        f'{f"<B>{escaped(line)}</B>" if bold else escaped(line)}</FONT><BR ALIGN="LEFT"/>'
        for line, colour, bold in content
    )
    bg = f' BGCOLOR="{background}" STYLE="rounded"' if background and content else ""
    return (
        f'<TD WIDTH="{width}" HEIGHT="{lines * LINE + 4}" ALIGN="LEFT"'
        f' BALIGN="LEFT" CELLPADDING="2"{bg}>{text}</TD>'
    )


def node_label(e: Element, lang: str, notes: Sequence[TextLine] = (), dimmed: bool = False) -> str:
    colour = DIMMED_TEXT if dimmed else _element_text_colour(e)
    kind = (word("External", lang) + " " if e.external else "") + word(TYPE_NAME[e.kind], lang)
    if e.external and lang == "ru":
        kind = kind.lower().capitalize()
    type_line = f"[{kind}: {e.technology}]" if e.technology and e.kind != "person" else f"[{kind}]"
    rows = []
    if e.kind == "person":
        rows.append(f'<TR><TD><FONT POINT-SIZE="22" COLOR="{colour}">&#9679;</FONT></TD></TR>')
    rows.append(
        f'<TR><TD><FONT POINT-SIZE="13" COLOR="{colour}"><B>{escaped(e.name)}</B></FONT></TD></TR>'
    )
    rows.append(
        f'<TR><TD><FONT POINT-SIZE="9" COLOR="{colour}">{escaped(type_line)}</FONT></TD></TR>'
    )
    if e.description:
        rows.append(
            f'<TR><TD><FONT POINT-SIZE="9" COLOR="{colour}">'
            f"{_lines(e.description, DESCRIPTION_CHARS)}</FONT></TD></TR>"
        )
    if has_notes_band(e):
        rows.append(f"<TR>{_reserved(NOTE_WIDTH, NOTE_LINES, notes, '#FFFFFF')}</TR>")
    return (
        f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        f"{''.join(rows)}</TABLE>>"
    )


def boundary_label(e: Element, lang: str) -> str:
    kind = word("Software System" if e.kind == "software_system" else "Boundary", lang)
    return (
        f'<<FONT POINT-SIZE="12"><B>{escaped(e.name)}</B></FONT><BR ALIGN="LEFT"/>'
        f'<FONT POINT-SIZE="9">[{escaped(kind)}]</FONT><BR ALIGN="LEFT"/>>'
    )


def relationship_texts(description: str, technology: str) -> list[str]:
    """The lines of the model's words for a relationship, as its label shows them."""
    return textwrap.wrap(description, RELATIONSHIP_CHARS)[:4] + (
        [f"[{technology}]"] if technology else []
    )


def relationship_label(description: str, technology: str, summary: Sequence[TextLine] = ()) -> str:
    """The model's words for the relationship, and below them the order's calls on it."""
    rows = []
    if description:
        rows.append(f"<TR><TD>{_lines(description, RELATIONSHIP_CHARS)}</TD></TR>")
    if technology:
        rows.append(f"<TR><TD>[{escaped(technology)}]</TD></TR>")
    return (
        f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        f'<TR><TD><FONT POINT-SIZE="9" COLOR="#555555"><TABLE BORDER="0" CELLSPACING="0" '
        f'CELLPADDING="0">{"".join(rows) or "<TR><TD></TD></TR>"}</TABLE></FONT></TD></TR>'
        f"<TR>{_reserved(SUMMARY_WIDTH, SUMMARY_LINES, summary)}</TR></TABLE>>"
    )


LEGENDS = ("journey", "trace", "map")


def _overlay_rows(kind: str) -> list[tuple[str, str, str]]:
    """What the overlay's lines and colours mean on a kind of drawing: (text, colour,
    prefix). The layout reserves the journey's legend, the longest."""
    if kind == "map":
        return [
            ("calls in the window: rate · errors · p95", "#212529", "&#8594; "),
            ("call seen in traces, not in the model", WARNING_COLOUR, "- - "),
            ("selected element", "#F08C00", "&#9632; "),
        ]
    calls = "calls of this trace" if kind == "trace" else "calls of this order"
    rows = [
        (f"{calls}: count, total, slowest", STEP_COLOUR, "&#8594; "),
        ("undocumented call (not in the model)", WARNING_COLOUR, "- - "),
    ]
    if kind == "journey":
        rows.append(("where the order is now", STOP_COLOUR, "&#9632; "))
    rows += [
        ("state change", SEVERITY_COLOUR["state"], ""),
        ("error", SEVERITY_COLOUR["error"], ""),
        ("SLA breach", SEVERITY_COLOUR["sla"], ""),
    ]
    if kind == "journey":
        rows.append(("anomaly", SEVERITY_COLOUR["anomaly"], ""))
    return rows


def legend_label(lang: str, kind: str = "journey") -> str:
    """The legend of a drawing of `kind` (LEGENDS) in `lang`."""

    def row(fill: str, text: str, font: str = "#FFFFFF", prefix: str = "") -> str:
        return (
            f'<TR><TD BGCOLOR="{fill}" ALIGN="LEFT"><FONT COLOR="{font}" POINT-SIZE="9">'
            f"{prefix}{escaped(word(text, lang))}</FONT></TD></TR>"
        )

    return (
        '<<TABLE BORDER="1" COLOR="#AAAAAA" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3">'
        f'<TR><TD><FONT POINT-SIZE="10"><B>{escaped(word("Legend", lang))}</B></FONT></TD></TR>'
        + row(FILL["person"], "person")
        + row(FILL["software_system"], "software system")
        + row(FILL["container"], "container (database: cylinder, queue: pipe)")
        + row(FILL["component"], "component", "#000000")
        + row(EXTERNAL_FILL, "external element")
        + row("#FFFFFF", "relationship in the model", "#555555", "&#8594; ")
        + "".join(
            row("#FFFFFF", text, colour, prefix) for text, colour, prefix in _overlay_rows(kind)
        )
        + "</TABLE>>"
    )


def shape(e: Element) -> dict[str, str]:
    """The DOT attributes of an element's outline."""
    fill = EXTERNAL_FILL if e.external else FILL[e.kind]
    attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "color": "#2E3A46"}
    if e.kind == "database":
        attrs.update(shape="cylinder", style="filled")
    elif e.kind == "queue":  # a box in DOT, redrawn as a horizontal pipe in the SVG
        attrs.update(style="filled", margin="0.3,0.08")
    return attrs
