"""Loaders of C4 models: draw.io, C4-PlantUML, Structurizr DSL and workspace JSON."""

import base64
import json
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command

from explorer.c4.drawio import load_drawio
from explorer.c4.loader import load_model, parse_model
from explorer.c4.plantuml import load_plantuml
from explorer.c4.structurizr import load_dsl, load_workspace_json
from tests.conftest import reference_dir

FIXTURES = Path(__file__).parent / "fixtures" / "c4"


def rels(model):
    return {(r.source, r.target) for r in model.relationships}


# --- reference files (conformance) -------------------------------------------------------------


def test_reference_drawio_loads_every_element_and_complete_relationship():
    model = load_model(reference_dir("c4") / "alexandrite-original.drawio")
    kinds = {e.name: e.kind for e in model.elements.values()}
    assert {n for n, k in kinds.items() if k == "person"} == {
        "Customer",
        "API user",
        "Seller",
        "Operator",
    }
    assert kinds["Shop DB"] == kinds["MES db"] == "database"
    assert kinds["Messages Queue"] == "queue"  # a cylinder lying on its side
    assert {n for n, k in kinds.items() if k == "container"} == {
        "MES API",
        "Internet Shop",
        "MES",
        "Shop API",
        "CRM",
        "CRM API",
        "3d files storage",
    }
    boundary = next(e for e in model.elements.values() if e.kind == "boundary")
    inside = {e.name for e in model.elements.values() if e.parent == boundary.id}
    assert "Shop API" in inside and "Customer" not in inside  # containment by geometry
    assert len(model.relationships) == 14
    assert ("crm_api", "3d_files_storage") in rels(model)  # drawn backwards: startArrow only
    bidirectional = {(r.source, r.target) for r in model.relationships if r.bidirectional}
    assert bidirectional == {("crm_api", "messages_queue"), ("mes_api", "messages_queue")}
    labelled = next(
        r for r in model.relationships if r.target == "3d_files_storage" and r.source == "shop_api"
    )
    assert labelled.description == "uploads files"  # label in a child cell
    assert len([w for w in model.warnings if "skipped" in w]) == 2  # edges missing an end
    assert all(w.startswith(str(reference_dir("c4"))) for w in model.warnings)


def test_reference_plantuml_loads_every_element_and_relationship():
    model = load_model(reference_dir("c4") / "alexandrite-c4-plantuml.puml")
    kinds = {e.id: e.kind for e in model.elements.values()}
    assert list(kinds.values()).count("person") == 4
    assert kinds["shop_db"] == kinds["mes_db"] == "database"
    assert kinds["rabbitmq"] == "queue"
    assert kinds["alexandrite"] == "boundary"
    assert all(
        e.parent == "alexandrite"
        for e in model.elements.values()
        if e.kind in ("container", "database", "queue")
    )
    assert len(model.relationships) == 13
    assert model.warnings == []


def test_reference_structurizr_workspaces_keep_every_element_and_relationship():
    # Structurizr workspaces as their authors wrote them, when the peer data holds any (it
    # holds none today; tests/test_c4_realworld.py covers the rules on the project's own files):
    # any that extends another keeps both models, every identifier found in whatever case.
    workspaces = sorted(reference_dir("c4").rglob("*.dsl"))
    if not workspaces:
        pytest.skip("the peer reference data holds no Structurizr DSL workspace")
    for path in workspaces:
        model = load_model(path)
        assert model.elements, path
        assert model.warnings == [], path


# --- draw.io --------------------------------------------------------------------------------


def c4_object(cid, name, c4type, tech="", parent="1", x=0, y=0, w=100, h=60, style="rounded=1"):
    return (
        f'<object placeholders="1" c4Name="{name}" c4Type="{c4type}" c4Technology="{tech}" '
        f'c4Description="&lt;b&gt;About&lt;/b&gt; {name}" label="%c4Name%" id="{cid}">'
        f'<mxCell style="{style}" vertex="1" parent="{parent}">'
        f'<mxGeometry x="{x}" y="{y}" width="{w}" height="{h}" as="geometry"/>'
        "</mxCell></object>"
    )


def edge(cid, source, target, style="", value=""):
    ends = (f' source="{source}"' if source else "") + (f' target="{target}"' if target else "")
    return (
        f'<mxCell id="{cid}" value="{value}" style="{style}" edge="1" parent="1"{ends}>'
        f'<mxGeometry relative="1" as="geometry"/></mxCell>'
    )


def page(cells, name="Page-1"):
    return (
        f'<diagram name="{name}" id="{name}"><mxGraphModel><root><mxCell id="0"/>'
        f'<mxCell id="1" parent="0"/>{"".join(cells)}</root></mxGraphModel></diagram>'
    )


SHOP_CELLS = [
    c4_object("p", "Buyer", "Person", style="shape=mxgraph.c4.person2;fillColor=#6C6477", x=0, y=0),
    c4_object("b", "Shop", "SystemScopeBoundary", x=200, y=0, w=600, h=400),
    c4_object("api", "Shop API", "Container", "Spring Boot", x=250, y=50),
    c4_object("db", "Shop DB", "Container", "PostgreSQL", x=450, y=50, style="shape=cylinder3"),
    c4_object(
        "q", "Bus", "Container", "AMQP", x=250, y=250, style="shape=cylinder3;direction=south"
    ),
    # a container placed inside the boundary by its parent, with relative geometry
    c4_object("w", "Worker", "Container", "Go", parent="b", x=10, y=300),
    '<mxCell id="t" value="&lt;b&gt;Plain&lt;/b&gt; text" style="text" vertex="1" parent="1">'
    '<mxGeometry x="900" y="0" width="50" height="20" as="geometry"/></mxCell>',
    edge("e1", "p", "api", value="&lt;div&gt;Orders&lt;br&gt;via &amp;amp; web&lt;/div&gt;"),
    edge("e2", "db", "api", style="startArrow=classic;endArrow=none"),
    edge("e3", "api", "q", style="startArrow=classic;startFill=1"),
    edge("e4", "api", "w"),
    '<mxCell id="l4" value="Runs &lt;i&gt;jobs&lt;/i&gt;" style="edgeLabel" vertex="1" '
    'connectable="0" parent="e4"><mxGeometry relative="1" as="geometry"/></mxCell>',
    edge("e5", "api", None),
    edge("e6", "api", "t"),
]


def test_drawio_elements_boundaries_edges_and_labels():
    model = load_drawio(f"<mxfile>{page(SHOP_CELLS)}</mxfile>", "shop.drawio")
    e = model.elements
    assert (e["buyer"].kind, e["buyer"].external, e["buyer"].parent) == ("person", True, None)
    assert e["shop_db"].kind == "database" and e["bus"].kind == "queue"
    assert e["shop_api"].description == "About Shop API"  # HTML stripped
    assert e["shop_api"].parent == "shop" and e["worker"].parent == "shop"
    assert e["shop"].kind == "boundary"
    assert rels(model) == {
        ("buyer", "shop_api"),
        ("shop_api", "shop_db"),
        ("shop_api", "bus"),
        ("shop_api", "worker"),
    }
    by_pair = {(r.source, r.target): r for r in model.relationships}
    assert by_pair[("buyer", "shop_api")].description == "Orders\nvia & web"
    assert by_pair[("shop_api", "bus")].bidirectional
    assert by_pair[("shop_api", "worker")].description == "Runs jobs"
    text = "\n".join(model.warnings)
    assert "shop.drawio:" in text and "'e5'" in text and "has no target" in text
    assert "'e6'" in text and "not a C4 element" in text
    assert "Plain text" in text  # a shape that is not C4 is reported, not guessed


def compress(xml: str) -> str:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = deflater.compress(quote(xml, safe="").encode()) + deflater.flush()
    return base64.b64encode(raw).decode()


def test_drawio_compressed_pages_are_read_and_merged():
    second = (
        '<mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/>'
        + c4_object("x", "Shop API", "Container", "Spring Boot")
        + c4_object("y", "Mailer", "Software System")
        + edge("z", "x", "y")
        + "</root></mxGraphModel>"
    )
    doc = (
        f'<mxfile>{page(SHOP_CELLS[:3])}<diagram name="Context" id="c">{compress(second)}'
        f'</diagram><diagram name="Broken" id="d">not base64 at all!</diagram></mxfile>'
    )
    model = load_drawio(doc, "pages.drawio")
    assert list(model.elements).count("shop_api") == 1  # the same box on two pages
    assert model.elements["mailer"].kind == "software_system"
    assert ("shop_api", "mailer") in rels(model)
    assert any("page 'Broken'" in w and "cannot decompress" in w for w in model.warnings)


@pytest.mark.parametrize(
    "doc, fragment",
    [
        (
            '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            '<mxfile><diagram name="x">&b;</diagram></mxfile>',
            "not allowed",
        ),
        ('<!DOCTYPE m SYSTEM "file:///etc/passwd"><mxfile/>', "not allowed"),
        ("<mxfile><diagram name='x'><mxGraphModel><root></mxfile>", "not a readable"),
        ("<svg/>", "not a draw.io file"),
    ],
)
def test_drawio_hostile_or_broken_files_give_warnings(doc, fragment):
    model = load_drawio(doc, "bad.drawio")
    assert model.elements == {}
    assert any(w.startswith("bad.drawio") and fragment in w for w in model.warnings)


# --- C4-PlantUML ----------------------------------------------------------------------------


def test_plantuml_fixture():
    model = load_model(FIXTURES / "shop.puml")
    e = model.elements
    assert "ghost" not in e and "ghost2" not in e  # comments
    assert (e["partner"].external, e["partner"].tags) == (True, ["b2b", "vip"])
    assert e["corp"].kind == e["shop"].kind == e["backend"].kind == "boundary"
    assert (e["shop"].parent, e["backend"].parent, e["api"].parent) == ("corp", "shop", "backend")
    assert e["calc"].parent == "backend" and e["calc"].description == "Spans two lines"
    assert e["db"].kind == "database" and e["bus"].kind == "queue" and e["mq"].kind == "queue"
    assert e["bank"].external and e["bank"].parent is None and e["mq"].parent is None
    by_pair = {(r.source, r.target): r for r in model.relationships}
    assert set(by_pair) == {
        ("buyer", "api"),
        ("api", "db"),
        ("api", "bus"),
        ("api", "bank"),
        ("partner", "api"),
    }
    assert by_pair[("buyer", "api")].technology == "HTTPS"
    assert by_pair[("buyer", "api")].tags == ["web"]
    assert by_pair[("api", "bank")].bidirectional
    text = "\n".join(model.warnings)
    assert "shop.puml:27:" in text and "'nowhere'" in text
    assert "shop.puml:28:" in text and "Frobnicate" in text
    assert len(model.warnings) == 2


def test_plantuml_broken_input_never_raises():
    model = load_plantuml(
        'Person(a\nContainer(b, "B")\n}\nSystem_Boundary(x, "X") {\nContainer(c)\nRel(',
        "broken.puml",
    )
    assert "b" not in model.elements or model.elements["b"].name == "B"
    assert model.warnings  # unbalanced, too few arguments, unclosed block


# --- Structurizr ----------------------------------------------------------------------------


def test_dsl_fixture():
    model = load_model(FIXTURES / "shop.dsl")
    e = model.elements
    assert model.name == "Shop"
    assert set(e) == {"buyer", "shop", "shop.api", "shop.db", "shop.bus"}
    assert e["buyer"].external and e["shop"].kind == "software_system"
    assert (e["shop.db"].kind, e["shop.bus"].kind) == ("database", "queue")
    assert e["shop.bus"].technology == "RabbitMQ" and e["shop.api"].parent == "shop"
    by_pair = {(r.source, r.target): r for r in model.relationships}
    assert set(by_pair) == {
        ("shop.api", "shop.db"),
        ("shop", "buyer"),
        ("shop", "shop.bus"),
        ("buyer", "shop.api"),
    }
    assert by_pair[("shop.api", "shop.db")].technology == "JDBC"
    assert by_pair[("buyer", "shop.api")].tags == ["Web"]
    text = "\n".join(model.warnings)
    assert "shop.dsl:18:" in text and "frobnicate" in text
    assert "shop.dsl:24:" in text and "shop.nowhere" in text


def test_dsl_flat_identifiers_and_unclosed_block():
    model = load_dsl(
        'workspace {\n model {\n  a = person "A"\n  s = softwareSystem "S" {\n'
        '   c = container "C" "" "Kafka"\n  }\n  a -> c "Uses"\n',
        "flat.dsl",
    )
    assert set(model.elements) == {"a", "s", "c"} and model.elements["c"].kind == "queue"
    assert ("a", "c") in rels(model)
    assert any("not closed" in w for w in model.warnings)


def test_default_model_loads_cleanly():
    model = load_model("explorer/alexandrite/model.dsl")
    assert model.warnings == []
    assert {"customer", "shop_api", "shop_db", "queue", "files_storage"} <= set(model.elements)
    assert model.elements["queue"].kind == "queue"


WORKSPACE = {
    "name": "W",
    "model": {
        "people": [
            {
                "id": "1",
                "name": "Buyer",
                "tags": "Element,Person",
                "location": "External",
                "relationships": [
                    {
                        "id": "10",
                        "sourceId": "1",
                        "destinationId": "3",
                        "description": "Uses",
                        "technology": "HTTPS",
                    },
                    {
                        "id": "11",
                        "sourceId": "1",
                        "destinationId": "2",
                        "linkedRelationshipId": "10",
                    },
                ],
            }
        ],
        "softwareSystems": [
            {
                "id": "2",
                "name": "Shop",
                "properties": {"structurizr.dsl.identifier": "shop"},
                "containers": [
                    {
                        "id": "3",
                        "name": "Shop API",
                        "technology": "Java",
                        "properties": {"structurizr.dsl.identifier": "api"},
                        "relationships": [
                            {"id": "12", "sourceId": "3", "destinationId": "4"},
                            {"id": "13", "sourceId": "3", "destinationId": "99"},
                        ],
                    },
                    {"id": "4", "name": "Shop DB", "tags": "Element,Container,Database"},
                    {"description": "no name"},
                ],
            }
        ],
    },
}


def test_workspace_json():
    model = load_workspace_json(json.dumps(WORKSPACE), "w.json")
    e = model.elements
    assert set(e) == {"buyer", "shop", "api", "shop_db"}
    assert e["buyer"].external and e["api"].parent == "shop" and e["shop_db"].kind == "database"
    assert rels(model) == {("buyer", "api"), ("api", "shop_db")}  # the implied one is skipped
    text = "\n".join(model.warnings)
    assert "containers[2]" in text and "'99'" in text


@pytest.mark.parametrize("data", [b"{not json", b'{"model": 3}', b"[]"])
def test_workspace_json_broken(data):
    model = parse_model(data, "bad.json")
    assert model.elements == {} and model.warnings[0].startswith("bad.json")


def test_unknown_format_is_a_warning():
    assert "format not recognised" in parse_model(b"\x00\x01", "x.bin").warnings[0]


def test_import_command_json(capsys):
    call_command("c4", "import", str(FIXTURES / "shop.puml"), "--json")
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"elements", "relationships", "warnings"}
    api = next(e for e in out["elements"] if e["id"] == "api")
    assert api == {
        "id": "api",
        "name": "Shop API",
        "kind": "container",
        "technology": "Spring Boot",
        "description": "Orders",
        "parent": "backend",
        "external": False,
        "translated": {},
    }
    assert {
        "source": "buyer",
        "target": "api",
        "description": "Orders",
        "technology": "HTTPS",
    }.items() <= out["relationships"][0].items()
    assert len(out["warnings"]) == 2
