"""The stored reference (baseline and typical journeys) an order is judged against: written by
`orders --refresh`, read by the order page and `journey`, the same figures as computing it."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from explorer.caching import reset_caches
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.anomalies import Baseline
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.checking import check_states
from explorer.journeys.lookups import order_ids
from explorer.journeys.now import latest_time_ns
from explorer.journeys.report import (
    BASELINE_WINDOW_NS,
    REFERENCE_MAX_LAG_NS,
    TYPICAL_MAX_ORDERS,
    iso,
)
from explorer.journeys.reporting import reference_at, report_order
from explorer.journeys.typical import OrderSample, TypicalJourneys
from explorer.orders.models import BASELINE, TYPICAL, BaselineSnapshot, stored_references
from explorer.orders.service import figures_baseline
from explorer.simulation import parse_fault_rates
from explorer.sources.memory import MemorySource
from explorer.store.ingest import store_traces
from explorer.store.source import StoreSource
from tests.journey_support import DAY, GRAPH, HOUR, T0, OrderBuilder, complete_order

S = 10**9
# 60 orders over 3 days, cut off on day 4: slow price calculations (anomalies) and orders
# that took unusual paths (differences from the typical journey).
SIMULATION = {
    "orders": 60,
    "days": 3,
    "until_days": 4,
    "seed": 11,
    "fault_rates": parse_fault_rates(["slow_price=0.15", "lost_message=0.05"]),
}


@pytest.fixture(scope="module")
def simulated(simulation):
    return simulation(**SIMULATION).traces()


@pytest.fixture
def stored(db, simulated):
    store_traces(simulated)
    return simulated


def refresh(*args) -> str:
    out = io.StringIO()
    call_command("orders", "--refresh", *args, stdout=out)
    return out.getvalue()


def report(order_id: str, stored_reference: bool = True, source=None):
    config = explorer_config()
    source = source or get_source()
    return report_order(
        source,
        order_id,
        config.graph,
        config.sla,
        config.container_of,
        names=config.names_by_language,
        load_reference=stored_references(source.name) if stored_reference else None,
        baseline_of=figures_baseline(source, config),  # as judge_order() and the refresh do
    )


def late_order(after_ns: int, seconds: float) -> OrderBuilder:
    """An order of one trace, `seconds` after the time given."""
    late = OrderBuilder("A-late", "C-09999")
    late.state("shop-api", "POST /api/orders", (after_ns - T0) / S + seconds, "INITIATED", None)
    return late


def without_reference(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "reference"}


def judged_orders() -> list[str]:
    """A few orders with anomalies, with differences from the typical journey and with
    neither, picked with the stored reference (so that the test stays quick)."""
    found = [report(o) for o in order_ids(get_source())]
    anomalous = [r.journey.order_id for r in found if r.anomalies]
    different = [r.journey.order_id for r in found if r.differences]
    plain = [r.journey.order_id for r in found if not (r.anomalies or r.differences)]
    return list(dict.fromkeys(anomalous[:3] + different[:3] + plain[:2]))


# --- Serialisation (pure) --------------------------------------------------------------------


def test_baseline_and_samples_survive_plain_json():
    orders = [
        complete_order(f"A-{n:02}", offset=n * 600, price_seconds=1 + n % 4 * 0.1)
        for n in range(25)
    ]
    slow = complete_order("A-slow", offset=100, price_seconds=30)
    source = MemorySource([t for b in [*orders, slow] for t in b.traces])
    journeys = [journey_for_order(source, o) for o in order_ids(source)]
    baseline = Baseline.from_spans((j.container(s), s) for j in journeys for s in j.spans)
    copy = Baseline.from_dict(json.loads(json.dumps(baseline.as_dict())))
    assert copy == baseline
    slow_journey = next(j for j in journeys if j.order_id == "A-slow")
    pairs = [(slow_journey.container(s), s) for s in slow_journey.spans]
    assert copy.anomalies(pairs) == baseline.anomalies(pairs) != []

    samples = [OrderSample.of(j, check_states(j, GRAPH, 0)) for j in journeys]
    copies = [OrderSample.from_dict(json.loads(json.dumps(s.as_dict()))) for s in samples]
    assert copies == samples
    conformance = check_states(slow_journey, GRAPH, 0)
    assert TypicalJourneys.from_samples(copies).compare(
        slow_journey, conformance, GRAPH
    ) == TypicalJourneys.from_journeys((j, check_states(j, GRAPH, 0)) for j in journeys).compare(
        slow_journey, conformance, GRAPH
    )


def test_samples_keep_the_calls_they_recorded_through_plain_json():
    journey = journey_for_order(MemorySource(complete_order("A-01").traces), "A-01")
    conformance = check_states(journey, GRAPH, 0)
    recorded = OrderSample.of(journey, conformance, lambda traces: {("a", "b"), ("b", "c")})
    assert recorded.calls == {("a", "b"), ("b", "c")}
    assert OrderSample.from_dict(json.loads(json.dumps(recorded.as_dict()))) == recorded
    # Taken without a mapping, or stored before calls were kept: not recorded (not "none").
    unrecorded = OrderSample.of(journey, conformance)
    assert unrecorded.calls is None and "calls" not in unrecorded.as_dict()
    assert OrderSample.from_dict(json.loads(json.dumps(unrecorded.as_dict()))).calls is None
    nothing = OrderSample.of(journey, conformance, lambda traces: [])
    assert OrderSample.from_dict(nothing.as_dict()).calls == frozenset()


def test_the_typical_journey_leaves_the_order_itself_out():
    orders = [complete_order(f"A-{n:02}", offset=n * 600) for n in range(8)]
    source = MemorySource([t for b in orders for t in b.traces])
    now = latest_time_ns(source)
    reference = reference_at(source, GRAPH, now, ["retail"])
    samples = reference.samples["retail"]
    assert [s.order_id for s in samples] == [f"A-{n:02}" for n in reversed(range(8))]
    assert reference.typical_for("A-03", "retail")._profiles["retail"].orders == 7
    assert reference.typical_for("A-99", "retail")._profiles["retail"].orders == 8
    assert len(samples) <= TYPICAL_MAX_ORDERS + 1


# --- Stored by the refresh, read by reports ---------------------------------------------------


def test_refresh_stores_the_reference_at_the_newest_span(stored):
    output = refresh()
    now = latest_time_ns(get_source())
    rows = list(BaselineSnapshot.objects.all())
    assert {(r.kind, r.key) for r in rows} == {
        (BASELINE, ""),
        (TYPICAL, "retail"),
        (TYPICAL, "b2b_partner"),
        (TYPICAL, "vip"),
    }
    assert [(r.source, r.as_of_ns) for r in rows] == [(get_source().name, now)] * 4
    assert all(
        (r.window_start_ns, r.window_end_ns) == (now - BASELINE_WINDOW_NS, now + 1) for r in rows
    )
    assert "baseline and typical journeys of 3 customer types stored" in output
    # What the refresh stored is what one order's report computes at the same time.
    computed = reference_at(
        get_source(),
        explorer_config().graph,
        now,
        ["retail", "b2b_partner", "vip"],
        explorer_config().container_of,
        calls_of=explorer_config().calls_of,  # as judge_order() computes it
        baseline_of=figures_baseline(get_source(), explorer_config()),
    )
    loaded = BaselineSnapshot.load_reference(get_source().name, "retail")
    assert loaded.baseline == computed.baseline
    assert loaded.samples == {"retail": computed.samples["retail"]}
    assert loaded.stored_at is not None


def test_stored_reference_gives_the_same_anomalies_and_comparison(stored):
    refresh()
    orders = judged_orders()
    checked = {"anomalies": 0, "comparison": 0}
    for order_id in orders:
        fast, fresh = report(order_id), report(order_id, stored_reference=False)
        fast_data, fresh_data = fast.as_dict(), fresh.as_dict()
        assert without_reference(fast_data) == without_reference(fresh_data), order_id
        assert fast_data["reference"]["stored_at"] is not None
        assert fresh_data["reference"]["stored_at"] is None
        assert fast_data["reference"]["to"] == fresh_data["reference"]["to"]
        checked["anomalies"] += bool(fast.anomalies)
        checked["comparison"] += bool(fast.differences)
    assert checked["anomalies"] and checked["comparison"], checked  # the test can fail


def test_refresh_since_keeps_the_reference_right(stored):
    refresh()
    refresh("--since", "2025-03-04T00:00:00Z")
    for order_id in judged_orders()[:4]:
        assert without_reference(report(order_id).as_dict()) == without_reference(
            report(order_id, stored_reference=False).as_dict()
        )


def test_without_a_stored_reference_it_is_computed(stored):
    order_id = order_ids(get_source())[0]
    data = report(order_id).as_dict()
    assert data["reference"]["stored_at"] is None and data["reference"]["outdated"] is None
    out = io.StringIO()
    call_command("journey", order_id, stdout=out)
    assert out.getvalue().count("computed now") == 1 and "outdated" not in out.getvalue()


def test_an_outdated_reference_is_computed_again_and_flagged(stored):
    refresh()
    old = BaselineSnapshot.objects.get(kind=BASELINE).as_of_ns
    store_traces(late_order(old, 2 * HOUR).traces)  # new data nobody refreshed the snapshot for
    now = latest_time_ns(get_source())
    assert now - old > REFERENCE_MAX_LAG_NS
    order_id = order_ids(get_source())[0]
    data = report(order_id).as_dict()
    assert data["reference"]["stored_at"] is None
    assert data["reference"]["outdated"] is not None
    assert without_reference(data) == without_reference(
        report(order_id, stored_reference=False).as_dict()
    )
    out = io.StringIO()
    call_command("journey", order_id, stdout=out)
    assert "is outdated" in out.getvalue()


def test_a_damaged_reference_is_computed_again(stored):
    refresh()
    BaselineSnapshot.objects.filter(kind=BASELINE).update(data={"stats": [["only", "two"]]})
    assert BaselineSnapshot.load_reference(get_source().name, "retail") is None
    order_id = order_ids(get_source())[0]
    assert report(order_id).as_dict()["reference"]["stored_at"] is None


def test_another_source_does_not_use_this_sources_reference(stored):
    refresh()
    assert BaselineSnapshot.load_reference("elsewhere", "retail") is None
    assert BaselineSnapshot.load_reference(get_source().name, "retail") is not None


class CountingSource(StoreSource):
    """The embedded store, counting the traces it decodes."""

    def __init__(self) -> None:
        super().__init__(get_source().name)
        self.read: list[str] = []

    def get_trace(self, trace_id):
        self.read.append(trace_id)
        return super().get_trace(trace_id)

    def get_traces(self, trace_ids):
        self.read.extend(trace_ids)
        return super().get_traces(trace_ids)


def test_with_the_stored_reference_a_report_reads_only_its_journey(stored):
    refresh()
    order_id = judged_orders()[0]
    journey_only = CountingSource()
    journey_for_order(journey_only, order_id, container_of=explorer_config().container_of)
    fast, fresh = CountingSource(), CountingSource()
    report(order_id, source=fast)
    report(order_id, stored_reference=False, source=fresh)
    assert sorted(fast.read) == sorted(journey_only.read)
    assert len(fresh.read) > 10 * len(fast.read)  # the baseline and the typical journeys


def test_an_old_order_is_judged_against_its_own_week(stored):
    refresh()
    order_id = judged_orders()[0]  # one with anomalies
    # The newest span is 30 days after the simulation: its orders ended over a week before.
    store_traces(late_order(latest_time_ns(get_source()), 30 * DAY).traces)
    refresh()
    data = report(order_id).as_dict()
    last = max(s.end_ns for s in report(order_id).journey.spans)
    assert data["reference"]["to"] == iso(last) and data["reference"]["stored_at"] is None
    assert data["reference"]["outdated"] is None  # the stored one is of now: not outdated
    assert (
        data["anomalies"]
        and data["anomalies"] == report(order_id, stored_reference=False).as_dict()["anomalies"]
    )


# --- The order page ---------------------------------------------------------------------------


def test_the_page_says_which_reference_it_used(stored, client, login_as):
    login_as("support")
    order_id = order_ids(get_source())[0]
    url = reverse("web:order", args=[order_id])
    body = client.get(url).content.decode()
    assert "computed for this page." in body
    refresh()
    reset_caches()
    body = client.get(url).content.decode()
    assert "when the order statuses were computed" in body and "--refresh" not in body
    assert "judged against the baseline of" in body
