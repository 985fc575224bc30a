"""C4 models as other tools and people really write them: draw.io palettes with repeated names,
the library's database shape without c4Name, clipboard XML, systems drawn as plain containers;
Structurizr DSL workspaces that extend, include and reference; C4-PlantUML RelIndex and
deployment macros. All data is written here."""

import json
from urllib.parse import quote

from explorer.c4.drawio import load_drawio
from explorer.c4.loader import load_model, parse_model
from explorer.c4.plantuml import load_plantuml
from explorer.c4.structurizr import load_dsl
from explorer.diagrams import render


def rels(model):
    return {(r.source, r.target) for r in model.relationships}


def c4(
    cid,
    c4type,
    *,
    name=None,
    label="%c4Name%",
    tech="",
    parent="1",
    x=0,
    y=0,
    w=120,
    h=60,
    style="rounded=1",
):
    named = f'c4Name="{name}" ' if name is not None else ""
    return (
        f'<object placeholders="1" {named}c4Type="{c4type}" c4Technology="{tech}" '
        f'label="{label}" id="{cid}"><mxCell style="{style}" vertex="1" parent="{parent}">'
        f'<mxGeometry x="{x}" y="{y}" width="{w}" height="{h}" as="geometry"/>'
        "</mxCell></object>"
    )


def edge(cid, source, target):
    return (
        f'<mxCell id="{cid}" style="endArrow=classic" edge="1" parent="1" source="{source}" '
        f'target="{target}"><mxGeometry relative="1" as="geometry"/></mxCell>'
    )


def graph(*cells):
    return (
        '<mxGraphModel><root><mxCell id="0"/><mxCell id="1" parent="0"/>'
        + "".join(cells)
        + "</root></mxGraphModel>"
    )


# --- draw.io --------------------------------------------------------------------------------


def test_drawio_shapes_with_the_same_name_stay_separate_and_are_warned():
    model = load_drawio(
        graph(
            c4("a", "Container", name="Container", x=0),
            c4("b", "Container", name="Container", x=200),
            c4("c", "Container", name="Container", x=400),
            edge("e", "a", "b"),
        ),
        "palette.drawio",
    )
    assert len(model.elements) == 3
    [rel] = model.relationships
    assert rel.source != rel.target  # not a self-loop
    assert any("3 container shapes named 'Container'" in w for w in model.warnings)


def test_drawio_the_same_shape_on_two_pages_is_still_one_element():
    page = '<diagram name="{0}" id="{0}">{1}</diagram>'
    doc = (
        "<mxfile>"
        + page.format("One", graph(c4("a", "Container", name="Shop API")))
        + page.format(
            "Two",
            graph(
                c4("x", "Container", name="Shop API"),
                c4("y", "Person", name="Buyer"),
                edge("e", "y", "x"),
            ),
        )
        + "</mxfile>"
    )
    model = load_drawio(doc, "pages.drawio")
    assert sorted(model.elements) == ["buyer", "shop_api"]
    assert rels(model) == {("buyer", "shop_api")}
    assert not any("named" in w for w in model.warnings)


def test_drawio_database_shape_without_c4name_is_named_from_its_label():
    label = (
        "&lt;b&gt;Orders DB&lt;/b&gt;&lt;div&gt;[Container:&amp;nbsp;%c4Technology%]"
        "&lt;/div&gt;&lt;div&gt;Keeps orders&lt;/div&gt;"
    )
    model = load_drawio(
        graph(
            c4("db", "Database", label=label, tech="PostgreSQL", style="shape=cylinder3"),
            c4("api", "Container", name="Shop API"),
            edge("e", "api", "db"),
        ),
        "db.drawio",
    )
    db = model.elements["orders_db"]
    assert (db.kind, db.technology, db.description) == ("database", "PostgreSQL", "Keeps orders")
    assert rels(model) == {("shop_api", "orders_db")}
    assert not any("unknown c4Type" in w for w in model.warnings)


def test_drawio_clipboard_xml_is_read():
    xml = graph(
        c4("a", "Person", name="Buyer"), c4("b", "Container", name="Shop"), edge("e", "a", "b")
    )
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
    model = load_drawio(
        graph(
            '<mxCell id="g" value="Notes" style="swimlane;container=1" vertex="1" parent="1">'
            '<mxGeometry width="100" height="100" as="geometry"/></mxCell>'
        ),
        "notes.drawio",
    )
    assert model.elements == {}


# --- Structurizr DSL ------------------------------------------------------------------------

BASE_DSL = """workspace "Base" {
    !identifiers hierarchical
    model {
        customer = person "Customer"
        shop = softwareSystem "Shop" {
            web = container "Web" "" "Vue"
        }
        customer -> shop.web "Orders"
    }
    views {
        systemContext shop {
            include *
        }
    }
}
"""


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_dsl_workspace_extends_a_relative_file_and_uses_its_identifiers(tmp_path):
    write(tmp_path, "shared/base.dsl", BASE_DSL)
    child = write(
        tmp_path,
        "shared/child.dsl",
        """workspace extends base.dsl {
    model {
        !ref shop {
            api = container "API" "" "Spring Boot"
        }
        shop.web -> shop.api "Calls" "HTTPS"
    }
}
""",
    )
    model = load_model(child)
    assert set(model.elements) == {"customer", "shop", "shop.web", "shop.api"}
    assert model.elements["shop.api"].parent == "shop"
    assert rels(model) == {("customer", "shop.web"), ("shop.web", "shop.api")}
    assert model.warnings == []


def test_dsl_workspace_extends_a_json_workspace(tmp_path):
    write(
        tmp_path,
        "base.json",
        json.dumps(
            {
                "name": "Base",
                "model": {
                    "people": [{"id": "1", "name": "Customer"}],
                    "softwareSystems": [
                        {
                            "id": "2",
                            "name": "Shop",
                            "properties": {"structurizr.dsl.identifier": "shop"},
                        }
                    ],
                },
            }
        ),
    )
    child = write(
        tmp_path,
        "child.dsl",
        "workspace extends base.json {\n model {\n"
        '  mailer = softwareSystem "Mailer"\n  shop -> mailer "Sends"\n }\n}\n',
    )
    model = load_model(child)
    assert {"customer", "shop", "mailer"} <= set(model.elements)
    assert ("shop", "mailer") in rels(model)


def test_dsl_identifiers_are_case_insensitive_in_a_workspace_extending_another(tmp_path):
    # as Structurizr's own Big Bank workspaces do: the base declares internetBankingSystem,
    # the extending workspace writes !ref internetbankingsystem and adds the containers
    write(
        tmp_path,
        "bank/model.dsl",
        """workspace {
    model {
        customer = person "Customer"
        onlineBank = softwareSystem "Online Bank"
        coreLedger = softwareSystem "Core Ledger" "" "Existing System"
        customer -> onlineBank "Uses"
    }
}
""",
    )
    child = write(
        tmp_path,
        "bank/online/workspace.dsl",
        """workspace extends ../model.dsl {
    model {
        !ref onlinebank {
            webApp = container "Web App" "" "Vue"
            apiApp = container "API" "" "Spring Boot" {
                Ledger_Client = component "Ledger Client"
            }
        }
        !element CORELEDGER {
            tags "Mainframe"
        }
        CUSTOMER -> webapp "Visits"
        WebApp -> APIAPP "Calls" "JSON/HTTPS"
        ledger_client -> CoreLedger "Reads"
    }
    views {
        container ONLINEBANK {
            include *
        }
    }
}
""",
    )
    model = load_model(child)
    e = model.elements
    assert set(e) == {"customer", "onlineBank", "coreLedger", "webApp", "apiApp", "Ledger_Client"}
    assert e["webApp"].parent == e["apiApp"].parent == "onlineBank"
    assert e["Ledger_Client"].parent == "apiApp"
    assert "Mainframe" in e["coreLedger"].tags
    assert rels(model) == {
        ("customer", "onlineBank"),
        ("customer", "webApp"),
        ("webApp", "apiApp"),
        ("Ledger_Client", "coreLedger"),
    }
    assert model.warnings == []


def test_dsl_hierarchical_identifiers_and_this_in_any_case():
    model = load_dsl(
        """workspace {
    !identifiers hierarchical
    model {
        Shop = softwareSystem "Shop" {
            API = container "API"
            worker = container "Worker" {
                THIS -> api "Polls"
            }
        }
        !extend shop.Api {
            technology "Go"
        }
        SHOP.WORKER -> Shop.api "Reports to"
    }
}""",
        "hier.dsl",
    )
    e = model.elements
    assert set(e) == {"Shop", "Shop.API", "Shop.worker"}
    assert e["Shop.API"].technology == "Go"
    assert [(r.source, r.target, r.description) for r in model.relationships] == [
        ("Shop.worker", "Shop.API", "Polls"),
        ("Shop.worker", "Shop.API", "Reports to"),
    ]
    assert model.warnings == []


def test_dsl_an_identifier_declared_again_in_another_case_is_a_duplicate():
    model = load_dsl(
        'workspace {\n model {\n  api = container "A"\n  API = container "B"\n'
        '  Api -> nothing "Calls"\n }\n}',
        "dup.dsl",
    )
    assert set(model.elements) == {"api", "api_2"}
    assert model.elements["api_2"].name == "B"
    assert any("dup.dsl:4: duplicate id 'api'; renamed to 'api_2'" in w for w in model.warnings)
    assert any("unknown element 'nothing'" in w for w in model.warnings)


JEWELLERY_BASE_DSL = """workspace {
    model {
        customer = person "Customer" "" "Retail"
        group "Alexandrite" {
            seller = person "Seller"
            jewelleryStore = softwareSystem "Jewellery Store System"
            paymentGateway = softwareSystem "Payment Gateway" "" "Existing System"
        }
        customer -> jewelleryStore "Orders jewellery using"
        Seller -> JewelleryStore "Confirms orders using"
        jewelleryStore -> paymentGateway "Takes payments using"
    }
}
"""

# The extending workspace has every part of Structurizr's own extending workspaces (Big Bank
# plc's internet banking system): !ref to the base's system in lower case, containers and
# components in it, relationships spelt in other cases, deployment environments with instances,
# and views of every kind naming elements in any case; plus !element and !extend.
JEWELLERY_SHOP_DSL = """workspace extends ../model.dsl {
    name "Alexandrite - Jewellery Store System"
    model {
        !ref jewellerystore {
            internetShop = container "Internet Shop" "" "Vue, TypeScript" "Web Browser"
            shopApi = container "Shop API" "" "Spring Boot" {
                orderController = component "Order Controller" "" "Spring MVC"
                paymentClient = component "Payment Client" "" "Spring Bean"
            }
            shopDb = container "Shop DB" "" "PostgreSQL" "Database"
        }
        !element PAYMENTGATEWAY {
            tags "External"
        }
        !extend ShopApi {
            description "Stores the order from the customer's view"
        }
        CUSTOMER -> internetshop "Designs a piece in"
        InternetShop -> ORDERCONTROLLER "Submits orders to" "JSON/HTTPS"
        ordercontroller -> PaymentClient "Charges using"
        paymentclient -> paymentgateway "Charges cards using" "HTTPS"
        ORDERCONTROLLER -> shopdb "Reads from and writes to" "JDBC"

        deploymentEnvironment "Live" {
            deploymentNode "Customer's computer" "" "Windows or macOS" {
                liveShopInstance = containerInstance INTERNETSHOP
            }
            deploymentNode "Alexandrite data centre" {
                primaryDb = deploymentNode "PostgreSQL - Primary" {
                    containerInstance shopdb
                }
                softwareSystemInstance PaymentGateway
            }
        }
    }
    views {
        systemcontext JewelleryStore "SystemContext" {
            include *
            animation {
                jewellerystore
                CUSTOMER paymentgateway
            }
        }
        container JEWELLERYSTORE "Containers" {
            include *
            exclude seller
        }
        component shopapi "Components" {
            include *
        }
        dynamic SHOPAPI "Ordering" "How an order is placed." {
            internetshop -> orderController "Submits the order to"
            ORDERCONTROLLER -> shopDB "Stores the order in"
        }
        deployment jewelleryStore "Live" "LiveDeployment" {
            include *
        }
        styles {
            element "Database" {
                shape Cylinder
            }
        }
    }
}
"""


def test_dsl_a_workspace_extending_another_keeps_every_element_of_both(tmp_path):
    write(tmp_path, "alexandrite/model.dsl", JEWELLERY_BASE_DSL)
    child = write(tmp_path, "alexandrite/shop/workspace.dsl", JEWELLERY_SHOP_DSL)
    model = load_model(child)
    e = model.elements
    assert set(e) == {
        "customer",
        "seller",
        "jewelleryStore",
        "paymentGateway",
        "internetShop",
        "shopApi",
        "orderController",
        "paymentClient",
        "shopDb",
    }
    assert e["internetShop"].parent == e["shopApi"].parent == e["shopDb"].parent
    assert e["shopDb"].parent == "jewelleryStore"
    assert e["orderController"].parent == e["paymentClient"].parent == "shopApi"
    assert e["paymentGateway"].external
    assert e["shopApi"].description == "Stores the order from the customer's view"
    assert e["shopDb"].kind == "database"
    assert rels(model) == {
        ("customer", "jewelleryStore"),
        ("seller", "jewelleryStore"),
        ("jewelleryStore", "paymentGateway"),
        ("customer", "internetShop"),
        ("internetShop", "orderController"),
        ("orderController", "paymentClient"),
        ("paymentClient", "paymentGateway"),
        ("orderController", "shopDb"),
    }
    assert model.warnings == []


def test_dsl_relationship_identifiers_are_case_insensitive(tmp_path):
    write(
        tmp_path,
        "model.dsl",
        """workspace {
    model {
        shop = softwareSystem "Shop"
        crm = softwareSystem "CRM"
        submits = shop -> crm "Submits orders to"
    }
}
""",
    )
    child = write(
        tmp_path,
        "workspace.dsl",
        """workspace extends model.dsl {
    model {
        mes = softwareSystem "MES"
        Notifies = crm -> mes "Notifies"
        !relationship SUBMITS {
            tags "Async"
            properties {
                "description:ru" "Передаёт заказы в"
            }
        }
        !relationship notifies {
            tag "Queue"
        }
    }
}
""",
    )
    model = load_model(child)
    by_end = {(r.source, r.target): r for r in model.relationships}
    assert by_end[("shop", "crm")].tags == ["Async"]
    assert by_end[("shop", "crm")].translated == {"description:ru": "Передаёт заказы в"}
    assert by_end[("crm", "mes")].tags == ["Queue"]
    assert model.warnings == []


def test_dsl_identifiers_of_a_json_base_workspace_match_in_any_case(tmp_path):
    # Structurizr writes the identifiers it registered, in lower case, into the JSON it exports
    system = {"id": "2", "name": "Online Bank"}
    system["properties"] = {"structurizr.dsl.identifier": "onlinebank"}
    write(tmp_path, "base.json", json.dumps({"model": {"softwareSystems": [system]}}))
    child = write(
        tmp_path,
        "child.dsl",
        """workspace extends base.json {
    model {
        !ref onlineBank {
            webApp = container "Web App"
        }
        mailer = softwareSystem "Mailer"
        OnlineBank -> mailer "Sends e-mail using"
        webapp -> MAILER "Sends receipts using"
    }
}
""",
    )
    model = load_model(child)
    assert set(model.elements) == {"onlinebank", "webApp", "mailer"}
    assert model.elements["webApp"].parent == "onlinebank"
    assert rels(model) == {("onlinebank", "mailer"), ("webApp", "mailer")}
    assert model.warnings == []


def test_dsl_unknown_or_reused_relationship_identifiers_are_warnings():
    model = load_dsl(
        """workspace {
    model {
        shop = softwareSystem "Shop"
        crm = softwareSystem "CRM"
        calls = shop -> crm "Calls"
        CALLS = crm -> shop "Answers"
        SHOP = crm -> shop "Pays"
        !relationship nothing {
            tags "Lost"
        }
    }
}""",
        "rels.dsl",
    )
    assert len(model.relationships) == 3
    assert all(r.tags == [] for r in model.relationships)
    assert model.warnings == [
        "rels.dsl:6: identifier 'CALLS' is already in use (identifiers are case-insensitive); "
        "the relationship is kept without it",
        "rels.dsl:7: identifier 'SHOP' is already in use (identifiers are case-insensitive); "
        "the relationship is kept without it",
        "rels.dsl:8: !relationship 'nothing': no such relationship; block ignored",
    ]


def test_dsl_include_of_a_file_and_a_folder_relative_to_the_including_file(tmp_path):
    write(tmp_path, "model/people.dsl", 'customer = person "Customer"\n')
    write(tmp_path, "model/systems/a.dsl", 'shop = softwareSystem "Shop"\n')
    write(
        tmp_path,
        "model/systems/b.dsl",
        'mailer = softwareSystem "Mailer"\nshop -> mailer "Sends"\n',
    )
    main = write(
        tmp_path,
        "workspace.dsl",
        "workspace {\n model {\n  !include model/people.dsl"
        '\n  !include model/systems\n  customer -> shop "Uses"\n }\n}\n',
    )
    model = load_model(main)
    assert set(model.elements) == {"customer", "shop", "mailer"}
    assert rels(model) == {("customer", "shop"), ("shop", "mailer")}
    assert model.warnings == []


def test_dsl_include_refusals_are_warnings(tmp_path):
    (tmp_path / "inner").mkdir()
    write(tmp_path, "shared.dsl", 'helper = person "Helper"\n')
    write(tmp_path, "inner/loop.dsl", "!include loop.dsl\n")
    main = write(
        tmp_path,
        "inner/main.dsl",
        "workspace {\n model {\n  !include ../shared.dsl\n  !include /etc/hostname\n"
        "  !include https://example.com/x.dsl\n  !include loop.dsl\n"
        '  !include absent.dsl\n  u = person "U"\n  u -> ghost "Broken"\n }\n}\n',
    )
    model = load_model(main)
    assert set(model.elements) == {"u", "helper"}  # a relative path may go up, as in Structurizr
    text = "\n".join(model.warnings)
    assert text.count("an absolute path") == 1
    assert "URLs are not fetched" in text and "includes itself" in text
    assert "no such file" in text
    assert f"{main}:9: relationship u -> ghost" in text
    uploaded = parse_model(main.read_bytes(), str(main))  # named like the file: no folder
    assert any("an uploaded model cannot name other files" in w for w in uploaded.warnings)


def test_dsl_a_relationship_in_an_included_file_is_reported_at_its_own_line(tmp_path):
    included = write(tmp_path, "rels.dsl", '\n\nshop -> nowhere "Broken"\n')
    main = write(
        tmp_path,
        "main.dsl",
        'workspace {\n model {\n  shop = softwareSystem "Shop"\n  !include rels.dsl\n }\n}\n',
    )
    model = load_model(main)
    assert any(w.startswith(f"{included}:3: relationship shop -> nowhere") for w in model.warnings)


def test_dsl_archetypes_for_elements_and_relationships():
    model = load_dsl(
        """workspace {
    model {
        archetypes {
            application = container {
                technology "Java"
                tag "Application"
            }
            springApp = application {
                technology "Spring Boot"
            }
            datastore = container {
                technology "PostgreSQL"
                tags "Database"
            }
            https = -> {
                technology "HTTPS"
                tags "Synchronous"
            }
        }
        s = softwareSystem "S" {
            web = application "Web"
            api = springApp "API" "Serves orders"
            db = datastore "Orders DB"
            web --https-> api "Calls"
            api -> db "Reads"
        }
    }
}""",
        "archetypes.dsl",
    )
    e = model.elements
    assert (e["web"].kind, e["web"].technology, e["web"].tags) == (
        "container",
        "Java",
        ["Application"],
    )
    assert (e["api"].technology, e["api"].description) == ("Spring Boot", "Serves orders")
    assert (e["db"].kind, e["db"].technology) == ("database", "PostgreSQL")
    by_pair = {(r.source, r.target): r for r in model.relationships}
    assert (by_pair[("web", "api")].technology, by_pair[("web", "api")].tags) == (
        "HTTPS",
        ["Synchronous"],
    )
    assert model.warnings == []


def test_dsl_groups_hierarchical_identifiers_constants_and_canonical_refs():
    model = load_dsl(
        """workspace {
    !identifiers hierarchical
    !const TECH "Go"
    model {
        group "Company" {
            group "Retail" {
                shop = softwareSystem "Shop" {
                    group "Backend" {
                        api = container "API" "" "${TECH}"
                    }
                }
            }
        }
        !element "SoftwareSystem://Shop" {
            worker = container "Worker"
            worker -> api "Polls"
        }
        !ref "Container://Shop.API" {
            tags "Critical"
        }
    }
}""",
        "groups.dsl",
    )
    e = model.elements
    assert set(e) == {"shop", "shop.api", "shop.worker"}
    assert e["shop.api"].parent == "shop" and e["shop.api"].technology == "Go"
    assert e["shop.api"].tags == ["Critical"]
    assert rels(model) == {("shop.worker", "shop.api")}
    assert model.warnings == []


def test_dsl_ref_to_an_unknown_element_is_a_warning():
    model = load_dsl(
        'workspace {\n model {\n  !ref nothing {\n   x = container "X"\n  }\n }\n}', "ref.dsl"
    )
    assert model.elements == {}
    assert any("ref.dsl:3: !ref 'nothing': no such element" in w for w in model.warnings)


# --- C4-PlantUML ----------------------------------------------------------------------------


def test_plantuml_indexed_relationships_boundary_end_and_deployment_nodes():
    model = load_plantuml(
        """@startuml
!include <C4/C4_Dynamic>
Person(customer, "Customer")
System_Boundary(shop, "Shop")
  Container(web, "Web", "Vue")
  Container(api, "API", "Spring Boot")
  ContainerDb(db, "DB", "PostgreSQL")
Boundary_End()
Container_Ext(mail, "Mailer", "SMTP")
RelIndex(Index(), customer, web, "Places order")
RelIndex_R(Index(), web, api, "Submits", "JSON/HTTPS")
RelIndex_D(3, api, db, "Stores")
RelIndex_Back(LastIndex(), mail, api, "Sends mail")
RelIndex_Neighbor(5, api, mail, "Notifies")
Rel_Back_Neighbor(customer, mail, "Reads mail")
BiRel_U(api, db, "Syncs")
Deployment_Node(dc, "Data centre", "Debian") {
  Node_L(vm, "VM", "KVM") {
    Container(worker, "Worker", "Go")
  }
}
Rel(worker, db, "Cleans")
@enduml""",
        "dynamic.puml",
    )
    e = model.elements
    assert set(e) == {"customer", "shop", "web", "api", "db", "mail", "worker"}
    by_pair = {(r.source, r.target): r for r in model.relationships}
    assert set(by_pair) == {
        ("customer", "web"),
        ("web", "api"),
        ("api", "db"),
        ("api", "mail"),
        ("mail", "customer"),
        ("worker", "db"),
    }
    assert by_pair[("web", "api")].technology == "JSON/HTTPS"
    assert by_pair[("api", "mail")].description in ("Sends mail", "Notifies")
    assert by_pair[("api", "db")].description in ("Stores", "Syncs")
    text = "\n".join(model.warnings)
    assert "unknown macro" not in text
    assert text.count("deployment nodes are not drawn") == 2
    assert "'Data centre'" in text


def test_plantuml_boundary_end_closes_a_braced_boundary():
    model = load_plantuml(
        'System_Boundary(s, "S") {\nContainer(a, "A")\nBoundary_End()\nContainer(b, "B")\n',
        "end.puml",
    )
    assert model.elements["a"].parent == "s" and model.elements["b"].parent is None
    assert model.warnings == []


def test_dsl_group_archetypes_and_relationships_inside_nested_element_blocks():
    # the shape of Structurizr's microservices example: a group archetype per service
    model = load_dsl(
        """workspace {
    !identifiers hierarchical
    model {
        archetypes {
            external = softwareSystem {
                tag "External"
            }
            microservice = group
            api = container {
                technology "Java and Spring Boot"
                tag "API"
            }
            datastore = container {
                technology "MySQL"
                tag "Datastore"
            }
        }
        user = person "User"
        payments = external "Payments"
        shop = softwareSystem "Shop" {
            spa = container "UI" {
                technology "React"
            }
            orders = microservice "Orders" {
                ordersApi = api "Orders API"
                datastore "Orders Schema" {
                    ordersApi -> this
                }
            }
            billing = microservice "Billing" {
                billingApi = api "Billing API" {
                    -> payments "Charges"
                }
                datastore "Billing Schema" {
                    billingApi -> this
                }
            }
            user -> spa "Uses"
            spa -> ordersApi
            ordersApi -> billingApi
        }
    }
}""",
        "microservices.dsl",
    )
    e = model.elements
    assert set(e) == {
        "user",
        "payments",
        "shop",
        "shop.spa",
        "shop.ordersApi",
        "orders_schema",
        "shop.billingApi",
        "billing_schema",
    }
    assert e["payments"].external and e["shop.ordersApi"].technology == "Java and Spring Boot"
    assert e["orders_schema"].parent == "shop" and e["orders_schema"].technology == "MySQL"
    assert rels(model) == {
        ("shop.ordersApi", "orders_schema"),
        ("shop.billingApi", "payments"),
        ("shop.billingApi", "billing_schema"),
        ("user", "shop.spa"),
        ("shop.spa", "shop.ordersApi"),
        ("shop.ordersApi", "shop.billingApi"),
    }
    assert model.warnings == []
