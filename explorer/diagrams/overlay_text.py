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
from explorer.diagrams.text_measure import clip, text_width, wrap
from explorer.diagrams.words import count, milliseconds, word

RATE_UNITS = {"min": 60, "h": 3600}  # a rate people read: per minute or per hour


def metric_text(metric: Metric, unit: str = "min") -> str:
    per = RATE_UNITS.get(unit, 60) * metric.rate
    rate = f"{per:.1f}" if per < 10 else f"{per:.0f}"
    return (
        f"{rate}/{unit if unit in RATE_UNITS else 'min'} · "
        f"{metric.error_rate * 100:.1f}% err · p95 {metric.p95_ms:.0f} ms"
    )


def _state_name(note: Note) -> str:
    return note.text.rsplit("→", 1)[-1].strip()


def _states_line(group: list[Note], lang: str, width: float) -> str:
    """The states an element set, in the longest form that fits one line."""
    names = [_state_name(n) for n in group]
    candidates = [
        "→ " + ", ".join(names),
        f"→ {names[0]} … {names[-1]} ({count(len(names), 'state', lang)})",
        f"→ {names[0]} … {names[-1]}",
        f"{count(len(names), 'state', lang)} → {names[-1]}",
    ]
    text = next((t for t in candidates if text_width(t, 9) <= width), candidates[-1])
    return clip(text, width)


def _severity_lines(severity: str, group: list[Note], lang: str, width: float) -> list[TextLine]:
    colour = SEVERITY_COLOUR.get(severity, SEVERITY_COLOUR["info"])
    if severity == "stop":
        return [
            (line, colour, True)
            for n in group
            for line in wrap(n.text, width, max_lines=NOTE_LINES)
        ]
    if severity == "state":
        return [(_states_line(group, lang, width), colour, False)]
    more = f" (+{len(group) - 1})" if len(group) > 1 else ""
    return [(clip(group[0].text, width - text_width(more, 9)) + more, colour, False)]


def note_lines(
    notes: list[Note],
    metric: Metric | None,
    lang: str,
    unit: str = "min",
    width: float = NOTE_WIDTH - 4,
) -> list[TextLine]:
    """An element's notes in its band: one line per kind (where it stopped first, then
    problems, then the states it set), each kind's first note with how many more; "+N more"
    when the band is full. The full list is in the element's tooltip."""
    lines: list[TextLine] = []
    if metric is not None:
        lines.append((clip(metric_text(metric, unit), width), "#212529", True))
    groups: dict[str, list[Note]] = {}
    for note in notes:
        groups.setdefault(note.severity if note.severity in NOTE_ORDER else "info", []).append(note)
    for severity in NOTE_ORDER:
        if groups.get(severity):
            lines.extend(_severity_lines(severity, groups[severity], lang, width))
    if len(lines) > NOTE_LINES:
        hidden = len(lines) - NOTE_LINES + 1
        lines = lines[: NOTE_LINES - 1] + [
            (word("+%d more", lang) % hidden, SEVERITY_COLOUR["info"], False)
        ]
    return lines


def _operations(steps: list[DiagramStep], reverse: set[int]) -> str:
    """'POST /orders ×3, PUT /orders/{id} ×2' in the order first seen."""
    seen: dict[str, int] = {}
    for step in steps:
        name = ("← " if step.number in reverse else "") + step.label
        seen[name] = seen.get(name, 0) + 1
    return ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in seen.items())


def _call_figures(steps: list[DiagramStep], lang: str) -> tuple[list[str], int]:
    """The lines of figures of the calls (how many, total and slowest time, errors), and the
    number of errors."""
    errors = sum(s.outcome.startswith("error") for s in steps)
    durations = [s.duration_ns for s in steps]
    parts = [count(len(steps), "call", lang)]
    if len(steps) > 1:
        parts += [
            f"{word('total', lang)} {milliseconds(sum(durations), lang)}",
            f"{word('max', lang)} {milliseconds(max(durations), lang)}",
        ]
    else:
        parts.append(milliseconds(durations[0], lang))
    if errors:
        parts.append(count(errors, "error", lang))
    if len(steps) > 1:
        return [" · ".join(parts[:1] + parts[3:]), " · ".join(parts[1:3])], errors
    return [" · ".join(parts)], errors


def summary_lines(
    steps: list[DiagramStep], reverse: set[int], lang: str, width: float = SUMMARY_WIDTH - 2
) -> list[TextLine]:
    """The order's calls on one relationship in two lines: which operations how often;
    how many calls, total and slowest time, errors."""
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
    stats, errors = _call_figures(steps, lang)
    colour = WARNING_COLOUR if undocumented else STEP_COLOUR
    operations = wrap(_operations(steps, reverse), width, max_lines=SUMMARY_LINES - len(stats))
    return [(line, colour, True) for line in operations] + [
        (clip(line, width), SEVERITY_COLOUR["error"] if errors else colour, False) for line in stats
    ]


def step_list(steps: list[DiagramStep], reverse: set[int], lang: str) -> str:
    """The numbered steps of a relationship, for its tooltip."""
    lines = [
        f"{s.number}. {'← ' if s.number in reverse else ''}{s.label} "
        f"{milliseconds(s.duration_ns, lang)} {s.outcome}"
        for s in steps[:TOOLTIP_LINES]
    ]
    if len(steps) > TOOLTIP_LINES:
        lines.append(word("+%d more", lang) % (len(steps) - TOOLTIP_LINES))
    return "\n".join(lines)
