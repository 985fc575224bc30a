"""Mapping telemetry onto C4 elements, and drift between the model and the traces."""

import json

import pytest
from django.core.management import call_command

from explorer.c4.drift import drift
from explorer.c4.loader import DEFAULT_MODEL
from explorer.c4.mapping import (
    DEFAULT_MAPPING,
    MappingError,
    build_mapping,
    interactions,
    load_mapping,
    rules_from_dict,
    suggest_elements,
)
from explorer.traces.model import Resource, SpanKind
from tests.c4_support import MS, TraceBuilder, order_trace, write_otlp


def test_mapping_maps_services_and_peers(mapping):
    found = [(i.source, i.target, i.span.name) for i in interactions(order_trace(), mapping)]
    assert found == [
        ("internet_shop", "shop_api", "POST /api/orders"),
        ("shop_api", "shop_db", "INSERT shop.orders"),  # db.system/db.name aliases
        ("shop_api", "mes_api", "GET /api/price"),  # peer from the child SERVER span
        ("shop_api", "queue", "orders publish"),
        ("queue", "mes_api", "orders process"),
    ]


def test_mapping_regex_and_url_host():
    rules = rules_from_dict(
        {
            "services": [{"element": "a", "match": {"service.name": {"regex": "shop-.*"}}}],
            "peers": [{"element": "b", "match": {"url.host": "pay.example"}}],
        }
    )
    mapping = build_mapping(rules)
    b = TraceBuilder()
    span = b.span("shop-api", "charge", SpanKind.CLIENT, **{"url.full": "https://pay.example/x"})
    assert mapping.service_element(span.resource) == "a"
    assert mapping.service_element(Resource("crm")) is None
    assert mapping.peer_element(span) == "b"
    assert mapping.to_dict()["services"][0]["match"] == {"service.name": {"regex": "shop-.*"}}


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "expected a JSON object"),
        ({"services": {}}, "'services' must be a list"),
        ({"peers": [{"element": "x"}]}, "peers[0]: 'match' must be a non-empty object"),
        ({"services": [{"element": "x", "match": {"a": {"regex": "("}}}]}, "bad regex"),
        ({"services": [{"element": "x", "match": {"a": 3}}]}, "expected a string"),
        ({"servics": []}, "unknown section"),
    ],
)
def test_mapping_validation_errors(data, message):
    with pytest.raises(MappingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        rules_from_dict(data, "m.json")


def test_mapping_rule_naming_a_missing_element_is_an_error(model, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"services": [{"element": "nope", "match": {"service.name": "x"}}]}))
    with pytest.raises(MappingError, match="names element 'nope', which the model lacks"):
        load_mapping(path, model)
    path.write_text("{broken")
    with pytest.raises(MappingError, match="not valid JSON"):
        load_mapping(path, model)


def test_suggestions_by_name(model):
    assert suggest_elements("shop-api", model)[0] == {
        "element": "shop_api",
        "name": "Shop API",
        "score": 1.0,
    }
    assert suggest_elements("zzzz", model) == []


def test_drift_on_traces(model, mapping):
    report = drift(model, mapping, [order_trace()])
    undocumented = {(d["source"], d["target"]) for d in report["undocumented"]}
    assert undocumented == {("shop_api", "mes_api"), ("shop_api", "queue")}
    price = next(d for d in report["undocumented"] if d["target"] == "mes_api")
    assert (price["count"], price["errors"], price["example"]["name"]) == (1, 1, "GET /api/price")
    unobserved = {(d["source"], d["target"]) for d in report["unobserved"]}
    assert ("crm_api", "shop_db") in unobserved and ("queue", "mes_api") not in unobserved
    assert ("internet_shop", "shop_api") not in unobserved
    unobservable = {(d["source"], d["target"]) for d in report["unobservable"]}
    assert ("customer", "internet_shop") in unobservable
    assert unobservable.isdisjoint(unobserved)
    assert [u["service"] for u in report["unmapped_services"]] == ["billing"]


def test_drift_through_a_queue_documented_by_a_direct_relationship(model, mapping):
    model.relationships.append(type(model.relationships[0])("shop_api", "mes_api", "via queue"))
    report = drift(model, mapping, [order_trace()])
    assert report["undocumented"] == []  # shop_api -> queue -> mes_api matches shop_api -> mes_api


def test_drift_time_window(model, mapping):
    late = order_trace("t2", start=10_000 * MS)
    report = drift(model, mapping, [late], start_ns=0, end_ns=5_000 * MS)
    assert report["undocumented"] == [] and report["unmapped_services"] == []


def test_drift_command_json(tmp_path, capsys):
    write_otlp(tmp_path / "traces.json", [order_trace()])
    call_command(
        "c4",
        "drift",
        "--model",
        str(DEFAULT_MODEL),
        "--traces",
        str(tmp_path / "traces.json"),
        "--json",
    )
    report = json.loads(capsys.readouterr().out)
    assert {"undocumented", "unobserved", "unmapped_services"} <= set(report)
    assert {(d["source"], d["target"]) for d in report["undocumented"]} == {
        ("shop_api", "mes_api"),
        ("shop_api", "queue"),
    }
    assert report["unmapped_services"][0]["service"] == "billing"


@pytest.mark.django_db
def test_mapping_rules_round_trip_through_the_database(tmp_path):
    from explorer.c4.models import MappingRule
    from explorer.c4.rules import stored_rules

    out = tmp_path / "out.json"
    call_command("c4", "rules-import", str(DEFAULT_MAPPING))
    assert MappingRule.objects.filter(section="services").count() == 6
    call_command("c4", "rules-export", str(out))
    assert json.loads(out.read_text()) == json.loads(DEFAULT_MAPPING.read_text())
    assert [r.element for r in stored_rules()][:2] == ["internet_shop", "shop_api"]
