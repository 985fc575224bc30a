"""C4 diagrams: the container diagram, overlays, the system map, stable layout and escaping."""

import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command

from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.mapping import DEFAULT_MAPPING, load_mapping
from explorer.c4.model import Element
from explorer.diagrams import render
from explorer.diagrams.overlay import Note, Overlay, Step, overlay_from_traces, system_map
from tests.test_c4_drift import order_trace, write_otlp

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own renderer's output


@pytest.fixture
def model():
    return load_model(DEFAULT_MODEL)


@pytest.fixture
def mapping(model):
    return load_mapping(DEFAULT_MAPPING, model)


def elements(svg: str) -> dict[str, ET.Element]:
    root = parse(svg)
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if "c4-element" in (g.get("class") or "")}


def shape_coordinates(group: ET.Element) -> str:
    shape = next(el for el in group.iter() if el.tag in (f"{SVG}polygon", f"{SVG}path"))
    return shape.get("points") or shape.get("d")


def test_container_diagram_in_c4_style(model):
    svg = render.render_svg(model, element_url=lambda eid: f"/c4/{eid}?view=a&b=1")
    found = elements(svg)
    assert set(found) == {f"el-{eid}" for eid in model.elements}
    assert "c4-person" in found["el-customer"].get("class")
    assert "c4-database" in found["el-shop_db"].get("class")
    assert any(el.tag == f"{SVG}path" for el in found["el-shop_db"].iter())  # a cylinder
    text = " ".join(t.text or "" for t in parse(svg).iter(f"{SVG}text"))
    assert "[Container: Spring Boot]" in text and "Legend" in text
    links = [a.get(f"{XLINK}href") for a in found["el-shop_api"].iter(f"{SVG}a")]
    assert links == ["/c4/shop_api?view=a&b=1"]


def test_same_positions_whatever_the_overlay(model, mapping):
    first = overlay_from_traces([order_trace()], model, mapping, title="one")
    second = Overlay(steps=[Step(1, "crm", "crm_api", "GET /api/orders", 5_000_000),
                            Step(2, "mes_db", "customer", "odd", 1_000_000, undocumented=True)],
                     element_notes={"crm": [Note("a long note " * 5, "anomaly")]},
                     highlight="crm", dimmed=True)
    a, b = elements(render.render_svg(model, first)), elements(render.render_svg(model, second))
    assert set(a) == set(b)
    for element_id in a:
        assert shape_coordinates(a[element_id]) == shape_coordinates(b[element_id]), element_id


def test_hostile_text_is_escaped(model, mapping):
    evil_span = '"]; evil -> x [label="<script>alert(1)</script>'
    model.elements["shop_api"].name = "<img src=x onerror=alert(1)>"
    model.elements["evil_twin"] = Element("evil_twin", "x\\\" ]; injected [shape=box", "container")
    overlay = Overlay(steps=[Step(1, "shop_api", "mes_api", evil_span, 1, "error <b>",
                                  undocumented=True, url='/t?a=1&b="><script>x</script>')],
                      element_notes={"shop_api": [Note(evil_span, "error")]})
    svg = render.render_svg(model, overlay)
    root = parse(svg)  # well-formed
    all_text = "".join(root.itertext())
    assert "<img src=x onerror=alert(1)>" in all_text and "<script>alert(1)</script>" in all_text
    for el in root.iter():
        assert not el.tag.endswith("script")
        assert not [k for k in el.attrib if k.lower().startswith("on")]
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "evil" not in titles and "x" not in titles and "injected" not in titles
    nodes = [g for g in root.iter(f"{SVG}g") if "node" in (g.get("class") or "").split()]
    assert len(nodes) == len(model.elements) + 1  # the elements and the legend, nothing injected
    hrefs = [a.get(f"{XLINK}href") for a in root.iter(f"{SVG}a")]
    assert '/t?a=1&b="><script>x</script>' in hrefs  # an attribute value, escaped


def test_dot_never_sees_raw_text(model):
    model.elements["shop_api"].name = '<b>"quoted"</b>'
    overlay = Overlay(steps=[Step(1, "shop_api", "shop_db", 'a"b<c>', 1)])
    source = render._drawing(model, overlay, {}, render.layout(model), render._Links()).decode()
    assert '"quoted"' not in source and 'a"b<c>' not in source
    assert "&lt;b&gt;&quot;quoted&quot;&lt;/b&gt;" in source


def test_overlay_from_traces(model, mapping):
    sla = {"containers": {"shop_api": {"default_ms": 100, "endpoints": {}}}}
    overlay = overlay_from_traces([order_trace()], model, mapping, sla=sla,
                                  step_url=lambda t, s: f"/traces/{t}#{s}")
    steps = [(s.number, s.source, s.target, s.undocumented) for s in overlay.steps]
    assert steps == [(1, "internet_shop", "shop_api", False), (2, "shop_api", "shop_db", False),
                     (3, "shop_api", "mes_api", True), (4, "shop_api", "queue", True),
                     (5, "queue", "mes_api", False)]
    assert overlay.steps[2].outcome == "error" and overlay.steps[0].url == "/traces/t1#t1-0"
    notes = {k: [(n.severity, n.text) for n in v] for k, v in overlay.element_notes.items()}
    assert notes["shop_api"] == [("sla", "SLA: POST /api/orders 190 ms > 100 ms"),
                                 ("state", "→ INITIATED"),
                                 ("error", "error: GET /api/price")]
    assert ("state", "SUBMITTED → PRICE_CALCULATED") in notes["mes_api"]
    svg = render.render_svg(model, overlay)
    undocumented = [g for g in parse(svg).iter(f"{SVG}g")
                    if "c4-undocumented" in (g.get("class") or "")]
    assert undocumented and all(
        p.get("stroke-dasharray") for g in undocumented for p in g.iter(f"{SVG}path"))


def test_system_map_metrics(model, mapping):
    traces = [order_trace(f"t{n}", start=n * 1_000_000_000) for n in range(10)]
    overlay = system_map(traces, mapping, start_ns=0, end_ns=10_000_000_000)
    shop = overlay.metrics["shop_api"]
    assert (shop.count, shop.rate, shop.error_rate, shop.p95_ms) == (10, 1.0, 0.0, 190.0)
    assert overlay.metrics["mes_api"].error_rate == 0.5  # one of its two entry spans fails
    assert overlay.metrics["shop_db"].count == 10  # no telemetry of its own: calls made to it
    assert overlay.metrics[("shop_api", "mes_api")].error_rate == 1.0
    svg = render.render_svg(model, overlay)
    assert "1.00/s" in "".join(parse(svg).itertext())


def test_render_cache(model, tmp_path):
    overlay = Overlay(title="cached")
    render._svg_cache.clear()
    render._layouts.clear()
    first = render.render_svg(model, overlay, cache_dir=tmp_path)
    assert render.render_svg(model, overlay, cache_dir=tmp_path) is first
    assert len(list(tmp_path.glob("svg-*.svg"))) == 1 and list(tmp_path.glob("layout-*.json"))
    render._svg_cache.clear()
    render._layouts.clear()
    assert render.render_svg(model, overlay, cache_dir=tmp_path) == first  # from disk


def test_diagram_command_with_an_order(tmp_path):
    write_otlp(tmp_path / "a.json", [order_trace("t1", order="A-1")])
    write_otlp(tmp_path / "b.json", [order_trace("t2", order="A-2")])
    out = tmp_path / "order.svg"
    call_command("c4", "diagram", "--model", str(DEFAULT_MODEL), "--traces", str(tmp_path),
                 "--order", "A-2", "--out", str(out))
    svg = out.read_text()
    assert "Order A-2" in "".join(parse(svg).itertext())
    steps = [g for g in parse(svg).iter(f"{SVG}g") if "c4-step" in (g.get("class") or "")]
    assert len(steps) == 5
    from django.core.management.base import CommandError
    with pytest.raises(CommandError, match="no trace"):
        call_command("c4", "diagram", "--traces", str(tmp_path), "--order", "A-9",
                     "--out", str(out))
