"""The C4 views on the simulation's telemetry: drift finds the call the model lacks on purpose,
the order diagram numbers its steps, and every journey is drawn on the same canvas."""

import io
import json
import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command

from explorer.c4.drift import drift
from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.mapping import DEFAULT_MAPPING, load_mapping
from explorer.c4.traceset import read_traces, traces_of_order
from explorer.diagrams import render, style
from explorer.diagrams.overlay import overlay_from_traces

SVG = "{http://www.w3.org/2000/svg}"
PEOPLE_RELATIONSHIPS = [
    ("customer", "internet_shop"),
    ("seller", "crm"),
    ("api_user", "mes_api"),
    ("operator", "mes"),
]


@pytest.fixture(scope="module")
def simulated(simulation):
    """A small deterministic simulation: its folder of traces and its truth file."""
    run = simulation(orders=40, days=3, seed=3)
    return run.folder, run.truth


@pytest.fixture(scope="module")
def traces(simulated):
    found, problems = read_traces(simulated[0])
    assert found and not problems
    return found


def first_order(truth: dict, source: str) -> str:
    return next(o for o, info in sorted(truth["orders"].items()) if info["source"] == source)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own renderer's output


def test_drift_command_on_simulated_data(simulated):
    out = io.StringIO()
    call_command(
        "c4",
        "drift",
        "--model",
        str(DEFAULT_MODEL),
        "--traces",
        str(simulated[0]),
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    report = json.loads(out.getvalue())
    # the Shop API -> MES API price quote is the one call the default model lacks on purpose
    assert [(u["source"], u["target"]) for u in report["undocumented"]] == [("shop_api", "mes_api")]
    quote = report["undocumented"][0]
    assert quote["count"] > 0 and quote["errors"] == 0 and quote["example"]["trace_id"]
    # every machine relationship of the default model is exercised; people's are kept apart
    assert report["unobserved"] == []
    assert sorted((r["source"], r["target"]) for r in report["unobservable"]) == sorted(
        PEOPLE_RELATIONSHIPS
    )
    assert report["unmapped_services"] == []


def test_drift_reports_relationships_the_simulation_never_uses(tmp_path, traces):
    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    unused = (
        '        crm_api -> mes_db "Reads manufacturing statuses directly" "SQL"\n'
        '        mes -> files_storage "Shows 3D models to the operator" "HTTPS"\n'
    )
    anchor = "        operator -> mes "
    (tmp_path / "model.dsl").write_text(text.replace(anchor, unused + anchor), encoding="utf-8")
    extended = load_model(tmp_path / "model.dsl")
    assert not extended.warnings
    report = drift(extended, load_mapping(DEFAULT_MAPPING, extended), traces)
    assert [(r["source"], r["target"], r["description"]) for r in report["unobserved"]] == [
        ("crm_api", "mes_db", "Reads manufacturing statuses directly"),
        ("mes", "files_storage", "Shows 3D models to the operator"),
    ]
    assert len(report["unobservable"]) == len(PEOPLE_RELATIONSHIPS)
    assert [(u["source"], u["target"]) for u in report["undocumented"]] == [("shop_api", "mes_api")]


def test_diagram_command_for_a_simulated_order(simulated, model, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the command caches its drawings there
    order = first_order(simulated[1], "shop")
    out = tmp_path / "x.svg"
    call_command(
        "c4",
        "diagram",
        "--model",
        str(DEFAULT_MODEL),
        "--traces",
        str(simulated[0]),
        "--order",
        order,
        "--out",
        str(out),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    root = parse(out.read_text(encoding="utf-8"))
    assert f"Order {order}" in "".join(root.itertext())
    step_groups = [g for g in root.iter(f"{SVG}g") if "c4-step" in (g.get("class") or "")]
    numbers = [int(n) for g in step_groups for n in g.get("data-steps").split()]
    assert numbers and len(numbers) == len(set(numbers)) and {1, 2, 3} <= set(numbers)
    # the undocumented price quote: its own edge, dashed, in the warning colour
    undocumented = [g for g in step_groups if "c4-undocumented" in g.get("class")]
    assert [(g.get("data-source"), g.get("data-target")) for g in undocumented] == [
        ("el-shop_api", "el-mes_api")
    ]
    line = undocumented[0].find(f"{SVG}path")
    assert line.get("stroke").lower() == style.WARNING_COLOUR.lower()
    assert line.get("stroke-dasharray")
    label = next(
        g for g in root.iter(f"{SVG}g") if g.get("id") == undocumented[0].get("id") + "-label"
    )  # placed clear of everything else
    quote_steps = [t.text for t in label.iter(f"{SVG}text") if t.text]
    assert any("GET" in text for text in quote_steps)


def geometry(svg: str, model_texts: dict[str, set[str]] | None = None):
    """The canvas of a drawing and, per element, its outline and the anchors of its own text
    (the model's words, not the notes an overlay puts beside it)."""
    root = parse(svg)
    graph = root.find(f"{SVG}g")
    canvas = (
        root.get("width"),
        root.get("height"),
        root.get("viewBox"),
        graph.get("transform"),
        graph.find(f"{SVG}polygon").get("points"),
    )
    elements = {}
    for g in root.iter(f"{SVG}g"):
        if "c4-element" not in (g.get("class") or ""):
            continue
        outline = next(el for el in g.iter() if el.tag in (f"{SVG}polygon", f"{SVG}path"))
        texts = [
            (t.text, t.get("x"), t.get("y"))
            for t in g.iter(f"{SVG}text")
            if model_texts is None or t.text in model_texts[g.get("id")]
        ]
        elements[g.get("id")] = (outline.get("points") or outline.get("d"), texts)
    return canvas, elements


def inside_the_canvas(svg: str) -> bool:
    root = parse(svg)
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    transform = root.find(f"{SVG}g").get("transform")
    dx, dy = (float(v) for v in transform.split("translate(")[1].rstrip(")").split())
    return all(
        0 <= float(t.get("x")) + dx <= width and 0 <= float(t.get("y")) + dy <= height
        for t in root.iter(f"{SVG}text")
    )


def test_two_journeys_share_one_canvas_and_every_position(simulated, traces, model):
    mapping = load_mapping(DEFAULT_MAPPING, model)
    orders = first_order(simulated[1], "shop"), first_order(simulated[1], "partner_api")
    plain = render.render_svg(model)
    canvas, bare = geometry(plain)
    model_texts = {eid: {text for text, _, _ in texts} for eid, (_, texts) in bare.items()}
    drawn = []
    for order in orders:
        overlay = overlay_from_traces(
            traces_of_order(traces, order), model, mapping, title=f"Order {order}"
        )
        assert overlay.steps
        svg = render.render_svg(model, overlay)
        assert geometry(svg, model_texts) == (canvas, bare), order
        assert inside_the_canvas(svg), order
        drawn.append(svg)
    # the two journeys really differ (a shop order makes the undocumented quote call)
    assert drawn[0] != drawn[1]
    assert "c4-undocumented" in drawn[0] and "c4-undocumented" not in drawn[1]
