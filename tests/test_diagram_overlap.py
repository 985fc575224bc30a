"""No text of a journey diagram lies over other text or over another element: measured on the
rendered SVG of every order of a demo-sized simulation (500 orders, 14 days, cut off at the end
of day 14: complete, in progress, stuck and lost orders, anomalies), and of every step of the
shipped tours (the same drawing, scaled down in the tour's panel: overlap does not depend on
scale)."""

import io
from pathlib import Path

import graphviz
import pytest
from django.core.management import call_command

from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.mapping import DEFAULT_MAPPING, load_mapping
from explorer.c4.traceset import read_traces
from explorer.configuration import Configuration
from explorer.diagrams import dot_drawing, model_layout, render
from explorer.diagrams.dot_labels import dom_id
from explorer.diagrams.journey import journey_overlay
from explorer.journeys.reporting import report_orders
from explorer.journeys.state_graph import load_sla, load_state_graph
from explorer.sources.memory import MemorySource
from explorer.tours.illustrate import step_overlay
from explorer.tours.tourfile import read_file
from tests.diagram_text import overlapping, text_boxes

pytestmark = pytest.mark.slow
SHIPPED = Path(__file__).resolve().parent.parent / "explorer" / "tours" / "shipped"
BATCH = 50  # drawings per neato process: starting one costs more than drawing
ALEXANDRITE = DEFAULT_MODEL.parent


def explorer_config():
    """The default configuration from its files (the database's mapping rules left aside)."""
    model = load_model(DEFAULT_MODEL)
    return Configuration(
        model,
        load_mapping(DEFAULT_MAPPING, model),
        load_state_graph(ALEXANDRITE / "states.json", model.elements),
        load_sla(ALEXANDRITE / "sla.json", model.elements),
        {eid: e.name for eid, e in model.elements.items()},
    )


@pytest.fixture(scope="session")
def demo_reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "traces"
    call_command(
        "simulate",
        "--orders",
        "500",
        "--days",
        "14",
        "--until-days",
        "14",
        "--seed",
        "7",
        "--out",
        str(folder),
        stdout=io.StringIO(),
    )
    traces, problems = read_traces(folder)
    assert traces and not problems
    config = explorer_config()
    source = MemorySource(traces, name="demo")
    return report_orders(
        source, config.graph, config.sla, config.container_of, names=config.names_by_language
    )


def _svgs(overlays, lang):
    """The SVG graphviz draws for each overlay (as render_svg does, before it only moves the
    canvas and redraws queues' outlines), one neato process per batch of distinct drawings."""
    config = explorer_config()
    lay = model_layout.layout(config.model, lang=lang)
    sources = list(
        dict.fromkeys(
            dot_drawing.drawing(config.model, o, {}, lay, dot_drawing.Links())[0] for o in overlays
        )
    )
    for start in range(0, len(sources), BATCH):
        out = graphviz.pipe(
            "neato", "svg", b"\n".join(sources[start : start + BATCH]), neato_no_op=2, quiet=True
        ).decode()
        for part in out.split("<svg")[1:]:
            yield "<svg" + part[: part.rindex("</svg>") + 6]


def _problems(svg, lay):
    boxes = text_boxes(svg)
    found = [f"{a.owner} {a.text!r} over {b.owner} {b.text!r}" for a, b in overlapping(boxes)]
    # graphviz draws graph point (x, y) at (x, -y)
    elements = {
        dom_id(eid): (x - w * 36, -y - h * 36, x + w * 36, -y + h * 36)
        for eid, (x, y, w, h) in lay.nodes.items()
    }
    for box in boxes:
        for dom, outline in elements.items():
            if box.owner != dom and box.overlaps(outline):
                found.append(f"{box.owner} {box.text!r} over the element {dom}")
    return found


def _check(overlays, lang):
    lay = model_layout.layout(explorer_config().model, lang=lang)
    problems, drawn = [], 0
    for svg in _svgs(overlays, lang):
        drawn += 1
        problems += _problems(svg, lay)
    return drawn, problems


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_no_text_overlaps_on_any_demo_order(demo_reports, lang):
    config = explorer_config()
    statuses = {r.status for r in demo_reports}
    assert {"complete", "in_progress", "stuck", "lost"} <= statuses
    assert any(r.anomalies for r in demo_reports)
    overlays = [
        journey_overlay(
            r,
            r.journey.traces,
            config.model,
            config.mapping,
            config.graph,
            sla_limit_ms=config.sla_limit_ms,
            lang=lang,
            title=f"Order {r.journey.order_id}",
        )
        for r in demo_reports
    ]
    assert sum(bool(o.stops) for o in overlays) == len(overlays)  # every order: where it is
    drawn, problems = _check(overlays, lang)
    assert drawn >= len(overlays) * 0.9
    assert not problems, f"{len(problems)} overlaps, e.g. " + "; ".join(problems[:10])


def test_no_text_overlaps_on_any_tour_step():
    overlays = [
        step_overlay(step, step.title)
        for path in sorted(SHIPPED.glob("*.json"))
        for tour in read_file(path)
        for step in tour.steps
    ]
    drawn, problems = _check(overlays, "en")
    assert drawn and not problems, "; ".join(problems[:10])


def test_the_check_finds_an_overlap():
    """A label pushed onto an element is found: the measurement can fail."""
    config = explorer_config()
    lay = model_layout.layout(config.model)
    svg = render.render_svg(config.model)
    x, y, _, _ = lay.nodes["shop_api"]
    moved = svg.replace(
        "</svg>",
        f'<text text-anchor="middle" x="{x}" y="{-y}" font-size="9.00">over Shop API</text></svg>',
    )
    assert _problems(moved, lay) and not _problems(svg, lay)
