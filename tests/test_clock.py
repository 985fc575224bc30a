"""The data clock (explorer.store.clock, docs/live.md#the-data-clock): one span stamped with
the wall clock, or a sender whose clock runs hours ahead, is flagged as clock skew, counted
per sender and service, and never moves the explorer's "now"; the clock still follows the
senders (the demo's hour a minute, a data set that goes on after a pause); `ingest` of
historical files and remote backends judge by the wall clock only."""

from __future__ import annotations

import itertools
import json
import time

import orjson
import pytest
from django.core.cache import cache
from django.urls import reverse

from explorer.alerts.cycle import run_cycle as run_alerts
from explorer.alerts.models import Alert
from explorer.caching import reset_caches
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.now import latest_time_ns
from explorer.orders import live
from explorer.orders.models import OrderStatus
from explorer.orders.service import now_in
from explorer.receiver.config import load
from explorer.receiver.service import Receiver, Request
from explorer.simulation import EPOCH_NS
from explorer.simulation.lifecycle import DAY, HOUR, MINUTE
from explorer.sources.memory import MemorySource
from explorer.store.clock import MIN_READINGS, fit_line
from explorer.store.ingest import ingest, store_traces
from explorer.store.models import ClockSkew, StoredTrace
from explorer.traces.model import SpanKind, Trace
from tests.trace_support import make_span, otlp_json, resource, write_otlp

S = 10**9
SIMULATION = {"orders": 60, "days": 4, "until_days": 4, "seed": 11}
TOKEN = "clock-test-token"  # noqa: S105 - a test token
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def end_of(trace: Trace) -> int:
    return max(s.end_ns for s in trace.spans)


def one_span(service: str, end_ns: int, name: str = "GET /health") -> Trace:
    """A trace of one server span of `service` that ends at end_ns."""
    trace_id = f"{next(_ids):032x}"
    span = make_span(
        f"{next(_ids):016x}",
        None,
        service,
        trace_id=trace_id,
        name=name,
        kind=SpanKind.SERVER,
        start_ns=end_ns - 20 * 10**6,
        end_ns=end_ns,
        resource=resource(service),
    )
    return Trace(trace_id, [span])


def receive(settings, traces: list[Trace], sender: str = "shop-collector") -> None:
    """Send traces through the receiver's own code path (in this process, no writers)."""
    settings.EXPLORER_RECEIVER_TOKENS = json.dumps({sender: TOKEN})
    settings.EXPLORER_RECEIVER_WRITERS = 0
    reset_caches()  # the receiver reads its settings again
    body = orjson.dumps(otlp_json(traces))
    outcome = Receiver(load(), sqlite=True).export(
        Request(
            read_body=lambda: body,
            size=len(body),
            content_type="application/json",
            content_encoding=None,
            authorization=f"Bearer {TOKEN}",
            peer="127.0.0.1",
        )
    )
    reset_caches()  # the receiver reads its settings again
    assert outcome.status == 200, outcome.message


def lists_at(now: int) -> tuple[set[str], set[str]]:
    """The stuck and the lost orders as the home page lists them at `now`."""
    stuck = set(OrderStatus.objects.stuck_at(now).values_list("order_id", flat=True))
    lost = set(OrderStatus.objects.lost_at(now).values_list("order_id", flat=True))
    return stuck, lost


# --- The storm: one span at the wall clock in the demo ----------------------------------------


@pytest.mark.django_db
def test_one_span_stamped_with_the_wall_clock_opens_no_alert(simulation, settings):
    """The demo: files up to day 3.5, then the simulation goes on live, a batch every 20 s of
    wall clock carrying 20 minutes of data (an hour a minute). A span stamped with the wall
    clock (2026, the data is of 2025) arrives through the receiver: the next cycle of the live
    worker and of the alert rules judges at the same now, opens no alert, and the stuck and lost
    lists stay as they were; the skew is counted for that sender and service."""
    traces = sorted(simulation(**SIMULATION).traces(), key=end_of)
    cut = EPOCH_NS + 3 * DAY + 12 * HOUR
    files = [t for t in traces if end_of(t) <= cut]
    step = 20 * S
    batches = [
        [t for t in traces if cut + k * 20 * MINUTE < end_of(t) <= cut + (k + 1) * 20 * MINUTE]
        for k in range(36)
    ]
    started = time.time_ns() - (len(batches) + 2) * step
    store_traces(files, arrived_ns=started)
    for k, batch in enumerate(batches, start=1):
        if batch:
            store_traces(batch, live=True, sender="shop-collector", arrived_ns=started + k * step)
    source, config = get_source(), explorer_config()
    before = live.run_cycle(source, config)
    alerts = run_alerts(send=False)
    assert before.now_ns == max(end_of(t) for t in traces if t.trace_id == _newest(traces))
    assert alerts.now_ns == before.now_ns
    stuck, lost = lists_at(before.now_ns)
    assert stuck or lost, "the cut-off leaves orders stuck or lost: the storm has a target"
    open_before = set(Alert.objects.open().values_list("kind", "subject"))

    wall = time.time_ns()
    receive(settings, [one_span("shop-api", wall)])

    after = live.run_cycle(source, config)
    assert after.now_ns == before.now_ns
    assert [c for c in after.changes if c.before != c.after] == []
    again = run_alerts(send=False)
    assert again.now_ns == before.now_ns
    assert again.opened == [] and again.resolved == []
    assert set(Alert.objects.open().values_list("kind", "subject")) == open_before
    assert lists_at(latest_time_ns(source)) == (stuck, lost)
    skew = ClockSkew.objects.get()
    assert (skew.sender, skew.service, skew.spans) == ("shop-collector", "shop-api", 1)
    assert skew.largest_lead_ns > 300 * DAY  # from the data's 2025 to the wall clock
    assert StoredTrace.objects.filter(clock_ahead=True).count() == 1  # kept, flagged


def _newest(traces: list[Trace]) -> str:
    """The id of the trace that starts last (the store's newest)."""
    return max(traces, key=lambda t: (min(s.start_ns for s in t.spans), t.trace_id)).trace_id


# --- A sender three hours ahead; steady progress; a real jump ---------------------------------


@pytest.mark.django_db
def test_a_sender_three_hours_ahead_is_flagged_while_the_others_keep_now(caplog):
    """Three senders at real-time pace (data of 2025, ten seconds of wall clock a step); one of
    them stamps its spans three hours ahead. Its spans are flagged, counted and logged; now is
    the others' newest span; once it is gone the others' steady progress goes on."""
    wall0 = time.time_ns() - 30 * MINUTE
    data0 = EPOCH_NS + 5 * DAY

    def send(step: int, sender: str, lead: int = 0) -> Trace:
        wall = wall0 + step * 10 * S + hash(sender) % 1000  # each request its own arrival
        trace = one_span(f"{sender}-api", data0 + step * 10 * S - 2 * S + lead)
        store_traces([trace], live=True, sender=sender, arrived_ns=wall)
        return trace

    for step in range(MIN_READINGS + 3):  # the clock has its readings before "mes" goes wrong
        send(step, "shop")
        send(step, "crm")
    ahead = []
    for step in range(MIN_READINGS + 3, 40):
        newest = max(end_of(send(step, "shop")), end_of(send(step, "crm")))
        ahead.append(send(step, "mes", lead=3 * HOUR))
        assert latest_time_ns(get_source()) == newest
    flagged = set(StoredTrace.objects.filter(clock_ahead=True).values_list("trace_id", flat=True))
    assert flagged == {t.trace_id for t in ahead}
    skew = ClockSkew.objects.get()
    assert (skew.sender, skew.service, skew.spans) == ("mes", "mes-api", len(ahead))
    assert 3 * HOUR - 10 * S < skew.largest_lead_ns < 3 * HOUR + 10 * S
    assert "clock skew" in caplog.text and "'mes-api' from mes" in caplog.text
    # Past the window (600 s, 60 steps): the others' now moves on with every step.
    for step in range(40, 120):
        newest = max(end_of(send(step, "shop")), end_of(send(step, "crm")))
        assert latest_time_ns(get_source()) == newest
    assert StoredTrace.objects.filter(clock_ahead=True).count() == len(ahead)


@pytest.mark.django_db
def test_the_clock_follows_every_sender_that_jumps_ahead_once_the_window_holds_them():
    """The data set goes on six hours later (every sender): the first arrivals are ahead of
    the line, but within the window (EXPLORER_CLOCK_WINDOW_SECONDS) the line follows them, and
    now with it; nothing after that is flagged."""
    wall0 = time.time_ns() - 60 * MINUTE
    data0 = EPOCH_NS + 5 * DAY
    jump = 0

    def send(step: int, sender: str) -> Trace:
        trace = one_span(f"{sender}-api", data0 + step * 10 * S + jump)
        wall = wall0 + step * 10 * S + (1 if sender == "crm" else 0)
        store_traces([trace], live=True, sender=sender, arrived_ns=wall)
        return trace

    for step in range(20):
        send(step, "shop")
        send(step, "crm")
    jump = 6 * HOUR
    followed = None
    for step in range(20, 100):
        newest = max(end_of(send(step, "shop")), end_of(send(step, "crm")))
        if latest_time_ns(get_source()) == newest and followed is None:
            followed = step
    assert followed is not None and followed - 20 <= 60  # within the window's 600 s
    last = StoredTrace.objects.order_by("-arrived_ns")[:40]
    assert not any(row.clock_ahead for row in last)


@pytest.mark.django_db
def test_the_demos_accelerated_clock_is_followed():
    """An hour a minute: a batch every 5 s of wall clock brings 5 minutes of data; nothing is
    flagged and now is always the newest span, though the data runs 60 times the wall clock."""
    wall0 = time.time_ns() - 20 * MINUTE
    data0 = EPOCH_NS + 5 * DAY
    for step in range(150):
        trace = one_span("shop-api", data0 + step * 5 * MINUTE)
        store_traces([trace], live=True, sender="demo", arrived_ns=wall0 + step * 5 * S)
        assert latest_time_ns(get_source()) == end_of(trace)
    assert not StoredTrace.objects.filter(clock_ahead=True).exists()
    assert not ClockSkew.objects.exists()


def test_the_line_runs_at_the_senders_pace_and_one_reading_cannot_move_it():
    readings = [(k * 5 * S, EPOCH_NS + k * 5 * MINUTE) for k in range(20)]
    line = fit_line([*readings, (21 * 5 * S, EPOCH_NS + 600 * DAY)])
    assert line is not None and line.slope == pytest.approx(60)
    assert abs(line.at(22 * 5 * S) - (EPOCH_NS + 22 * 5 * MINUTE)) < MINUTE
    assert fit_line(readings[: MIN_READINGS - 1]) is None  # too few to tell


# --- Historical files, remote backends --------------------------------------------------------


@pytest.mark.django_db
def test_historical_ingest_is_judged_by_the_wall_clock_only(simulation, tmp_path):
    """`ingest` of files (14 days at once, no live arrivals): nothing flagged, now is the
    newest span as before; a span after the wall clock is flagged and counted as `ingest`."""
    run = simulation(**SIMULATION)
    assert ingest([run.folder]).rejected == []
    assert not StoredTrace.objects.filter(clock_ahead=True).exists()
    traces = run.traces()
    newest = max(end_of(t) for t in traces if t.trace_id == _newest(traces))
    assert latest_time_ns(get_source()) == newest
    future = one_span("crm-api", time.time_ns() + 2 * HOUR)
    write_otlp(tmp_path / "future.json", [future])
    assert ingest([tmp_path / "future.json"]).rejected == []
    assert latest_time_ns(get_source()) == newest
    skew = ClockSkew.objects.get()
    assert (skew.sender, skew.service, skew.spans) == ("ingest", "crm-api", 1)


def test_a_remote_backend_leaves_out_traces_after_the_wall_clock():
    past = one_span("shop-api", EPOCH_NS)
    future = one_span("shop-api", time.time_ns() + 30 * DAY)
    assert latest_time_ns(MemorySource([past, future])) == EPOCH_NS


def test_the_orders_service_takes_now_with_the_configured_tolerance(settings):
    """journeys.now knows no settings: the service passes EXPLORER_CLOCK_TOLERANCE_SECONDS."""
    past = one_span("shop-api", EPOCH_NS)
    soon = one_span("shop-api", time.time_ns() + 3600 * 10**9)  # starts an hour ahead
    source = MemorySource([past, soon])
    settings.EXPLORER_CLOCK_TOLERANCE_SECONDS = 60
    assert now_in(source) == EPOCH_NS
    settings.EXPLORER_CLOCK_TOLERANCE_SECONDS = 2 * 3600
    assert now_in(source) == end_of(soon)
    assert now_in(source, at_ns=5) == 5


# --- Shown to analysts ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_drift_page_lists_clocks_that_run_ahead(client, login_as):
    store_traces([one_span("shop-api", EPOCH_NS + k * MINUTE) for k in range(3)])
    store_traces([one_span("mes-api", time.time_ns() + 3 * HOUR)])
    login_as("analyst")
    page = client.get(reverse("web:drift")).content.decode()
    assert "Clocks that run ahead" in page and "mes-api" in page and "ingest" in page
    client.cookies["django_language"] = "ru"
    page = client.get(reverse("web:drift")).content.decode()
    assert "Часы, которые спешат" in page and "mes-api" in page


@pytest.mark.django_db
def test_the_receivers_index_mode_flags_and_leaves_out_spans_ahead():
    """Index mode (the spans in Tempo, the index here): the same judgement on the index's
    arrivals; the indexed source's now leaves out the flagged trace, and falls back to the
    backend's newest before the wall clock while nothing is indexed."""
    from explorer.receiver import index  # noqa: PLC0415 - the receiver's own tables
    from explorer.receiver.facts import index_facts  # noqa: PLC0415

    backend = MemorySource([one_span("shop-api", EPOCH_NS)])
    indexed = index.IndexedSource(backend)
    assert latest_time_ns(indexed) == EPOCH_NS  # nothing indexed yet: the backend's

    def write(trace: Trace, wall: int) -> None:
        pieces = index.pieces_of(index_facts([trace], ("order.id",)))
        index.write_pieces(pieces, sender="shop-collector", live=True, arrived_ns=wall)

    wall0 = time.time_ns() - 10 * MINUTE
    for step in range(20):
        write(one_span("shop-api", EPOCH_NS + step * 5 * MINUTE), wall0 + step * 5 * S)
    newest = EPOCH_NS + 19 * 5 * MINUTE
    write(one_span("shop-api", time.time_ns()), wall0 + 21 * 5 * S)
    assert latest_time_ns(indexed) == newest
    skew = ClockSkew.objects.get()
    assert (skew.sender, skew.service, skew.spans) == ("shop-collector", "shop-api", 1)


@pytest.mark.django_db
def test_one_service_ahead_in_every_batch_of_a_collector_never_tilts_the_clock():
    """One Collector sends every service's spans (the demo has one sender): when one service
    runs three hours ahead, every request carries its spans. Only that service is flagged,
    for as long as it goes on, and now is the others' newest span."""
    wall0 = time.time_ns() - 30 * MINUTE
    data0 = EPOCH_NS + 5 * DAY
    for step in range(120):
        wall, data = wall0 + step * 10 * S, data0 + step * 10 * S
        batch = [one_span("shop-api", data), one_span("crm-api", data - S)]
        if step >= MIN_READINGS + 3:
            batch.append(one_span("mes-api", data + 3 * HOUR))
        store_traces(batch, live=True, sender="collector", arrived_ns=wall)
        assert latest_time_ns(get_source()) == data
    skew = ClockSkew.objects.get()
    assert (skew.sender, skew.service, skew.spans) == ("collector", "mes-api", 120 - 8)
