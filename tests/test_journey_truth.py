"""Acceptance: the journey analysis of simulated orders against the simulation's truth file.

Only this test reads the truth; the explorer sees nothing but the traces in the store.
"""

from __future__ import annotations

import json

import pytest

from explorer.journeys.reporting import report_orders
from explorer.simulation import SimulationConfig, simulate
from explorer.store.ingest import ingest
from explorer.store.source import StoreSource
from tests.journey_support import GRAPH, SLA

DISALLOWED = {"transition_not_allowed", "state_skipped", "transition_backwards"}
PRICE_OPERATION = "PriceCalculator.Calculate"  # the simulation's price calculation span
RATES = {
    "lost_message": 0.06,
    "slow_price": 0.06,
    "state_mismatch": 0.06,
    "disallowed_transition": 0.06,
    "duplicate_delivery": 0.03,
    "crm_5xx": 0.04,
    "db_timeout": 0.04,
}


def precision_recall(found: set[str], expected: set[str]) -> tuple[float, float]:
    hits = len(found & expected)
    return (hits / len(found) if found else 1.0, hits / len(expected) if expected else 1.0)


@pytest.mark.slow
@pytest.mark.django_db
def test_findings_match_the_truth_file(tmp_path):
    truth_file = tmp_path / "truth.json"
    simulate(
        SimulationConfig(
            out=tmp_path / "traces",
            orders=300,
            days=10,
            seed=5,
            fault_rates=RATES,
            truth=truth_file,
        )
    )
    report = ingest([tmp_path / "traces"])
    assert report.rejected == [] and report.spans > 10_000
    truth = json.loads(truth_file.read_text())
    faults = {kind: set(orders) for kind, orders in truth["faults"].items()}

    reports = report_orders(StoreSource(), GRAPH, SLA)
    assert {r.journey.order_id for r in reports} == set(truth["orders"])
    found = {
        "lost_message": {r.journey.order_id for r in reports if r.status == "lost"},
        "disallowed_transition": {
            r.journey.order_id
            for r in reports
            if DISALLOWED & {v.kind for v in r.conformance.violations}
        },
        "state_mismatch": {
            r.journey.order_id
            for r in reports
            if "systems_disagree" in {v.kind for v in r.conformance.violations}
        },
        "slow_price": {
            r.journey.order_id
            for r in reports
            if PRICE_OPERATION in {a.operation for a in r.anomalies}
        },
    }
    scores = {kind: precision_recall(found[kind], faults[kind]) for kind in found}
    for kind, (precision, recall) in scores.items():
        assert len(faults[kind]) >= 10, kind  # enough samples for the figures to mean much
        assert precision >= 0.95 and recall >= 0.95, (kind, scores)
    # Orders without a fault that stops them all reach the final state.
    stopping = faults["lost_message"]
    assert all(r.status == "complete" for r in reports if r.journey.order_id not in stopping)
    assert all(not r.warnings for r in reports if r.journey.order_id not in stopping)
