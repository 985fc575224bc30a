"""The simulation's cut-off (`--until-days`): the simulated "now", after which nothing is
emitted, with orders still in progress and the truth file's final_state at the cut-off."""

import json
from collections import defaultdict
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from explorer.simulation import EPOCH_NS, FAULT_KINDS, SimulationConfig, SimulationError, simulate
from explorer.traces.parsers import iter_file

DAY_NS = 86_400 * 10**9
NO_FAULTS = dict.fromkeys(FAULT_KINDS, 0.0)
OPTIONS = {"orders": 40, "days": 3, "seed": 21, "fault_rates": NO_FAULTS}
UNTIL_DAYS = 7
CUT_OFF_NS = EPOCH_NS + UNTIL_DAYS * DAY_NS


def spans_of(directory: Path) -> list:
    spans = []
    for path in sorted(directory.iterdir()):
        for result in iter_file(path):
            assert result.errors == []
            spans.extend(s for t in result.traces for s in t.spans)
    return spans


def last_states(spans) -> dict[str, str]:
    """order id -> the newest state its exported events set."""
    events = defaultdict(list)
    for span in spans:
        for event in span.events:
            if event.name == "order.state_changed":
                events[span.attributes["order.id"]].append(
                    (event.time_ns, event.attributes["order.state.new"])
                )
    return {order: max(found)[1] for order, found in events.items()}


def identity(span) -> tuple:
    return (span.trace_id, span.span_id, span.name, span.start_ns, span.end_ns)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cutoff")
    simulate(SimulationConfig(out=tmp / "full", truth=tmp / "full.json", **OPTIONS))
    simulate(
        SimulationConfig(out=tmp / "cut", truth=tmp / "cut.json", until_days=UNTIL_DAYS, **OPTIONS)
    )
    return {
        name: (
            spans_of(tmp / name),
            json.loads((tmp / f"{name}.json").read_text()),
            sorted(p.name for p in (tmp / name).iterdir()),
        )
        for name in ("full", "cut")
    }


def test_nothing_is_emitted_after_the_cut_off(runs):
    spans, _, files = runs["cut"]
    assert spans and max(s.end_ns for s in spans) <= CUT_OFF_NS
    assert files[-1] == f"alexandrite-day-{UNTIL_DAYS:03d}.jsonl"
    # Without the cut-off the same orders run on for days.
    full, _, full_files = runs["full"]
    assert max(s.end_ns for s in full) > CUT_OFF_NS + DAY_NS and len(full_files) > UNTIL_DAYS


def test_before_the_cut_off_the_spans_are_those_of_the_full_run(runs):
    full = {identity(s) for s in runs["full"][0] if s.end_ns <= CUT_OFF_NS}
    assert {identity(s) for s in runs["cut"][0]} == full


def test_orders_in_progress_stay_in_progress_and_truth_has_the_state_at_the_cut_off(runs):
    spans, truth, _ = runs["cut"]
    final = {order: entry["final_state"] for order, entry in truth["orders"].items()}
    assert final == last_states(spans)
    in_progress = [o for o, state in final.items() if state != "CLOSED"]
    assert len(in_progress) >= 5  # orders of the last days cannot have finished
    assert any(state == "CLOSED" for state in final.values())
    # The default run takes every order (no faults here) to its end.
    assert {e["final_state"] for e in runs["full"][1]["orders"].values()} == {"CLOSED"}


def test_the_cut_off_must_not_come_before_the_last_day(tmp_path):
    with pytest.raises(SimulationError, match="--until-days must be from --days"):
        simulate(SimulationConfig(out=tmp_path, orders=5, days=3, until_days=2))
    with pytest.raises(CommandError, match="--until-days"):
        call_command(
            "simulate", "--orders", "5", "--days", "3", "--until-days", "0", "--out", str(tmp_path)
        )


def test_the_command_takes_until_days(tmp_path, capsys):
    call_command(
        "simulate",
        "--orders",
        "8",
        "--days",
        "1",
        "--until-days",
        "2",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "out"),
        "--truth",
        str(tmp_path / "truth.json"),
    )
    spans = spans_of(tmp_path / "out")
    assert max(s.end_ns for s in spans) <= EPOCH_NS + 2 * DAY_NS
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert {o: e["final_state"] for o, e in truth["orders"].items()} == last_states(spans)
