"""The model's own texts in other languages: each notation's way of writing them, the shipped
Alexandrite model's Russian, the fallback to the model's own text, and the pages choosing the
page's language (escaped like any other text)."""

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from explorer.c4.drawio import load_drawio
from explorer.c4.drift import drift
from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.model import Element, translation_key
from explorer.c4.models import ModelText
from explorer.c4.plantuml import load_plantuml
from explorer.c4.structurizr import load_dsl, load_workspace_json
from explorer.caching import reset_caches
from explorer.diagrams.overlay import Overlay
from explorer.diagrams.render import render_svg
from explorer.journeys.state_graph import load_state_graph
from tests.test_web_pages import stored, text  # noqa: F401 - the fixture is used by name
from tests.tours_support import serve_from_memory
from tests.web_support import detailed_svg, overview_svg

DSL = """workspace {
    model {
        customer = person "Customer" "Orders jewellery." {
            properties {
                "name:ru" "Покупатель"
                "description:ru" "Заказывает украшения."
                "owner" "sales"
            }
        }
        shop = softwareSystem "Shop" "Sells."
        customer -> shop "Orders in" "HTTPS" {
            properties {
                "description:ru" "Заказывает в"
            }
        }
        shop -> customer "Notifies"
    }
    properties {
        "name:ru" "not an element's"
    }
}
"""


def test_structurizr_dsl_properties_carry_translations():
    model = load_dsl(DSL)
    assert model.warnings == []
    customer = model.elements["customer"]
    assert customer.translated == {
        "name:ru": "Покупатель",
        "description:ru": "Заказывает украшения.",
    }
    assert customer.text("name", "ru") == "Покупатель"
    assert customer.text("name", "en") == "Customer"
    orders, notifies = model.relationships
    assert orders.text("description", "ru") == "Заказывает в"
    assert notifies.text("description", "ru") == "Notifies"  # none: the model's own text
    assert model.elements["shop"].text("name", "ru") == "Shop"


def test_structurizr_json_properties_carry_translations():
    workspace = {
        "model": {
            "people": [
                {
                    "id": "1",
                    "name": "Customer",
                    "properties": {"name:ru": "Покупатель", "structurizr.dsl.identifier": "c"},
                    "relationships": [
                        {
                            "sourceId": "1",
                            "destinationId": "2",
                            "description": "Uses",
                            "properties": {"description:ru": "Пользуется"},
                        }
                    ],
                }
            ],
            "softwareSystems": [{"id": "2", "name": "Shop"}],
        }
    }
    model = load_workspace_json(json.dumps(workspace))
    assert model.elements["c"].text("name", "ru") == "Покупатель"
    assert model.relationships[0].text("description", "ru") == "Пользуется"


def test_drawio_attributes_carry_translations():
    xml = """<mxfile><diagram name="p"><mxGraphModel><root>
<mxCell id="0"/><mxCell id="1" parent="0"/>
<object id="a" c4Type="Person" c4Name="Customer" c4Description="Orders."
        c4Name_ru="Покупатель" c4Description_ru="Заказывает &lt;b&gt;украшения&lt;/b&gt;.">
  <mxCell style="shape=mxgraph.c4.person2" vertex="1" parent="1">
    <mxGeometry x="0" y="0" width="100" height="100" as="geometry"/></mxCell></object>
<object id="b" c4Type="Software System" c4Name="Shop" name_ru="Магазин">
  <mxCell style="rounded=1" vertex="1" parent="1">
    <mxGeometry x="300" y="0" width="100" height="100" as="geometry"/></mxCell></object>
<object id="e" c4Type="Relationship" c4Description="Orders in" c4Description_ru="Заказывает в">
  <mxCell style="endArrow=classic" edge="1" parent="1" source="a" target="b">
    <mxGeometry relative="1" as="geometry"/></mxCell></object>
</root></mxGraphModel></diagram></mxfile>"""
    model = load_drawio(xml)
    customer = next(e for e in model.elements.values() if e.name == "Customer")
    assert customer.text("name", "ru") == "Покупатель"
    assert customer.text("description", "ru") == "Заказывает украшения."  # HTML made text
    shop = next(e for e in model.elements.values() if e.name == "Shop")
    assert shop.text("name", "ru") == "Магазин"
    assert model.relationships[0].text("description", "ru") == "Заказывает в"


def test_plantuml_properties_carry_translations_to_the_next_item_only():
    model = load_plantuml(
        """@startuml
AddProperty("name:ru", "Покупатель")
AddProperty("description:ru", "Заказывает украшения.")
Person(customer, "Customer", "Orders jewellery.")
Container(shop, "Shop", "Vue", "Sells.")
AddProperty("description:ru", "Заказывает в")
Rel(customer, shop, "Orders in")
Rel(shop, customer, "Notifies")
@enduml"""
    )
    assert model.warnings == []
    assert model.elements["customer"].text("description", "ru") == "Заказывает украшения."
    assert model.elements["shop"].translated == {}
    orders, notifies = model.relationships
    assert orders.text("description", "ru") == "Заказывает в"
    assert notifies.translated == {}


@pytest.mark.parametrize(
    "key, canonical",
    [("name:ru", "name:ru"), ("Name_RU", "name:ru"), ("description.ru", "description:ru")],
)
def test_translation_keys(key, canonical):
    assert translation_key(key) == canonical
    assert translation_key("owner") is None and translation_key("name") is None


def test_fallback_to_the_models_own_text():
    element = Element("a", "Shop", "container", description="Sells.", translated={})
    assert element.text("name", "ru") == "Shop"
    assert element.text("description", "ru-ru") == "Sells."
    assert element.text("name", None) == "Shop"
    element.translated["name:ru"] = "Магазин"
    assert element.text("name", "ru-RU") == "Магазин"
    assert element.text("name", "de") == "Shop"


def test_the_shipped_model_speaks_russian():
    model = load_model(DEFAULT_MODEL)
    assert model.warnings == []
    for element in model.elements.values():
        assert re.search("[а-яё]", element.text("description", "ru")), element.id
    for r in model.relationships:
        assert re.search("[а-яё]", r.text("description", "ru")), (r.source, r.target)
    assert model.elements["internet_shop"].text("name", "ru") == "Интернет-магазин"
    assert model.elements["shop_api"].text("name", "ru") == "Shop API"  # a proper name
    russian = model.in_language("ru")
    assert russian.elements["customer"].name == "Покупатель"
    assert russian.fingerprint() != model.fingerprint()
    assert model.in_language("en") is model and model.elements["customer"].name == "Customer"


def test_drift_names_in_the_language(model, mapping):
    report = drift(model, mapping, [], language="ru")
    described = {r["description"] for r in report["unobserved"]}
    assert "Читает и пишет заказы" in described


# --- pages ------------------------------------------------------------------------------------


def test_diagrams_draw_the_models_texts_in_their_language(model):
    russian = render_svg(model, Overlay(lang="ru"))
    assert "Интернет-магазин" in russian and "Покупатель" in russian
    assert "Оформляет заказ" in russian  # a relationship's description
    assert "Internet Shop" not in russian and "Makes an order" not in russian
    english = render_svg(model, Overlay(lang="en"))
    assert "Internet Shop" in english and "Интернет-магазин" not in english


def test_order_page_names_elements_in_russian(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100001"])))
    assert "Интернет-магазин" in body
    assert "Хранилище 3D-файлов" in detailed_svg(body)
    assert "Покупатель" in overview_svg(body)


def test_hostile_translation_is_escaped(client, login_as, stored, settings, tmp_path):  # noqa: F811
    dsl = Path(DEFAULT_MODEL).read_text(encoding="utf-8")
    hostile = "<script>alert(1)</script>&amp;"
    dsl = dsl.replace('"name:ru" "Интернет-магазин"', f'"name:ru" "{hostile}"')
    (tmp_path / "model.dsl").write_text(dsl, encoding="utf-8")
    settings.EXPLORER_MODEL_FILE = tmp_path / "model.dsl"
    reset_caches()  # the configuration the stored orders were judged with
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100001"])))
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;alert(1)" in body  # in the diagram and the page's own lists


# --- the admin ----------------------------------------------------------------------------------


def test_architect_fills_a_translation_in_the_admin(client, login_as, stored):  # noqa: F811
    login_as("architect")
    add = "/admin/c4/modeltext/add/"
    refused = client.post(add, {"subject": "no_such -> thing", "language": "ru", "name": "x"})
    assert refused.status_code == 200 and ModelText.objects.count() == 0
    named_relationship = {"subject": "shop_api -> shop_db", "language": "ru", "name": "Имя"}
    assert client.post(add, named_relationship).status_code == 200
    assert ModelText.objects.count() == 0
    for entry in (
        {"subject": "shop_api", "language": "ru", "name": "API <магазина>"},
        {"subject": "shop_api -> shop_db", "language": "ru", "description": "Хранит заказы"},
    ):
        assert client.post(add, entry).status_code == 302
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100001"])))
    svg = detailed_svg(body)
    assert "API &lt;магазина&gt;" in svg and "Хранит заказы" in svg
    assert "Интернет-магазин" in svg  # the file's own translations stay
    assert "API &lt;магазина&gt;" in overview_svg(body)
    client.cookies["django_language"] = "en"
    body = text(client.get(reverse("web:order", args=["A-100001"])))
    assert "магазина" not in body and "Shop API" in body


def test_admin_apps_second_factor_first_have_names_in_both_languages(client, login_as):
    login_as("administrator")
    english = text(client.get("/admin/"))
    assert "Second factor: authenticator apps" in english
    assert "Second factor: backup codes" in english
    client.cookies["django_language"] = "ru"
    russian = text(client.get("/admin/"))
    assert "Второй фактор: приложения-аутентификаторы" in russian
    assert "Второй фактор: резервные коды" in russian
    assert "Учётные записи и аудит" in russian and "Неудачные входы и блокировки" in russian
    assert ">Axes<" not in russian and ">Accounts<" not in russian
    for page in (english, russian):
        assert not re.search("otp_totp|otp_static", page, re.I) or "/admin/otp_" in page
        assert ">Otp_" not in page and "OTP_TOTP" not in page and "OTP_STATIC" not in page


# --- the state graph and the tours ---------------------------------------------------------------


def test_the_shipped_states_have_russian_descriptions():
    graph = load_state_graph(DEFAULT_MODEL.parent / "states.json")
    for state in graph.states:
        assert re.search("[а-яё]{3,}", state.description_in("ru")), state.name
        assert state.description_in("en") == state.description
    bare = replace(graph.states[0], description_ru="")
    assert bare.description_in("ru") == bare.description  # none: the English one


def test_a_russian_tour_step_names_the_model_and_the_states_in_russian(
    db, monkeypatch, login_as, client
):
    serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    login_as("onboarding")
    client.cookies["django_language"] = "ru"
    body = text(client.get("/tours/retail-order/2/"))
    assert "Интернет-магазин" in body  # the step's element, its relationship and the diagram
    assert 'title="Новый заказ или товары, положенные в пустую корзину."' in body
    assert "A new order, or items put in an empty cart." not in body
    client.cookies["django_language"] = "en"
    body = text(client.get("/tours/retail-order/2/"))
    assert "Internet Shop" in body and "Интернет-магазин" not in body
