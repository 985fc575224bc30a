"""The default Alexandrite model data and the loader of the state graph and the SLA."""

import json
import re
from pathlib import Path

import pytest

from explorer.journeys.state_graph import (
    ConfigError,
    load_sla,
    load_state_graph,
    parse_duration_ns,
    parse_sla,
    parse_state_graph,
)

ALEXANDRITE = Path(__file__).resolve().parent.parent / "explorer" / "alexandrite"
ELEMENT_IDS = [
    "customer",
    "api_user",
    "seller",
    "operator",
    "jewellery_store",
    "internet_shop",
    "shop_api",
    "shop_db",
    "crm",
    "crm_api",
    "queue",
    "mes_api",
    "mes",
    "mes_db",
    "files_storage",
]


def dsl_identifiers() -> set[str]:
    text = (ALEXANDRITE / "model.dsl").read_text()
    return set(
        re.findall(r"^\s*(\w+)\s*=\s*(?:person|softwareSystem|container)\b", text, re.MULTILINE)
    )


def dsl_relationships() -> set[tuple[str, str]]:
    text = (ALEXANDRITE / "model.dsl").read_text()
    return set(re.findall(r"^\s*(\w+)\s*->\s*(\w+)\s+\"", text, re.MULTILINE))


def test_the_model_declares_exactly_the_shared_element_ids():
    assert dsl_identifiers() == set(ELEMENT_IDS)


def test_the_model_has_the_domain_relationships_but_not_the_price_quote_call():
    relationships = dsl_relationships()
    assert {
        ("customer", "internet_shop"),
        ("internet_shop", "shop_api"),
        ("shop_api", "shop_db"),
        ("shop_api", "files_storage"),
        ("seller", "crm"),
        ("crm", "crm_api"),
        ("crm_api", "shop_db"),
        ("crm_api", "queue"),
        ("mes_api", "queue"),
        ("api_user", "mes_api"),
        ("operator", "mes"),
        ("mes", "mes_api"),
        ("mes_api", "mes_db"),
        ("mes_api", "files_storage"),
    } <= relationships
    assert ("shop_api", "mes_api") not in relationships
    assert {a for pair in relationships for a in pair} <= dsl_identifiers()


def test_every_element_id_of_the_data_files_is_in_the_model():
    ids = dsl_identifiers()
    mapping = json.loads((ALEXANDRITE / "mapping.json").read_text())
    used = {rule["element"] for rules in mapping.values() for rule in rules}
    states = json.loads((ALEXANDRITE / "states.json").read_text())
    used |= {owner for state in states["states"] for owner in state["owners"]}
    used |= set(json.loads((ALEXANDRITE / "sla.json").read_text())["containers"])
    assert used <= ids
    # and the loaders agree when given the model's ids
    load_state_graph(ALEXANDRITE / "states.json", ids)
    load_sla(ALEXANDRITE / "sla.json", ids)


def test_the_default_state_graph():
    graph = load_state_graph(ALEXANDRITE / "states.json")
    assert len(graph.names) == 10 and graph.names[0] == "INITIATED"
    assert graph.is_final("CLOSED") and not graph.is_final("SHIPPED")
    assert graph.is_initial("INITIATED")
    assert graph.is_allowed("SUBMITTED", "PRICE_CALCULATED")
    assert not graph.is_allowed("MANUFACTURING_STARTED", "PACKAGING")
    assert graph.owners("PRICE_CALCULATED") == ["mes_api"]
    assert graph.owners("NOPE") == []
    assert graph.limit_ns("SUBMITTED") == 2 * 3600 * 10**9
    assert graph.limit_ns("CLOSED") is None
    assert all(graph.limit_ns(s) for s in graph.names if not graph.is_final(s))
    assert graph.path_between("MANUFACTURING_STARTED", "PACKAGING") == ["MANUFACTURING_COMPLETED"]
    assert graph.path_between("SUBMITTED", "PRICE_CALCULATED") == []
    assert graph.path_between("CLOSED", "INITIATED") is None
    assert (graph.event_name, graph.previous_key, graph.new_key) == (
        "order.state_changed",
        "order.state.previous",
        "order.state.new",
    )


def test_the_default_sla():
    sla = load_sla(ALEXANDRITE / "sla.json")
    assert sla.limit_ms("shop_api", "POST /api/orders") == 500
    assert sla.limit_ms("shop_api", "GET /unknown") == 800  # the container's default
    assert sla.limit_ms("shop_db", "anything") is None


def _graph(**changes):
    data = {
        "states": [
            {"name": "A", "owners": ["shop_api"], "initial": True, "limit": "1h"},
            {"name": "B", "owners": ["crm_api"], "final": True},
        ],
        "transitions": [["A", "B"]],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object"),
        (_graph(states=[]), "'states' must be a non-empty list"),
        (_graph(transitions=[["A", "C"]]), "transitions\\[0\\] A -> C: unknown state C"),
        (_graph(transitions=[["A"]]), "transitions\\[0\\] must be a \\[from, to\\] pair"),
        (
            _graph(states=[{"name": "A", "owners": ["ghost"], "initial": True, "final": True}]),
            "state A owner: 'ghost' is not an element of the model",
        ),
        (
            _graph(
                states=[
                    {"name": "A", "owners": ["shop_api"], "initial": True, "limit": "soon"},
                    {"name": "B", "owners": ["crm_api"], "final": True},
                ]
            ),
            "state A: limit: bad duration 'soon'",
        ),
        (
            _graph(
                states=[
                    {"name": "A", "owners": ["shop_api"], "initial": True},
                    {"name": "A", "owners": ["crm_api"], "final": True},
                ]
            ),
            "state A is declared twice",
        ),
        (
            _graph(states=[{"name": "A", "owners": [], "initial": True, "final": True}]),
            "'owners' must be a non-empty list",
        ),
        (
            _graph(states=[{"name": "A", "owners": ["shop_api"], "final": True}]),
            'no state is marked "initial"',
        ),
        (
            _graph(
                states=[
                    {
                        "name": "A",
                        "owners": ["shop_api"],
                        "initial": True,
                        "final": True,
                        "limit": "1d",
                    }
                ]
            ),
            "final, so it cannot have a limit",
        ),
        (_graph(event={"name": ""}), "event.name must be a non-empty string"),
    ],
)
def test_a_broken_state_graph_names_the_file_and_the_problem(data, message):
    with pytest.raises(ConfigError, match=f"^my.json: .*{message}"):
        parse_state_graph(data, "my.json", ELEMENT_IDS)


def test_owners_are_only_checked_against_a_model_when_one_is_given():
    graph = parse_state_graph(
        _graph(
            states=[{"name": "A", "owners": ["ghost"], "initial": True, "final": True}],
            transitions=[],
        )
    )
    assert graph.owners("A") == ["ghost"]


def test_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.json: cannot read"):
        load_state_graph(tmp_path / "missing.json")
    broken = tmp_path / "states.json"
    broken.write_text('{"states": [')
    with pytest.raises(ConfigError, match="states.json: not JSON: .* line 1"):
        load_state_graph(broken)
    broken.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_sla(broken)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"containers": []}, "'containers' object"),
        ({"containers": {"ghost": {"default_ms": 5}}}, "'ghost' is not an element of the model"),
        ({"containers": {"shop_api": {"default_ms": 0}}}, "shop_api.default_ms: bad duration 0"),
        ({"containers": {"shop_api": {"default_ms": True}}}, "bad duration True"),
        (
            {"containers": {"shop_api": {"default_ms": 5, "endpoints": {"GET /": "fast"}}}},
            "endpoint 'GET /': bad duration 'fast'",
        ),
        ({"containers": {"shop_api": {"default_ms": 5, "endpoints": []}}}, "must be an object"),
    ],
)
def test_a_broken_sla_names_the_file_and_the_problem(data, message):
    with pytest.raises(ConfigError, match=f"^sla.json: .*{message}"):
        parse_sla(data, "sla.json", ELEMENT_IDS)


def test_durations():
    assert parse_duration_ns("90s") == 90 * 10**9
    assert parse_duration_ns("30m") == 1800 * 10**9
    assert parse_duration_ns("2d") == 2 * 86400 * 10**9
    assert parse_duration_ns("250ms") == 250 * 10**6
    for bad in ["", "0s", "5", "-1h", "1.5h", "h", 5, None]:
        with pytest.raises(ValueError, match="bad duration"):
            parse_duration_ns(bad)
