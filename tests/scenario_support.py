"""Scenarios as data: one OTLP/JSON file per behaviour in tests/scenarios/, named like the
test data of Grafana Tempo (`trace-with-<behaviour>.json`); tests/scenarios/README.md says
what each one shows and which tests use it.

    traces = scenario("trace-with-lost-message")   # list[Trace], parsed anew on each call

The files are read by the explorer's own OTLP/JSON parser, so a scenario is also a file one can
upload to the explorer or send to a collector. test_scenarios.py checks that every file parses
without a warning and that some test names it.
"""

from __future__ import annotations

from pathlib import Path

from explorer.traces.model import Trace
from explorer.traces.parsers import parse_bytes

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def scenario_path(name: str) -> Path:
    path = SCENARIOS / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no scenario {name!r} in {SCENARIOS}")
    return path


def scenario(name: str) -> list[Trace]:
    """The traces of scenario `name` (the file name without .json), in the file's order.
    A scenario the parser had to repair or reject is an error: the file must say exactly
    what the tests get."""
    path = scenario_path(name)
    result = parse_bytes(path.read_bytes(), fmt="otlp-json", source=path.name)
    problems = [*result.errors, *result.warnings] + [w for t in result.traces for w in t.warnings]
    if problems:
        raise ValueError(f"scenario {name}: {problems}")
    return result.traces
