"""Step figures kept with the order-status snapshot (explorer.orders.models.OrderStep,
explorer.orders.step_figures) and the order-steps page: counts equal a brute-force recount
over the simulated orders' journeys, percentiles are exact, a slow step is an over-limit
dwell of the right order, a rewritten row replaces its steps, retention and erasure remove
them, the page reads in English and Russian and escapes what traces say."""

from __future__ import annotations

import io
from collections import defaultdict
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.urls import reverse

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.checking import check_states
from explorer.journeys.lookups import order_ids
from explorer.journeys.now import latest_time_ns
from explorer.orders.models import OrderStep
from explorer.orders.step_figures import StepFilter, exact_quantile, figures, series
from explorer.simulation import parse_fault_rates
from explorer.store.ingest import store_traces
from tests.journey_support import DAY, HOUR, S
from tests.simulation_support import empty_store_and_orders

SIMULATION = {
    "orders": 40,
    "days": 4,
    "until_days": 14,  # so that an order a seller forgot for days moves on within it
    "seed": 7,
    "fault_rates": parse_fault_rates(["disallowed_transition=0.1"]),
}


def refresh() -> None:
    call_command("orders", "--refresh", stdout=io.StringIO())


@pytest.fixture(scope="module")
def stored(django_db_setup, django_db_blocker, simulation):
    """The simulation ingested and refreshed once for the module; tables emptied after."""
    run = simulation(**SIMULATION)
    with django_db_blocker.unblock():
        store_traces(run.traces())
        refresh()
        yield run
        empty_store_and_orders()


@pytest.fixture(scope="module")
def brute(stored, django_db_blocker):
    """Every finished dwell of every order, from each journey judged on its own:
    (order, customer type, state, next state, entered, left, limit)."""
    graph = explorer_config().graph
    found = []
    with django_db_blocker.unblock():
        source = get_source()
        now = latest_time_ns(source)
        for order_id in order_ids(source):
            journey = journey_for_order(source, order_id)
            dwells = check_states(journey, graph, now).dwells
            for dwell, after in pairwise(dwells):
                left = dwell.start_ns + dwell.duration_ns
                kind = journey.customer_type or ""
                found.append(
                    (order_id, kind, dwell.state, after.state, dwell.start_ns, left, dwell.limit_ns)
                )
    return found


def _window(brute) -> tuple[int, int]:
    """A window over the middle of the steps' times (so some fall outside on both sides)."""
    times = sorted(step[5] for step in brute)
    return times[len(times) // 4], times[3 * len(times) // 4]


def test_the_steps_are_every_finished_dwell_of_every_order(stored, brute, db):
    rows = OrderStep.objects.values_list(
        "order_id", "customer_type", "state", "next_state", "entered_ns", "left_ns"
    )
    assert sorted(rows) == sorted(step[:6] for step in brute)
    assert OrderStep.objects.filter(over_limit=True).count() == sum(
        1 for s in brute if s[6] is not None and s[5] - s[4] > s[6]
    )


def _recount(brute, start, end, customer_type=None):
    dwells, transitions, over = defaultdict(list), defaultdict(int), defaultdict(set)
    for order, kind, state, after, entered, left, limit in brute:
        if start <= left < end and customer_type in (None, kind):
            dwells[state].append(left - entered)
            transitions[state, after] += 1
            if limit is not None and left - entered > limit:
                over[state].add(order)
    return dwells, transitions, over


@pytest.mark.parametrize("customer_type", [None, "retail", "b2b_partner"])
def test_figures_of_a_window_equal_a_recount(stored, brute, db, customer_type):
    start, end = _window(brute)
    dwells, transitions, over = _recount(brute, start, end, customer_type)
    found = figures(StepFilter(start, end, customer_type))
    assert {s: d.count for s, d in found.states.items()} == {s: len(v) for s, v in dwells.items()}
    assert {p: d.count for p, d in found.transitions.items()} == dict(transitions)
    assert {s: d.over_limit for s, d in found.states.items() if d.over_limit} == {
        s: len(v) for s, v in over.items()
    }
    for state, values in dwells.items():
        ordered = sorted(values)
        quantiles = found.states[state].quantiles()
        assert quantiles[0.5] == ordered[int(0.5 * (len(ordered) - 1))]
        assert quantiles[0.99] == ordered[int(0.99 * (len(ordered) - 1))]


@pytest.mark.parametrize("days", [2, 9])  # hours up to 8 days, then UTC days
def test_the_series_splits_the_window_into_buckets(stored, brute, db, days):
    end = sorted(s[5] for s in brute)[len(brute) // 2] + 1
    start = end - days * DAY * S
    total = figures(StepFilter(start, end)).states
    buckets = series(StepFilter(start, end, state="SUBMITTED"))
    size = (HOUR if days == 2 else DAY) * S
    assert buckets[0].start_ns == start and buckets[-1].end_ns == end
    assert all(b.end_ns == b.start_ns + size for b in buckets[1:-1])
    assert all(b.start_ns % size == 0 for b in buckets[1:])
    assert sum(b.count for b in buckets) == total["SUBMITTED"].count > 0
    assert sum(b.over_limit for b in buckets) == total["SUBMITTED"].over_limit
    assert all(b.quantiles[0.5] is None for b in buckets if b.count == 0)
    for bucket in buckets:
        values = sorted(
            s[5] - s[4]
            for s in brute
            if s[2] == "SUBMITTED" and bucket.start_ns <= s[5] < bucket.end_ns
        )
        assert bucket.count == len(values)
        assert bucket.quantiles[0.95] == exact_quantile(values, 0.95)


def test_exact_quantiles_rank_as_the_sketch_does():
    assert exact_quantile([], 0.5) is None
    assert exact_quantile([5], 0.99) == 5
    assert exact_quantile(list(range(1, 101)), 0.5) == 50
    assert exact_quantile(list(range(1, 101)), 0.95) == 95
    assert exact_quantile(list(range(1, 101)), 0.99) == 99


def _page(client, name: str, **params) -> str:
    response = client.get(reverse(name), params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_the_recount_and_links_to_the_orders(stored, brute, client, login_as):
    """Over the whole time of the data: the simulation's forgotten reviews (a seller leaves a
    priced order for days, longer than PRICE_CALCULATED's 4-day limit) are over the limit."""
    start, end = min(s[5] for s in brute), max(s[5] for s in brute) + 1
    dwells, transitions, over = _recount(brute, start, end)
    assert set(over) == {"PRICE_CALCULATED"} and over["PRICE_CALCULATED"] == {"A-100022"}
    state = "PRICE_CALCULATED"
    login_as("analyst")
    body = _page(client, "web:steps", window="custom", start="", to="")
    assert "Order steps" in body and "A custom window needs" in body
    listed = _page(client, "web:step_orders", start=start, end=end, state=state, over="1")
    for order in over[state]:
        assert f"/orders/{order}/" in listed
    assert f"{len(over[state])} step" in listed
    everything = _page(client, "web:step_orders", start=start, end=end, state=state)
    assert f"{len(dwells[state])} step" in everything
    pair, count = max(transitions.items(), key=lambda item: item[1])
    listed = _page(client, "web:step_orders", start=start, end=end, state=pair[0], next=pair[1])
    assert f"{count} step" in listed
