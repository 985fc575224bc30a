"""The words an overlay puts on a diagram, fitted to the places reserved for them: an
element's notes band, a relationship's summary of the order's calls, tooltips, metrics."""

from __future__ import annotations

from explorer.diagrams.dot_labels import TextLine
from explorer.diagrams.overlay import DiagramStep, Metric, Note
from explorer.diagrams.style import (
    NOTE_LINES,
    NOTE_ORDER,
    NOTE_WIDTH,
    SEVERITY_COLOUR,
    STEP_COLOUR,
    SUMMARY_LINES,
    SUMMARY_WIDTH,
    TOOLTIP_LINES,
    WARNING_COLOUR,
)
from explorer.diagrams.text_measure import ELLIPSIS, fit, text_width, wrap
from explorer.diagrams.words import count, decimal, milliseconds, outcome, word

RATE_UNITS = {"min": 60, "h": 3600}  # a rate people read: per minute or per hour
MORE = "+%d more"


def metric_parts(metric: Metric, unit: str = "min", lang: str = "en") -> list[str]:
    """A metric's figures: rate, error rate, p95 ('0,1/мин', '0,1% ош.', 'p95 66 мс')."""
    unit = unit if unit in RATE_UNITS else "min"
    per = RATE_UNITS[unit] * metric.rate
    return [
        f"{decimal(per, 1 if per < 10 else 0, lang)}/{word(unit, lang)}",
        f"{decimal(metric.error_rate * 100, 1, lang)}% {word('err', lang)}",
        f"p95 {decimal(metric.p95_ms, 0, lang)} {word('ms', lang)}",
    ]


def metric_text(metric: Metric, unit: str = "min", lang: str = "en") -> str:
    return " · ".join(metric_parts(metric, unit, lang))


def figure_lines(parts: list[str], width: float, size: float = 9) -> list[str]:
    """Figures joined by ' · ' in as few lines of `width` as hold them whole."""
    lines: list[str] = []
    for part in parts:
        if lines and text_width(f"{lines[-1]} · {part}", size) <= width:
            lines[-1] += f" · {part}"
        else:
            lines.append(fit(part, width, size))
    return lines


def metric_lines(metric: Metric, unit: str, lang: str, width: float) -> list[TextLine]:
    return [
        (line, "#212529", True)
        for line in figure_lines(metric_parts(metric, unit, lang), width, 9.0)
    ]


def _state_name(note: Note) -> str:
    return note.text.rsplit("→", 1)[-1].strip()


def _states_line(group: list[Note], lang: str, width: float) -> str:
    """The states an element set, in the longest form that fits one line (state names are
    shortened before the count is)."""
    names = [_state_name(n) for n in group]
    candidates = [
        "→ " + ", ".join(names),
        f"→ {names[0]} … {names[-1]} ({count(len(names), 'state', lang)})",
        f"→ {names[0]} … {names[-1]}",
        f"→ {names[-1]} ({count(len(names), 'state', lang)})",
    ]
    text = next((t for t in candidates if text_width(t, 9) <= width), candidates[-1])
    return fit(text, width)


def _kind_lines(severity: str, group: list[Note], lang: str, width: float, most: int) -> list[str]:
    """The lines of one kind of note: the states set, or the first note (with how many more
    of its kind) in at most `most` lines."""
    if severity == "state":
        return [_states_line(group, lang, width)]
    more = f" (+{len(group) - 1})" if len(group) > 1 else ""
    return wrap(group[0].text + more, width, max_lines=most)


def _figure_cut(line: str) -> bool:
    return line.endswith(ELLIPSIS) and any(c.isdigit() for c in line)


def _band_lines(
    groups: dict[str, list[Note]], lang: str, width: float, room: int
) -> list[TextLine]:
    """Every kind of note in one line each; kinds too long for one line get a second line, in
    order of importance, while the band has room."""
    kinds = [k for k in NOTE_ORDER if k != "stop" and groups.get(k)]
    lines = {k: _kind_lines(k, groups[k], lang, width, 1) for k in kinds}
    for k in kinds:
        cut = _figure_cut(lines[k][-1])
        if sum(map(len, lines.values())) >= room and not cut:
            continue  # no room: a shortened name is whole in the tooltip, a figure never cut
        longer = _kind_lines(k, groups[k], lang, width, 2)
        if len(longer) > 1 and longer != lines[k]:
            lines[k] = longer
    colour = SEVERITY_COLOUR
    return [(t, colour.get(k, colour["info"]), False) for k in kinds for t in lines[k]]


def note_lines(
    notes: list[Note],
    metric: Metric | None,
    lang: str,
    unit: str = "min",
    width: float = NOTE_WIDTH - 4,
) -> list[TextLine]:
    """An element's notes in its band: where it stopped first (whole, never dropped), then
    one line per kind (problems, then the states it set), each kind's first note with how
    many more; "+N more" when the band is full. The full list is in the element's tooltip."""
    lines: list[TextLine] = metric_lines(metric, unit, lang, width) if metric else []
    groups: dict[str, list[Note]] = {}
    for note in notes:
        groups.setdefault(note.severity if note.severity in NOTE_ORDER else "info", []).append(note)
    for n in groups.get("stop", []):
        stop = wrap(n.text, width, max_lines=NOTE_LINES)
        lines += [(line, SEVERITY_COLOUR["stop"], True) for line in stop]
    kept = len(lines)
    lines += _band_lines(groups, lang, width, NOTE_LINES - kept)
    if len(lines) > NOTE_LINES:
        shown = max(kept, NOTE_LINES - 1)
        lines = lines[:shown] + (
            [(word(MORE, lang) % (len(lines) - shown), SEVERITY_COLOUR["info"], False)]
            if shown < NOTE_LINES
            else []
        )
    return lines


def _operations(steps: list[DiagramStep], reverse: set[int]) -> list[str]:
    """['POST /orders ×3', 'PUT /orders/{id} ×2'] in the order first seen."""
    seen: dict[str, int] = {}
    for step in steps:
        name = ("← " if step.number in reverse else "") + step.label
        seen[name] = seen.get(name, 0) + 1
    return [f"{name} ×{n}" if n > 1 else name for name, n in seen.items()]


def packed(items: list[str], width: float, most: int, lang: str) -> list[str]:
    """Items joined by commas in at most `most` lines of `width`, each whole or with its name
    shortened (its count kept); those that find no room counted at the end ("+2 more")."""
    lines: list[str] = []
    for n, item in enumerate(items):
        item = fit(item, width)
        if lines and text_width(f"{lines[-1]}, {item}", 9) <= width:
            lines[-1] += f", {item}"
        elif len(lines) < most:
            lines.append(item)
        else:
            return _with_rest(lines, len(items) - n, width, lang)
    return lines


def _with_rest(lines: list[str], hidden: int, width: float, lang: str) -> list[str]:
    """The lines ending in how many items found no room, items dropped until it fits."""
    items = lines[-1].split(", ")
    while True:
        rest = word(MORE, lang) % hidden
        last = ", ".join(items + [rest]) if items else rest
        if text_width(last, 9) <= width or not items:
            return lines[:-1] + [fit(last, width)]
        items.pop()
        hidden += 1


def _call_figures(steps: list[DiagramStep], lang: str, width: float) -> tuple[list[str], int]:
    """The lines of figures of the calls (how many, total and slowest time, errors), each
    figure whole, and the number of errors."""
    errors = sum(s.outcome.startswith("error") for s in steps)
    durations = [s.duration_ns for s in steps]
    calls = [count(len(steps), "call", lang)]
    problems = [count(errors, "error", lang)] if errors else []
    if len(steps) == 1:
        return figure_lines(calls + [milliseconds(durations[0], lang)] + problems, width), errors
    times = [
        f"{word('total', lang)} {milliseconds(sum(durations), lang)}",
        f"{word('max', lang)} {milliseconds(max(durations), lang)}",
    ]
    return figure_lines(calls + problems, width) + figure_lines(times, width), errors


def summary_lines(
    steps: list[DiagramStep], reverse: set[int], lang: str, width: float = SUMMARY_WIDTH - 2
) -> list[TextLine]:
    """The order's calls on one relationship in a few lines: which operations how often;
    how many calls, total and slowest time, errors (every figure whole)."""
    if not steps:
        return []
    undocumented = any(s.undocumented for s in steps)
    if not any(s.timed for s in steps):
        return [
            (line, STEP_COLOUR, True)
            for line in wrap(
                ", ".join(dict.fromkeys(s.label for s in steps)), width, max_lines=SUMMARY_LINES
            )
        ]
    stats, errors = _call_figures(steps, lang, width)
    colour = WARNING_COLOUR if undocumented else STEP_COLOUR
    room = max(1, SUMMARY_LINES - len(stats))
    operations = packed(_operations(steps, reverse), width, room, lang)
    return [(line, colour, True) for line in operations] + [
        (line, SEVERITY_COLOUR["error"] if errors else colour, False) for line in stats
    ]


def step_list(steps: list[DiagramStep], reverse: set[int], lang: str) -> str:
    """The numbered steps of a relationship, for its tooltip."""
    lines = [
        f"{s.number}. {'← ' if s.number in reverse else ''}{s.label} "
        f"{milliseconds(s.duration_ns, lang)} {outcome(s.outcome, lang)}"
        for s in steps[:TOOLTIP_LINES]
    ]
    if len(steps) > TOOLTIP_LINES:
        lines.append(word(MORE, lang) % (len(steps) - TOOLTIP_LINES))
    return "\n".join(lines)
