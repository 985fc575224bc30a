"""The latency baseline an order is judged against, from the embedded store's hourly figures
(explorer.orders.service.figures_baseline) rather than from the week's traces: the same
containers and operations, exact counts and error rates, median and MAD within the sketch's
error, and the same atypical spans but where a span is within that error of the threshold."""

from __future__ import annotations

from collections import defaultdict

import pytest

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.anomalies import (
    DEFAULT_THRESHOLD,
    MAD_SCALE,
    MIN_SAMPLES,
    Baseline,
    operation_of,
)
from explorer.orders.service import figures_baseline, judge_order, judge_states_of_orders
from explorer.simulation import parse_fault_rates
from explorer.store.hourly_figures import HOUR_NS, RELATIVE_ACCURACY
from explorer.store.ingest import store_traces
from explorer.store.source import StoreSource
from explorer.traces.vocabulary import ORDER_KEY
from tests.journey_support import OrderBuilder
from tests.test_journey_baselines import CountingSource  # the store, counting what it decodes

# 40 orders over 2 days with slow price calculations: spans well above their baseline.
SIMULATION = {
    "orders": 40,
    "days": 2,
    "seed": 5,
    "fault_rates": parse_fault_rates(["slow_price=0.15"]),
}


@pytest.fixture(scope="module")
def simulated(simulation):
    return simulation(**SIMULATION).traces()


def unmapped() -> list:
    """Traces of a service the mapping does not know: named by the naming convention."""
    order = OrderBuilder("A-fraud", "C-fraud")
    for n in range(MIN_SAMPLES + 5):
        order.state("fraud-check.v2", "POST /check", n * 60.0, "INITIATED", None, 0.1 + n / 100)
    return order.traces


@pytest.fixture
def stored(db, simulated):
    traces = [*simulated, *unmapped()]
    store_traces(traces)
    return traces


def every_pair(traces) -> list:
    container_of = explorer_config().container_of
    return [(container_of(span), span) for trace in traces for span in trace.spans]


def whole_window(traces) -> tuple[int, int]:
    """Whole hours holding every span: both baselines then see every span."""
    start = min(s.start_ns for t in traces for s in t.spans)
    end = max(s.start_ns for t in traces for s in t.spans)
    return start - start % HOUR_NS, end + 1


def test_the_figures_give_the_baseline_of_every_span_within_the_sketch_error(stored):
    pairs = every_pair(stored)
    exact = Baseline.from_spans(pairs)
    found = figures_baseline(get_source(), explorer_config())(whole_window(stored))
    assert found is not None
    # The hourly rows name element and service; the baseline names containers as
    # container_of does: the same keys, counted alike.
    assert found.stats.keys() == exact.stats.keys()
    assert ("fraud_check_v2", "POST /check") in found.stats  # unmapped: by the convention
    durations = defaultdict(list)
    for container, span in pairs:
        durations[(container, operation_of(span))].append(max(span.duration_ns, 0))
    for key, want in exact.stats.items():
        got = found.stats[key]
        assert (got.count, got.error_rate) == (want.count, want.error_rate), key
        values = sorted(durations[key])
        low, high = values[(len(values) - 1) // 2], values[len(values) // 2]  # the middle ones
        assert low * (1 - RELATIVE_ACCURACY) <= got.median_ns <= high * (1 + RELATIVE_ACCURACY)
        # Each bin's value is within the relative error of its spans' durations: a deviation
        # from the median, within that of both.
        slack = RELATIVE_ACCURACY * (2 * high + want.mad_ns) + (high - low)
        assert abs(got.mad_ns - want.mad_ns) <= slack, key


def test_the_figures_find_the_same_atypical_spans_but_at_the_threshold(stored):
    pairs = every_pair(stored)
    exact = Baseline.from_spans(pairs)
    found = figures_baseline(get_source(), explorer_config())(whole_window(stored))
    assert found is not None
    by_exact = {(a.trace_id, a.span_id) for a in exact.anomalies(pairs)}
    by_figures = {(a.trace_id, a.span_id) for a in found.anomalies(pairs)}
    assert len(by_exact) >= 10  # slow price calculations: the test can fail
    differing = by_exact ^ by_figures
    assert len(differing) <= len(by_exact) // 10, differing
    # A span judged differently is one whose duration lies within the sketch's error of the
    # exact baseline's limit (median + threshold * spread).
    for container, span in pairs:
        if (span.trace_id, span.span_id) not in differing:
            continue
        want = exact.lookup(container, operation_of(span))
        assert want is not None
        limit = want.median_ns + DEFAULT_THRESHOLD * want.spread_ns
        error = RELATIVE_ACCURACY * (
            want.median_ns + DEFAULT_THRESHOLD * MAD_SCALE * (2 * want.median_ns + want.mad_ns)
        )
        assert abs(span.duration_ns - limit) <= error, (span.name, span.duration_ns, limit)


class LateFigures(StoreSource):
    """The embedded store, its figures begun later (as the receiver's index mode may)."""

    def operations_counted_from(self) -> int | None:
        return 2**62


def test_figures_that_do_not_cover_the_window_give_none(stored):
    window = whole_window(stored)
    assert figures_baseline(LateFigures(get_source().name), explorer_config())(window) is None
    assert figures_baseline(get_source(), explorer_config())((None, window[1])) is None


def test_an_order_judged_on_the_figures_reads_only_journeys(stored):
    order_id = next(
        s.attributes[ORDER_KEY] for t in stored for s in t.spans if ORDER_KEY in s.attributes
    )
    reading = CountingSource()
    report = judge_order(reading, order_id, explorer_config(), use_stored_reference=False)
    assert report.reference is not None and report.typical_orders
    orders = [order_id, *report.typical_orders]
    journeys = {
        trace_id
        for judged in judge_states_of_orders(get_source(), orders, explorer_config())
        for trace_id in judged.journey.trace_ids
    }
    # Its journey and the typical journeys' samples; no trace read for the baseline.
    assert set(reading.read) <= journeys
