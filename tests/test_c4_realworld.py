"""C4 models as other tools and people really write them: draw.io palettes with repeated names,
the library's database shape without c4Name, clipboard XML, systems drawn as plain containers;
Structurizr DSL workspaces that extend, include and reference; C4-PlantUML RelIndex and
deployment macros. All data is written here."""

from urllib.parse import quote

from explorer.c4.drawio import load_drawio
from explorer.c4.loader import parse_model
from explorer.diagrams import render


def rels(model):
    return {(r.source, r.target) for r in model.relationships}


def c4(cid, c4type, *, name=None, label="%c4Name%", tech="", parent="1", x=0, y=0, w=120, h=60,
       style="rounded=1"):
    named = f'c4Name="{name}" ' if name is not None else ""
    return (f'<object placeholders="1" {named}c4Type="{c4type}" c4Technology="{tech}" '
            f'label="{label}" id="{cid}"><mxCell style="{style}" vertex="1" parent="{parent}">'
            f'<mxGeometry x="{x}" y="{y}" width="{w}" height="{h}" as="geometry"/>'
            '</mxCell></object>')


def edge(cid, source, target):
    return (f'<mxCell id="{cid}" style="endArrow=classic" edge="1" parent="1" source="{source}" '
            f'target="{target}"><mxGeometry relative="1" as="geometry"/></mxCell>')


def graph(*cells):
    return ('<mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/>'
            + "".join(cells) + "</root></mxGraphModel>")


# --- draw.io --------------------------------------------------------------------------------

def test_drawio_shapes_with_the_same_name_stay_separate_and_are_warned():
    model = load_drawio(graph(
        c4("a", "Container", name="Container", x=0),
        c4("b", "Container", name="Container", x=200),
        c4("c", "Container", name="Container", x=400),
        edge("e", "a", "b"),
    ), "palette.drawio")
    assert len(model.elements) == 3
    [rel] = model.relationships
    assert rel.source != rel.target  # not a self-loop
    assert any("3 container shapes named 'Container'" in w for w in model.warnings)


def test_drawio_the_same_shape_on_two_pages_is_still_one_element():
    page = '<diagram name="{0}" id="{0}">{1}</diagram>'
    doc = ("<mxfile>" + page.format("One", graph(c4("a", "Container", name="Shop API")))
           + page.format("Two", graph(c4("x", "Container", name="Shop API"),
                                      c4("y", "Person", name="Buyer"), edge("e", "y", "x")))
           + "</mxfile>")
    model = load_drawio(doc, "pages.drawio")
    assert sorted(model.elements) == ["buyer", "shop_api"]
    assert rels(model) == {("buyer", "shop_api")}
    assert not any("named" in w for w in model.warnings)


def test_drawio_database_shape_without_c4name_is_named_from_its_label():
    label = ("&lt;b&gt;Orders DB&lt;/b&gt;&lt;div&gt;[Container:&amp;nbsp;%c4Technology%]"
             "&lt;/div&gt;&lt;div&gt;Keeps orders&lt;/div&gt;")
    model = load_drawio(graph(
        c4("db", "Database", label=label, tech="PostgreSQL", style="shape=cylinder3"),
        c4("api", "Container", name="Shop API"),
        edge("e", "api", "db"),
    ), "db.drawio")
    db = model.elements["orders_db"]
    assert (db.kind, db.technology, db.description) == ("database", "PostgreSQL", "Keeps orders")
    assert rels(model) == {("shop_api", "orders_db")}
    assert not any("unknown c4Type" in w for w in model.warnings)


def test_drawio_clipboard_xml_is_read():
    xml = graph(c4("a", "Person", name="Buyer"), c4("b", "Container", name="Shop"),
                edge("e", "a", "b"))
    for data in (quote(xml), quote(xml).encode(), quote(xml).replace("%3C", "%3c")):
        model = load_drawio(data, "clipboard")
        assert sorted(model.elements) == ["buyer", "shop"], data[:20]
        assert rels(model) == {("buyer", "shop")}
    assert parse_model(quote(xml).encode(), "pasted").elements.keys() == {"buyer", "shop"}


def system_drawn_as_a_container():
    return graph(
        '<mxCell id="sys" value="Jewellery Store" style="swimlane;container=1" vertex="1" '
        'parent="1"><mxGeometry x="200" y="0" width="400" height="300" as="geometry"/>'
        "</mxCell>",
        c4("api", "Container", name="Shop API", parent="sys", x=20, y=40),
        c4("u", "Person", name="Customer", x=0, y=400),
        edge("e", "u", "sys"),
    )


def test_drawio_relationships_to_a_system_drawn_as_a_container_are_kept_and_drawn():
    model = load_drawio(system_drawn_as_a_container(), "groups.drawio")
    assert model.elements["jewellery_store"].kind == "boundary"
    assert model.elements["shop_api"].parent == "jewellery_store"
    assert rels(model) == {("customer", "jewellery_store")}
    svg = render.render_svg(model)
    assert 'id="rel-0"' in svg  # drawn to the boundary's edge, not left out


def test_drawio_a_decorative_container_is_not_an_element():
    model = load_drawio(graph(
        '<mxCell id="g" value="Notes" style="swimlane;container=1" vertex="1" parent="1">'
        '<mxGeometry width="100" height="100" as="geometry"/></mxCell>'), "notes.drawio")
    assert model.elements == {}
