"""The live order-status snapshot (explorer.orders.live, `watch`, `orders --refresh --since`):
spans that arrive mark their orders, the worker computes them again, time passing makes orders
stuck or lost without a new span, and --since selects by arrival."""

import io
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.conformance import COMPLETE, IN_FLIGHT_NS, IN_PROGRESS, LOST, STUCK
from explorer.journeys.reporting import report_orders
from explorer.orders import arrivals, live
from explorer.orders.models import BaselineSnapshot, OrderArrival, OrderStatus
from explorer.orders.service import now_in
from explorer.simulation import SimulationConfig, parse_fault_rates, simulate
from explorer.sources.memory import MemorySource
from explorer.store.ingest import store_traces
from explorer.traces.model import Trace
from explorer.traces.parsers import iter_file
from tests.journey_support import DAY, HOUR, T0, OrderBuilder, S, complete_order

SIMULATION = {
    "orders": 60,
    "days": 4,
    "until_days": 8,
    "seed": 11,
    "fault_rates": parse_fault_rates(["lost_message=0.05", "slow_price=0.05"]),
}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    simulate(SimulationConfig(out=tmp / "out", truth=tmp / "truth.json", **SIMULATION))
    traces = [
        t
        for path in sorted((tmp / "out").iterdir())
        for result in iter_file(path)
        for t in result.traces
    ]
    return traces, json.loads((tmp / "truth.json").read_text())


def late_split(traces: list[Trace]) -> tuple[list[Trace], list[Trace]]:
    """An early and a late batch: for every third order its last trace arrives late, and the
    trace before it arrives in two halves (the second one late); two orders arrive wholly
    late. Consumer traces without order.id stay with their order's traces."""
    by_order: dict[str, list[Trace]] = {}
    for trace in traces:
        order = trace.lookup("order.id")
        by_order.setdefault(str(order), []).append(trace)
    early, late = [], []
    for n, (order, group) in enumerate(sorted(by_order.items())):
        group.sort(key=lambda t: t.start_ns)
        if order == "None" or n % 3 or len(group) < 3:
            early.extend(group)
        elif n % 9 == 0 and n < 20:
            late.extend(group)
        else:
            *first, before, last = group
            half = len(before.spans) // 2 or 1
            early.extend([*first, Trace(before.trace_id, before.spans[:half])])
            late.extend([Trace(before.trace_id, before.spans[half:]), last])
    return early, late


def refresh(*args) -> str:
    out = io.StringIO()
    call_command("orders", "--refresh", *args, stdout=out)
    return out.getvalue()


def iso_ns(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def judged() -> dict[str, tuple]:
    """What report_orders says of every order now: status, state, violations."""
    config = explorer_config()
    return {
        r.journey.order_id: (
            r.status,
            r.conformance.state or "",
            [v.as_dict() for v in r.conformance.violations],
        )
        for r in report_orders(
            get_source(),
            config.graph,
            config.sla,
            config.container_of,
            names=config.names_by_language,
        )
    }


def stored(now_ns: int) -> dict[str, tuple]:
    return {
        row.order_id: (row.status_at(now_ns), row.state, row.violations)
        for row in OrderStatus.objects.all()
    }


@pytest.fixture
def late_batch(db, simulated):
    """The early batch stored and refreshed; returns the late batch and the early rows."""
    cache.clear()
    early, late = late_split(simulated[0])
    store_traces(early)
    refresh()
    return late, stored(now_in(get_source()))


def test_refresh_since_selects_orders_by_arrival_after_a_late_batch(late_batch):
    late, before = late_batch
    time.sleep(0.01)
    arrival = time.time_ns()
    store_traces(late)
    output = refresh("--since", iso_ns(arrival))
    expected = judged()
    now = now_in(get_source())
    assert stored(now) == expected
    changed = {o for o, row in expected.items() if before.get(o) != row}
    assert len(changed) >= 10, changed  # the late batch matters: the test can fail
    assert {o for o in expected if o not in before}, "an order arrived wholly late"
    # Selected by arrival: the late orders' traces started long before the arrival time, and
    # only the orders with late spans were computed again.
    late_orders = {str(t.lookup("order.id")) for t in late} - {"None"}
    assert f"{len(late_orders)} order statuses stored" in output
    assert OrderStatus.objects.count() == len(expected)


def test_the_worker_follows_a_late_batch_by_itself(late_batch):
    late, before = late_batch
    result = live.run_cycle(get_source(), explorer_config())
    assert result.recomputed == 0  # the refresh settled the early arrivals
    store_traces(late)
    result = live.run_cycle(get_source(), explorer_config())
    expected = judged()
    assert stored(result.now_ns) == expected
    assert result.marked == result.recomputed > 0
    assert arrivals.pending_count() == 0
    changed = {c.order_id: (c.before, c.after) for c in result.changes}
    for order_id, (status, _, _) in expected.items():
        was = before.get(order_id)
        if was is None or was[0] != status:
            assert changed[order_id] == (was[0] if was else None, status)
    assert any(after == COMPLETE for _, after in changed.values())
    # Nothing new: the next cycle computes nothing.
    again = live.run_cycle(get_source(), explorer_config())
    assert (again.marked, again.recomputed, again.changes) == (0, 0, [])


# --- Marking ------------------------------------------------------------------------------


def test_mark_changed_keeps_the_latest_arrival_and_settling_spares_newer_marks(db):
    assert arrivals.mark_changed(["A-1", "A-2", "", "A-1"], 100) == 2
    arrivals.mark_changed(["A-1"], 50)  # older: changes nothing
    assert dict(OrderArrival.objects.values_list("order_id", "arrived_ns")) == {
        "A-1": 100,
        "A-2": 100,
    }
    read = dict(OrderArrival.objects.values_list("order_id", "arrived_ns"))
    arrivals.mark_changed(["A-2"], 200)  # arrives while are computed
    arrivals.settle(read)
    assert set(OrderArrival.objects.filter(pending=True).values_list("order_id", flat=True)) == {
        "A-2"
    }
    assert arrivals.orders_arrived_since(150) == ["A-2"]
    # An id over ORDER_ID_MAX names no order (it used to be cut to 200 characters, which
    # merged long ids and found no span of its own): not marked.
    assert arrivals.mark_changed(["x" * 300, "A-3"], 300) == 1
    assert not OrderArrival.objects.filter(order_id__startswith="x").exists()


def test_a_consumer_trace_without_order_id_marks_its_order_through_the_link(db):
    order = OrderBuilder("A-7")
    producer = order.produce("shop-api", 0)
    store_traces(order.traces)
    assert arrivals.collect_arrivals(get_source()) == 1
    OrderArrival.objects.update(pending=False)
    consumer = order.consume(
        "mes-api", 5, producer, "PRICE_CALCULATED", "SUBMITTED", with_order=False
    )
    store_traces([consumer])
    assert arrivals.collect_arrivals(get_source()) == 1
    assert list(OrderArrival.objects.filter(pending=True).values_list("order_id", flat=True)) == [
        "A-7"
    ]
    # Storing the same spans again is no arrival.
    store_traces([consumer])
    assert arrivals.collect_arrivals(get_source()) == 0


def test_arrivals_are_read_only_from_a_source_that_lists_them(db):
    """The worker asks the source (ListsArrivals), never the store's tables behind it: a
    source without the capability (a remote backend: its writer marks) has none to collect."""
    store_traces(complete_order("A-8").traces)
    assert arrivals.collect_arrivals(MemorySource(complete_order("A-9").traces)) == 0
    assert not OrderArrival.objects.exists()
    assert arrivals.collect_arrivals(get_source()) == 1


# --- Time passing -------------------------------------------------------------------------


def test_time_passing_makes_orders_stuck_and_lost_without_a_new_span(db):
    cache.clear()
    config = explorer_config()
    waiting = OrderBuilder("A-10")  # priced: the seller has a limited time to approve
    waiting.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    waiting.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
    sent = OrderBuilder("A-11")  # a message sent, not consumed yet
    sent.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    sent.produce("shop-api", 70)
    store_traces([*waiting.traces, *sent.traces])
    first = live.run_cycle(get_source(), config)
    assert first.recomputed == 2 and first.rejudged == 0
    assert {c.order_id: c.after for c in first.changes} == {
        "A-10": IN_PROGRESS,
        "A-11": IN_PROGRESS,
    }
    # Only another order's spans arrive; time passes for.
    later = complete_order("A-12", offset=3 * DAY)
    store_traces(later.traces)
    second = live.run_cycle(get_source(), config)
    assert second.recomputed == 1  # A-12 only
    rejudged = {c.order_id: (c.before, c.after) for c in second.changes if c.order_id != "A-12"}
    assert rejudged == {"A-10": (IN_PROGRESS, STUCK), "A-11": (IN_PROGRESS, LOST)}
    assert second.rejudged == 2
    rows = {row.order_id: row for row in OrderStatus.objects.all()}
    assert (rows["A-10"].status, rows["A-11"].status, rows["A-12"].status) == (
        STUCK,
        LOST,
        COMPLETE,
    )
    assert rows["A-10"].as_of_ns == second.now_ns
    # What the stored rows say is what a full judgement says.
    assert {o: v[0] for o, v in judged().items()} == {o: r.status for o, r in rows.items()}
    assert live.run_cycle(get_source(), config).changes == []


def test_a_message_in_flight_is_lost_only_after_in_flight_time(db):
    cache.clear()
    config = explorer_config()
    sent = OrderBuilder("A-20")
    sent.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    producer = sent.produce("shop-api", 10)
    store_traces(sent.traces)
    live.run_cycle(get_source(), config)
    just_before = producer.start_ns + IN_FLIGHT_NS - 1
    assert live.rejudge(just_before) == []
    changes = live.rejudge(producer.start_ns + IN_FLIGHT_NS)
    assert [(c.order_id, c.after) for c in changes] == [("A-20", LOST)]
    assert OrderStatus.objects.get(order_id="A-20").status == LOST


# --- The reference on a schedule -----------------------------------------------------------


def test_the_reference_is_stored_when_due(db, settings):
    cache.clear()
    config = explorer_config()
    source = get_source()
    store_traces(complete_order("A-30").traces)
    now = now_in(source)
    assert live.refresh_reference_if_due(source, config, now)  # none stored
    assert not live.refresh_reference_if_due(source, config, now)  # fresh
    assert live.refresh_reference_if_due(source, config, now + 2 * HOUR * S)  # too old
    settings.EXPLORER_LIVE_REFERENCE_SECONDS = 0
    assert not live.refresh_reference_if_due(source, config, now + 2 * HOUR * S)  # no arrival
    store_traces(complete_order("A-31", offset=60).traces)
    arrivals.collect_arrivals(get_source())  # as a cycle does first
    assert live.refresh_reference_if_due(source, config, now + 2 * HOUR * S)
    # Its samples record the diagram calls they made, which the order page draws the typical
    # path from without reading their journeys.
    samples = BaselineSnapshot.stored_samples(source.name)
    assert samples and all(sample.calls for sample in samples.values())


# --- The worker and watch -----------------------------------------------------------------


def test_run_worker_runs_cycles_until_stopped_and_hands_on_each_result(db):
    cache.clear()
    store_traces(complete_order("A-40", offset=T0 // S % 10).traces)
    results: list[live.WorkerCycle] = []
    stop = threading.Event()

    def step(result: live.WorkerCycle) -> None:
        results.append(result)
        if len(results) == 3:
            stop.set()

    live.run_worker(stop, 0.01, get_source(), explorer_config(), [step])
    assert len(results) == 3
    assert results[0].recomputed == 1 and results[1].recomputed == 0
    assert OrderStatus.objects.get(order_id="A-40").status == COMPLETE


def test_run_worker_woken_by_committed_spans_does_not_wait_its_interval(transactional_db):
    cache.clear()
    store_traces(complete_order("A-41", offset=T0 // S % 10).traces)
    stop, wake = threading.Event(), threading.Event()
    cycles: list[float] = []

    def step(result: live.WorkerCycle) -> None:
        cycles.append(time.monotonic())
        if len(cycles) == 1:
            store_traces(complete_order("A-42", offset=T0 // S % 10 + 5).traces)
            wake.set()  # as the receiver does once spans are committed
        else:
            stop.set()

    worker = threading.Thread(
        target=live.run_worker, args=(stop, 600, get_source(), explorer_config(), [step], wake)
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and len(cycles) == 2
    # Woken: the next cycle came after WAKE_GAP_S, not after the 600 s interval.
    assert cycles[1] - cycles[0] < 30
    assert cycles[1] - cycles[0] >= live.WAKE_GAP_S
    assert OrderStatus.objects.get(order_id="A-42").status == COMPLETE
    assert not wake.is_set()  # taken


def test_watch_once_runs_one_cycle(db):
    cache.clear()
    out = io.StringIO()
    call_command("watch", "--once", stdout=out)
    assert "no spans in the source yet" in out.getvalue()
    store_traces(complete_order("A-50").traces)
    out = io.StringIO()
    call_command("watch", "--once", stdout=out)
    assert "1 orders marked, 1 computed again" in out.getvalue()
    assert OrderStatus.objects.get(order_id="A-50").status == COMPLETE


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_watch_runs_until_sigterm_or_sigint_in_a_real_process(tmp_path, signum):
    root = Path(__file__).resolve().parent.parent
    env = {"EXPLORER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    manage = [sys.executable, str(root / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0", "--skip-checks"], env=env, check=True, cwd=root)
    watch = subprocess.Popen(
        [*manage, "watch", "--interval", "0.1"],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "watching embedded" in watch.stdout.readline()
        assert "no spans in the source yet" in watch.stdout.readline()  # a cycle ran
        watch.send_signal(signum)
        out, err = watch.communicate(timeout=30)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    assert out.rstrip().endswith("stopped") and "Traceback" not in err
