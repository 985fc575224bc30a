"""Nothing cut, nothing crossed, every word in the page's language: the checker of
tests/diagram_checks.py on tiny hand-written SVGs (it can fail), then on every diagram the
explorer draws of two simulated data sets, in English and Russian: every order's journey, the
system map of every window the page offers, the trace diagram and every tour step."""

import io
import re

import pytest
from django.core.management import call_command

from explorer.c4.traceset import read_traces
from explorer.diagrams.journey import journey_overlay, journey_stops
from explorer.diagrams.overlay import Note, Overlay, overlay_from_traces, system_map
from explorer.diagrams.overlay_text import note_lines, packed
from explorer.diagrams.render import render_svg
from explorer.diagrams.text_measure import fit, text_width, wrap
from explorer.journeys.reporting import report_orders
from explorer.sources.memory import MemorySource
from explorer.tours.illustrate import step_overlay
from explorer.tours.tourfile import read_file
from explorer.web.analytics import WINDOWS, rate_unit
from tests.diagram_checks import crossings, cut_numbers, findings, overlaps
from tests.test_diagram_overlap import SHIPPED, explorer_config

LANGUAGES = ("en", "ru")
SEEDS = (7, 11)


def svg(body: str) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg"><g id="graph0" class="graph">{body}</g></svg>'


def text(x, y, content, owner="node1", anchor="start"):
    return (
        f'<g id="{owner}" class="node"><text text-anchor="{anchor}" x="{x}" y="{y}" '
        f'font-family="Helvetica,sans-Serif" font-size="9.00">{content}</text></g>'
    )


def edge(d, owner="edge1", label=""):
    return f'<g id="{owner}" class="edge"><path fill="none" stroke="black" d="{d}"/>{label}</g>'


def test_a_cut_figure_is_found_and_a_cut_name_is_not():
    assert cut_numbers(svg(text(0, 10, "всего 537 мс · макс. 52…")))
    assert cut_numbers(svg(text(0, 10, "p95 88…")))
    assert not cut_numbers(svg(text(0, 10, "всего 537 мс · макс. 526 мс")))
    assert not cut_numbers(svg(text(0, 10, "SELECT custo… ×3")))  # a name, its count whole
    assert not cut_numbers(svg(text(0, 10, "Reads and writes custo…")))


def test_a_line_through_text_is_found():
    label = text(50, 100, "GET /api/price 1 call · 14 ms", "node2")
    across = edge("M0,97C40,97 120,97 200,97")  # a straight curve through the label's middle
    assert crossings(svg(label + across))
    bent = edge("M0,200C60,60 100,60 200,200")  # a curve whose bulge reaches the label
    assert crossings(svg(label + bent))
    below = edge("M0,120C40,120 120,120 200,120")
    assert not crossings(svg(label + below))
    beside = edge("M20,0C20,60 20,140 20,200")  # left of the label, however long its text
    assert not crossings(svg(label + beside))


def test_an_edge_over_its_own_label_is_not_a_crossing_but_over_another_is():
    own = '<text text-anchor="start" x="50" y="100" font-size="9.00">GET</text>'
    line = "M0,97C40,97 120,97 200,97"
    assert not crossings(svg(edge(line, "edge1", own)))
    assert crossings(svg(edge(line, "edge2") + text(50, 100, "GET", "edge1")))


def test_text_over_text_is_found():
    assert overlaps(svg(text(0, 100, "4,6/ч · 0,0% ош.") + text(20, 102, "Jewellery", "node2")))
    assert not overlaps(svg(text(0, 100, "4,6/ч · 0,0% ош.") + text(0, 115, "Jewellery", "node2")))


def test_text_anchors_are_measured():
    """Text anchored in the middle or at the end lies left of its x."""
    right = edge("M-30,0C-30,60 -30,140 -30,200")
    assert crossings(svg(text(0, 100, "a long line of text", anchor="middle") + right))
    assert crossings(svg(text(0, 100, "a long line of text", anchor="end") + right))
    assert not crossings(svg(text(0, 100, "a long line of text") + right))


@pytest.fixture(scope="module")
def data_sets(tmp_path_factory):
    """Two simulated weeks of 60 orders (seeds 7 and 11): traces and order reports."""
    config = explorer_config()
    sets = {}
    for seed in SEEDS:
        folder = tmp_path_factory.mktemp(f"seed{seed}") / "traces"
        call_command(
            "simulate",
            *("--orders", "60", "--days", "7", "--until-days", "7"),
            *("--seed", str(seed), "--out", str(folder)),
            stdout=io.StringIO(),
        )
        traces, problems = read_traces(folder)
        assert traces and not problems
        source = MemorySource(traces, name=f"seed{seed}")
        reports = report_orders(
            source, config.graph, config.sla, config.container_of, names=config.names_by_language
        )
        sets[seed] = (traces, reports)
    return sets


def _problems(drawings):
    found = []
    for name, drawn in drawings:
        found += [f"{name}: {problem}" for problem in findings(drawn)]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("seed", SEEDS)
def test_every_order_nothing_cut_nothing_crossed(data_sets, seed, lang):
    config = explorer_config()
    _, reports = data_sets[seed]
    every = {r.status for _, rs in data_sets.values() for r in rs}
    assert {"complete", "in_progress", "stuck", "lost"} <= every
    drawings = []
    for r in reports:
        overlay = journey_overlay(
            r,
            r.journey.traces,
            config.model,
            config.mapping,
            config.graph,
            sla_limit_ms=config.sla_limit_ms,
            lang=lang,
            title=f"Order {r.journey.order_id}",
        )
        drawings.append((r.journey.order_id, render_svg(config.model, overlay)))
    assert any('class="edge c4-step c4-undocumented"' in d for _, d in drawings)
    problems = _problems(drawings)
    assert not problems, f"{len(problems)} problems, e.g. " + "; ".join(problems[:10])


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_system_map_of_every_window(data_sets, lang):
    config = explorer_config()
    drawings = []
    for seed, (traces, _) in data_sets.items():
        end = max(t.end_ns for t in traces for t in t.spans) + 1
        for window, (length, _) in WINDOWS.items():
            overlay = system_map(traces, config.mapping, end - length, end)
            overlay.rate_unit, overlay.lang = rate_unit(window), lang
            drawings.append((f"seed {seed} map {window}", render_svg(config.model, overlay)))
    assert any("c4-observed" in d for _, d in drawings)  # calls the model does not document
    problems = _problems(drawings)
    assert not problems, f"{len(problems)} problems, e.g. " + "; ".join(problems[:10])


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGUAGES)
def test_trace_diagrams_and_tour_steps(data_sets, lang):
    config = explorer_config()
    traces, reports = data_sets[SEEDS[0]]
    busiest = sorted(traces, key=lambda t: -len(t.spans))[:10]
    drawings = []
    for trace in busiest:
        overlay = overlay_from_traces(
            [trace],
            config.model,
            config.mapping,
            sla_limit_ms=config.sla_limit_ms,
            title=f"Trace {trace.trace_id}",
            lang=lang,
        )
        overlay.legend = "trace"
        drawings.append((trace.trace_id, render_svg(config.model, overlay)))
    stuck = next(r for r in reports if r.status in ("stuck", "lost"))
    stops = journey_stops(
        stuck.journey, stuck.conformance, config.model, config.mapping, config.graph, lang
    )
    for path in sorted(SHIPPED.glob("*.json")):
        for tour in read_file(path):
            for number, step in enumerate(tour.steps, start=1):
                last = number == len(tour.steps)
                overlay = step_overlay(step, step.title, lang, stops if last else None)
                drawings.append((f"{tour.slug} {number}", render_svg(config.model, overlay)))
    problems = _problems(drawings)
    assert not problems, f"{len(problems)} problems, e.g. " + "; ".join(problems[:10])


def _words(drawn: str) -> str:
    return " ".join(re.findall(r">([^<]+)</text>", drawn))


@pytest.mark.slow
def test_every_word_of_a_russian_diagram_is_russian(data_sets):
    config = explorer_config()
    traces, reports = data_sets[SEEDS[0]]
    end = max(s.end_ns for t in traces for s in t.spans) + 1
    overlay = system_map(traces, config.mapping, end - WINDOWS["7d"][0], end)
    overlay.lang, overlay.rate_unit = "ru", "h"
    drawn = _words(render_svg(config.model, overlay))
    for russian in ("Карта системы", "Легенда", "[Человек]", "вызовы за период", "/ч", "% ош."):
        assert russian in drawn
    for english in ("System map", "Legend", "[Person]", "calls of this order", "err", "/h"):
        assert english not in drawn
    assert "где заказ сейчас" not in drawn  # the map's legend speaks of the map
    assert not re.search(r"\d\.\d", drawn), "a decimal point in Russian"
    trace = max(traces, key=lambda t: len(t.spans))
    overlay = overlay_from_traces([trace], config.model, config.mapping, lang="ru")
    overlay.legend = "trace"
    drawn = _words(render_svg(config.model, overlay))
    assert "вызовы трассы" in drawn and "[Человек]" in drawn and "вызов" in drawn
    assert not re.search(r"\d\.\d|\d calls?\b", drawn)
    assert "где заказ сейчас" not in drawn
    violated = [r for r in reports if r.conformance.violations]
    for r in violated:
        overlay = journey_overlay(
            r, r.journey.traces, config.model, config.mapping, config.graph, lang="ru"
        )
        notes = [n.text for ns in overlay.element_notes.values() for n in ns]
        violations = [n for n in notes if n.startswith("нарушение:")]
        assert violations and not any(re.search(r"[a-z]+_[a-z]+", n) for n in violations)


def test_the_stuck_badge_keeps_its_limit():
    """A stop note is never pushed out of the band by other notes."""
    notes = [
        Note("waiting 9.2 days in PRICE_CALCULATED (limit 4 days)", "stop"),
        Note("anomaly: POST /api/orders 5.0 s (usually 120 ms)", "anomaly"),
        Note("error: GET /api/price: timeout", "error"),
        Note("→ INITIATED", "state"),
    ]
    lines = [t for t, _, _ in note_lines(notes, None, "en")]
    assert "(limit 4 days)" in " ".join(lines)
    assert not any(line.endswith("…") and re.search(r"\d", line) for line in lines)


def test_an_empty_overlay_has_the_journey_legend():
    config = explorer_config()
    assert "where the order is now" in _words(render_svg(config.model, Overlay()))


@pytest.mark.parametrize(
    ("text", "width", "kept"),
    [
        ("всего 537 мс · макс. 526 мс", 158, "макс. 526 мс"),
        ("anomaly: POST /api/v1/orders/{id}/files 5.0 s (usually 120 ms)", 200, "120 ms)"),
        ("SLA: POST /api/orders/{id}/model 1.4 s > 800 ms (+3)", 166, "800 ms (+3)"),
    ],
)
def test_fit_shortens_names_and_keeps_figures(text, width, kept):
    fitted = fit(text, width)
    assert text_width(fitted, 9) <= width and fitted.endswith(kept)


def test_wrap_keeps_a_figure_with_its_unit():
    lines = wrap("ждёт 9,2 дня в PRICE_CALCULATED (лимит 4 дня)", 166, max_lines=3)
    assert lines[-1].endswith("4 дня)") and all(
        "9,2 дня" in line or "9,2" not in line for line in lines
    )


def test_operations_are_packed_whole_with_how_many_more():
    items = [f"SELECT table_{n} ×{n + 2}" for n in range(12)]
    lines = packed(items, 158, 2, "ru")
    assert len(lines) == 2 and lines[-1].split(", ")[-1].startswith("ещё ")
    assert all(text_width(line, 9) <= 158 for line in lines)
    shown = sum(len(line.split(", ")) for line in lines) - 1
    assert lines[-1].endswith(f"ещё {12 - shown}")
