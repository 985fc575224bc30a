"""The scenario files (tests/scenarios/): each parses cleanly, is named like the others, is
described in the folder's README and is used by at least one test, so none can rot unseen."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import scenario_support
from tests.scenario_support import SCENARIOS, scenario

NAMES = sorted(path.stem for path in SCENARIOS.glob("*.json"))
TESTS = Path(__file__).resolve().parent


def test_there_are_scenarios_and_only_json_files_and_the_readme():
    assert NAMES
    assert {p.name for p in SCENARIOS.iterdir()} == {f"{n}.json" for n in NAMES} | {"README.md"}


@pytest.mark.parametrize("name", NAMES)
def test_a_scenario_parses_without_a_repair_and_is_named_for_its_behaviour(name):
    assert re.fullmatch(r"trace-with-[a-z0-9]+(-[a-z0-9]+)*", name)
    traces = scenario(name)
    assert traces and all(t.spans for t in traces)


@pytest.mark.parametrize("name", NAMES)
def test_a_scenario_is_used_by_a_test_and_described_in_the_readme(name):
    users = [
        path.name
        for path in TESTS.glob("test_*.py")
        if path.name != Path(__file__).name and f'"{name}"' in path.read_text(encoding="utf-8")
    ]
    assert users, f"no test loads {name}: use it or delete the file"
    assert f"`{name}.json`" in (SCENARIOS / "README.md").read_text(encoding="utf-8")


def test_an_unknown_scenario_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="no scenario 'trace-with-nothing'"):
        scenario("trace-with-nothing")


def test_a_scenario_the_parser_had_to_repair_is_refused(tmp_path, monkeypatch):
    # Two spans with one id: the parser keeps the first and warns, so the file would not say
    # exactly what a test gets.
    span = {"traceId": "t", "spanId": "s", "name": "op", "startTimeUnixNano": "1"}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span, span]}]}]}
    (tmp_path / "trace-with-a-duplicate.json").write_text(json.dumps(document))
    monkeypatch.setattr(scenario_support, "SCENARIOS", tmp_path)
    with pytest.raises(ValueError, match="scenario trace-with-a-duplicate"):
        scenario("trace-with-a-duplicate")
