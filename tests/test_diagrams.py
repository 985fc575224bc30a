"""C4 diagrams: the container diagram, overlays, the system map, stable layout and escaping."""

import re
import xml.etree.ElementTree as ET

import graphviz
import pytest
from django.core.management import call_command

from explorer.c4.loader import DEFAULT_MODEL
from explorer.c4.model import Element
from explorer.caching import reset_caches
from explorer.diagrams import (
    disk_cache,
    dot_drawing,
    model_layout,
    render,
    style,
    text_measure,
    version,
)
from explorer.diagrams.overlay import (
    DiagramStep,
    Metric,
    Note,
    Overlay,
    overlay_from_traces,
    system_map,
)
from explorer.diagrams.placement import spline_points
from explorer.diagrams.routing import routes
from explorer.journeys.state_graph import parse_sla
from tests.c4_support import order_trace, write_otlp

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own renderer's output


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
    second = Overlay(
        steps=[
            DiagramStep(1, "crm", "crm_api", "GET /api/orders", 5_000_000),
            DiagramStep(2, "mes_db", "customer", "odd", 1_000_000, undocumented=True),
        ],
        element_notes={"crm": [Note("a long note " * 5, "anomaly")]},
        highlight="crm",
        dimmed=True,
    )
    svgs = render.render_svg(model, first), render.render_svg(model, second)
    canvases = [
        (r.get("viewBox"), r.get("width"), r.get("height"), r.find(f"{SVG}g").get("transform"))
        for r in map(parse, svgs)
    ]
    assert canvases[0] == canvases[1]
    a, b = elements(svgs[0]), elements(svgs[1])
    assert set(a) == set(b)
    for element_id in a:
        assert shape_coordinates(a[element_id]) == shape_coordinates(b[element_id]), element_id


def test_hostile_text_is_escaped(model, mapping):
    evil_span = '"]; evil -> x [label="<script>alert(1)</script>'
    model.elements["shop_api"].name = "<img src=x onerror=alert(1)>"
    model.elements["evil_twin"] = Element("evil_twin", 'x\\" ]; injected [shape=box', "container")
    overlay = Overlay(
        steps=[
            DiagramStep(
                1,
                "shop_api",
                "mes_api",
                evil_span,
                1,
                "error <b>",
                undocumented=True,
                url='/t?a=1&b="><script>x</script>',
            )
        ],
        element_notes={"shop_api": [Note(evil_span, "error")]},
    )
    svg = render.render_svg(model, overlay)
    root = parse(svg)  # well-formed
    all_text = "".join(root.itertext())
    assert "<img src=x onerror=alert(1)>" in all_text and "<script>alert(1)</script>" in all_text
    for el in root.iter():
        assert not el.tag.endswith("script")
        assert not [k for k in el.attrib if k.lower().startswith("on")]
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "evil" not in titles and "x" not in titles and "injected" not in titles
    nodes = [
        g
        for g in root.iter(f"{SVG}g")
        if "node" in (g.get("class") or "").split() and "c4-call-label" not in g.get("class")
    ]  # an undocumented call's label
    assert len(nodes) == len(model.elements) + 1  # the elements and the legend, nothing injected
    hrefs = [a.get(f"{XLINK}href") for a in root.iter(f"{SVG}a")]
    assert '/t?a=1&b="><script>x</script>' in hrefs  # an attribute value, escaped


def test_dot_never_sees_raw_text(model):
    model.elements["shop_api"].name = '<b>"quoted"</b>'
    overlay = Overlay(steps=[DiagramStep(1, "shop_api", "shop_db", 'a"b<c>', 1)])
    source = dot_drawing.drawing(
        model, overlay, {}, model_layout.layout(model), dot_drawing.Links()
    )[0].decode()
    assert '"quoted"' not in source and 'a"b<c>' not in source
    assert "&lt;b&gt;&quot;quoted&quot;&lt;/b&gt;" in source


def test_overlay_from_traces(model, mapping):
    sla = parse_sla({"containers": {"shop_api": {"default_ms": 100, "endpoints": {}}}})
    overlay = overlay_from_traces(
        [order_trace()],
        model,
        mapping,
        sla_limit_ms=sla.limit_ms,
        step_url=lambda t, s: f"/traces/{t}#{s}",
    )
    steps = [(s.number, s.source, s.target, s.undocumented) for s in overlay.steps]
    assert steps == [
        (1, "internet_shop", "shop_api", False),
        (2, "shop_api", "shop_db", False),
        (3, "shop_api", "mes_api", True),
        (4, "shop_api", "queue", True),
        (5, "queue", "mes_api", False),
    ]
    assert overlay.steps[2].outcome == "error" and overlay.steps[0].url == "/traces/t1#t1-0"
    notes = {k: [(n.severity, n.text) for n in v] for k, v in overlay.element_notes.items()}
    assert notes["shop_api"] == [
        ("sla", "SLA: POST /api/orders 190 ms > 100 ms"),
        ("state", "→ INITIATED"),
        ("error", "error: GET /api/price"),
    ]
    assert ("state", "SUBMITTED → PRICE_CALCULATED") in notes["mes_api"]
    svg = render.render_svg(model, overlay)
    undocumented = [
        g for g in parse(svg).iter(f"{SVG}g") if "c4-undocumented" in (g.get("class") or "")
    ]
    assert undocumented and all(
        p.get("stroke-dasharray") for g in undocumented for p in g.iter(f"{SVG}path")
    )


def test_system_map_metrics(model, mapping):
    traces = [order_trace(f"t{n}", start=n * 1_000_000_000) for n in range(10)]
    overlay = system_map(traces, mapping, start_ns=0, end_ns=10_000_000_000)
    shop = overlay.metrics["shop_api"]
    assert (shop.count, shop.rate, shop.error_rate, shop.p95_ms) == (10, 1.0, 0.0, 190.0)
    assert overlay.metrics["mes_api"].error_rate == 0.5  # one of its two entry spans fails
    assert overlay.metrics["shop_db"].count == 10  # no telemetry of its own: calls made to it
    assert overlay.metrics[("shop_api", "mes_api")].error_rate == 1.0
    svg = render.render_svg(model, overlay)
    assert "60/min" in "".join(parse(svg).itertext())  # a rate people read, not "1.00/s"
    overlay.rate_unit = "h"
    assert "3600/h" in "".join(parse(render.render_svg(model, overlay)).itertext())


def test_render_cache(model, tmp_path):
    overlay = Overlay(title="cached")
    reset_caches()
    first = render.render_svg(model, overlay, cache_dir=tmp_path)
    assert render.render_svg(model, overlay, cache_dir=tmp_path) is first
    assert len(list(tmp_path.glob("svg-*.svg"))) == 1 and list(tmp_path.glob("layout-*.json"))
    reset_caches()
    assert render.render_svg(model, overlay, cache_dir=tmp_path) == first  # from disk


def test_diagram_command_with_an_order(tmp_path):
    write_otlp(tmp_path / "a.json", [order_trace("t1", order="A-1")])
    write_otlp(tmp_path / "b.json", [order_trace("t2", order="A-2")])
    out = tmp_path / "order.svg"
    call_command(
        "c4",
        "diagram",
        "--model",
        str(DEFAULT_MODEL),
        "--traces",
        str(tmp_path),
        "--order",
        "A-2",
        "--out",
        str(out),
    )
    svg = out.read_text()
    assert "Order A-2" in "".join(parse(svg).itertext())
    steps = [g for g in parse(svg).iter(f"{SVG}g") if "c4-step" in (g.get("class") or "")]
    assert len(steps) == 5
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no trace"):
        call_command(
            "c4", "diagram", "--traces", str(tmp_path), "--order", "A-9", "--out", str(out)
        )


def test_queue_drawn_as_a_horizontal_pipe(model):
    model.elements["queue"].name = "<svg onload=alert(1)>"
    for overlay in (None, Overlay(dimmed=True)):
        group = elements(render.render_svg(model, overlay))["el-queue"]
        assert "c4-queue" in group.get("class")
        assert not list(group.iter(f"{SVG}polygon"))
        pipe = next(group.iter(f"{SVG}path"))
        outline = pipe.get("d")
        assert outline.count("A") == 4  # two rounded ends and the rim of the open one
        xs = [float(x) for x in re.findall(r"[MH](-?[\d.]+)", outline)]
        ys = [
            float(y)
            for y in re.findall(r"(?:M|A[\d.]+,[\d.]+ 0 0 [01] )-?[\d.]+,(-?[\d.]+)", outline)
        ]
        assert max(xs) - min(xs) > 2 * (max(ys) - min(ys)) > 0  # lying on its side
        fill = style.DIMMED_FILL if overlay else style.FILL["queue"]
        assert pipe.get("fill").lower() == fill.lower()
        assert "<svg onload=alert(1)>" in "".join(group.itertext())


def test_overlay_text_stays_inside_the_canvas(model):
    """The widest overlay text graphviz can be given still fits the model's fixed canvas."""
    lay = model_layout.layout(model)
    ids = [eid for eid in model.elements if eid in lay.nodes]
    x0, y0, x1, y1 = model_layout.canvas(lay)
    for text in ("W" * 300, "数" * 200, "MANUFACTURING_APPROVED → MANUFACTURING_STARTED " * 5):
        steps = [
            DiagramStep(n, r.source, r.target, text, 123_456_789, "error " + text)
            for n, r in enumerate(model.relationships * 10, start=1)
        ]
        steps += [
            DiagramStep(
                len(steps) + n, a, ids[(i + 3) % len(ids)], text, 1, text, undocumented=True
            )
            for n, (i, a) in enumerate(enumerate(ids), start=1)
        ]
        metric = Metric(123_456.7, 1.0, 1_234_567, 5)
        overlay = Overlay(
            steps=steps,
            title=text,
            highlight="shop_api",
            dimmed=True,
            element_notes={e: [Note(text, "error")] * 9 for e in ids},
            metrics={
                **dict.fromkeys(ids, metric),
                **{(r.source, r.target): metric for r in model.relationships},
            },
        )
        raw = graphviz.pipe(
            "neato",
            "svg",
            dot_drawing.drawing(model, overlay, {}, lay, dot_drawing.Links())[0],
            neato_no_op=2,
            quiet=True,
        ).decode()
        root = parse(raw[raw.index("<svg") :])
        width, height = (float(v) for v in root.get("viewBox").split()[2:])
        dx, dy = (
            float(v)
            for v in re.search(
                r"translate\(([-\d.]+) ([-\d.]+)\)", root.find(f"{SVG}g").get("transform")
            ).groups()
        )
        # graphviz fitted its own box to everything it drew: that box is within the canvas
        assert x0 <= -dx and dy - height >= y0 and width - dx <= x1 and dy <= y1, text[:10]


def test_long_notes_wrap_and_clip():
    assert text_measure.wrap("PACKAGING → SHIPPED", style.NOTE_WIDTH) == ["PACKAGING → SHIPPED"]
    lines = text_measure.wrap("MANUFACTURING_APPROVED → MANUFACTURING_STARTED", style.NOTE_WIDTH)
    assert lines == ["MANUFACTURING_APPROVED →", "MANUFACTURING_STARTED"]
    many = text_measure.wrap("word " * 200_000, style.NOTE_WIDTH)
    assert len(many) == 2 and many[1].endswith("…")
    assert all(text_measure.text_width(line, 9) <= style.NOTE_WIDTH for line in many)
    assert text_measure.clip("W" * 100_000, 50).endswith("…")
    assert text_measure.text_width(text_measure.clip("W" * 100_000, 50), 9) <= 50


def test_steps_and_notes_on_a_boundary_are_not_drawn(model):
    overlay = Overlay(
        steps=[
            DiagramStep(1, "jewellery_store", "shop_api", "odd", 1),
            DiagramStep(2, "shop_api", "shop_db", "INSERT", 1),
        ]
    )
    root = parse(render.render_svg(model, overlay))
    steps = [g for g in root.iter(f"{SVG}g") if "c4-step" in (g.get("class") or "")]
    assert len(steps) == 1 and "INSERT" in "".join(steps[0].itertext())


def test_a_changed_renderer_does_not_reuse_cached_drawings(model, tmp_path, monkeypatch):
    reset_caches()
    render.render_svg(model, Overlay(title="v1"), cache_dir=tmp_path)
    monkeypatch.setattr(version, "RENDERER", "another version")
    reset_caches()
    render.render_svg(model, Overlay(title="v1"), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("svg-*.svg"))) == 2
    assert len(list(tmp_path.glob("layout-*.json"))) == 2


def test_the_disk_cache_keeps_at_most_its_bound_least_recently_used_first(
    model, tmp_path, monkeypatch
):
    monkeypatch.setenv(disk_cache.MAX_FILES_SETTING, "3")
    reset_caches()
    render.render_svg(model, Overlay(title="first"), cache_dir=tmp_path)  # a layout and an SVG
    first = next(tmp_path.glob("svg-*.svg"))
    for n in range(5):
        reset_caches()
        render.render_svg(model, Overlay(title="first"), cache_dir=tmp_path)  # read: used again
        render.render_svg(model, Overlay(title=f"other {n}"), cache_dir=tmp_path)
        assert len(list(tmp_path.iterdir())) <= 3
    assert first.exists()  # read before each write: never the least recently used
    assert len(list(tmp_path.glob("svg-*.svg"))) == 2  # the layout, read for each drawing
    monkeypatch.setenv(disk_cache.MAX_FILES_SETTING, "0")
    with pytest.raises(ValueError, match=disk_cache.MAX_FILES_SETTING):
        render.render_svg(model, Overlay(title="one more"), cache_dir=tmp_path)


def test_diagram_command_in_russian(tmp_path):
    write_otlp(tmp_path / "a.json", [order_trace("t1", order="A-1")])
    out = tmp_path / "order.svg"
    call_command(
        "c4",
        "diagram",
        "--traces",
        str(tmp_path),
        "--order",
        "A-1",
        "--lang",
        "ru",
        "--out",
        str(out),
    )
    words = "".join(parse(out.read_text()).itertext())
    assert "Заказ A-1" in words and "Легенда" in words and "[Человек]" in words
    assert "[Контейнер: Spring Boot]" in words and "[Container" not in words
    assert "вызов" in words  # the calls on a relationship, counted in Russian
    with pytest.raises(Exception, match="invalid choice"):
        call_command("c4", "diagram", "--lang", "xx", "--out", str(out))


def test_the_fingerprint_covers_everything_drawn_and_only_that():
    from explorer.diagrams.overlay import Stop

    def overlay(**changes) -> Overlay:
        fields = {
            "steps": [DiagramStep(1, "shop", "crm", "POST /orders", 5_000_000)],
            "element_notes": {"crm": [Note("slow", "sla")]},
            "metrics": {"crm": Metric(1.0, 0.0, 5.0, 3), ("shop", "crm"): Metric(2.0, 0.5, 9.0)},
            "stops": [Stop("stuck", "crm", "waits")],
            "typical": {("shop", "crm")},
        }
        return Overlay(**{**fields, **changes})

    same = overlay().fingerprint()
    assert overlay().fingerprint() == same
    different = [
        overlay(steps=[DiagramStep(1, "shop", "crm", "POST /orders", 6_000_000)]),
        overlay(element_notes={"crm": [Note("slow", "error")]}),
        overlay(metrics={"crm": Metric(1.0, 0.0, 5.0, 4)}),
        overlay(stops=[Stop("lost", "crm", "waits")]),
        overlay(typical=set()),
        overlay(lang="ru"),
        overlay(highlight="crm"),
    ]
    assert len({o.fingerprint() for o in different} | {same}) == len(different) + 1


def test_a_routed_line_runs_where_it_was_routed():
    """The router's line is drawn in the drawing's own coordinates: from the edge of its
    source to the edge of its target and around a text between them, wherever the lowest,
    leftmost box lies (graphviz would move its output so that box sits at 0,0)."""
    lay = model_layout.Layout(
        nodes={"a": (300.0, 500.0, 2.0, 1.0), "b": (300.0, 100.0, 2.0, 1.0)},
        clusters={},
        edges={},
        legend=(0.0, 0.0, 0.0, 0.0),
        bb=(0.0, 0.0, 600.0, 600.0),
    )
    text = (220.0, 280.0, 380.0, 320.0)  # across the straight way down
    pos = routes(lay, {"a": "n0", "b": "n1"}, [("step-0", "a", "b")], [text])["step-0"]
    points = spline_points(pos)
    tip = re.match(r"e,([\d.]+),([\d.]+) ", pos)
    assert tip and abs(float(tip[2]) - 136) < 2  # the arrow's tip at the top of b
    assert abs(points[0][1] - 464) < 2  # from the bottom of a
    x0, y0, x1, y1 = text
    assert not any(x0 < x < x1 and y0 < y < y1 for x, y in points)
