"""Retention (explorer.orders.retention, explorer.store.retention, `manage.py prune`, the live
worker's pruning step, the pages of removed traces and orders) on a simulated Alexandrite
whose problem orders are known: the policy's expectation is computed here from the trace files
themselves, the order-status snapshot, the alerts and the SLA, and the store must keep exactly
that."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from collections import defaultdict
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection

from explorer.alerts.models import Alert
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.sla import breaches
from explorer.journeys.state_graph import ContainerSla, Sla
from explorer.orders import retention as retention_module
from explorer.orders.live import WorkerCycle
from explorer.orders.models import OrderArrival, OrderStatus
from explorer.orders.retention import PruningStep, prune
from explorer.orders.retention_policy import DAY_NS, RetentionPolicy
from explorer.orders.service import now_in
from explorer.simulation.faults import DEFAULT_FAULT_RATES
from explorer.store import retention as store_retention
from explorer.store.attribute_keys import code_of
from explorer.store.models import HourlyOperation, HourlyTraffic, RemovedTrace, StoredTrace
from explorer.traces.vocabulary import ORDER_KEY

# Three bands within the simulated 45 days: gone, kept if a problem, kept.
POLICY = RetentionPolicy(trace_days=3, problem_days=22, status_days=30, batch=25)
SIMULATION = {
    "orders": 30,
    "days": 40,
    "until_days": 40,
    "seed": 5,
    "fault_rates": {**DEFAULT_FAULT_RATES, "lost_message": 0.15},
}


@pytest.fixture
def stored(simulation):
    """The simulation ingested, the snapshot refreshed, an alert about one order that went
    well; returns (run, source, config with a tight SLA on MES API, now)."""
    run = simulation(**SIMULATION)
    call_command("ingest", str(run.folder), stdout=io.StringIO())
    call_command("orders", "--refresh", stdout=io.StringIO())
    source = get_source(None)
    config = explorer_config()
    durations = sorted(
        s.duration_ns / 1e6
        for t in run.traces()
        for s in t.spans
        if config.container_of(s) == "mes_api" and s.kind.name == "SERVER"
    )
    tight = Sla(
        {"mes_api": ContainerSla(default_ms=durations[-len(durations) // 30], endpoints={})}
    )
    return run, source, dataclasses.replace(config, sla=tight), now_in(source)


def _expected(run, config, now: int, alerted: set[str]) -> tuple[set[str], set[str]]:
    """(kept, removed) trace ids as the policy says, computed from the files."""
    trace_cut, problem_cut, _ = POLICY.cutoffs(now)
    traces = run.traces()
    order_of = {}
    newest: dict[str, int] = defaultdict(int)
    breached: set[str] = set()
    for trace in traces:
        orders = sorted({s.attributes[ORDER_KEY] for s in trace.spans if ORDER_KEY in s.attributes})
        if orders:
            order_of[trace.trace_id] = orders[0]
            newest[orders[0]] = max(newest[orders[0]], trace.end_ns)
            if breaches(config.sla, ((config.container_of(s), s) for s in trace.spans)):
                breached.add(orders[0])
    problem = {
        r.order_id
        for r in OrderStatus.objects.all()
        if r.status_at(now) in ("lost", "stuck") or r.violations or r.anomalous
    }
    problem |= alerted | breached
    kept, removed = set(), set()
    for trace in traces:
        order = order_of.get(trace.trace_id)
        if order is None:
            gone = trace.end_ns < trace_cut
        else:
            age = newest[order]
            gone = age < problem_cut or (age < trace_cut and order not in problem)
        (removed if gone else kept).add(trace.trace_id)
    return kept, removed


def _stored_ids() -> set[str]:
    return set(StoredTrace.objects.values_list("trace_id", flat=True))


def _went_well_in_band(now: int, after: str = "") -> str:
    """An order that went well whose traces only the policy's problem horizon would keep."""
    trace_cut, problem_cut, _ = POLICY.cutoffs(now)
    rows = OrderStatus.objects.filter(
        status="complete",
        anomalous=False,
        last_seen_ns__lt=trace_cut,
        last_seen_ns__gte=problem_cut,
        order_id__gt=after,
    ).order_by("order_id")
    row = next((r for r in rows if not r.violations), None)
    assert row is not None, "the simulation has no order that went well in the problem band"
    return row.order_id


def _traces_of(order_id: str) -> set[str]:
    rows = StoredTrace.objects.filter(
        business__key_code=code_of(ORDER_KEY), business__value=order_id
    )
    return set(rows.values_list("trace_id", flat=True))


def _alert(order_id: str) -> None:
    from django.utils import timezone

    at = timezone.now()
    Alert.objects.create(
        kind="stuck", subject=order_id, order_id=order_id, opened_at=at, last_seen_at=at
    )


def _alerted(ids):
    return set(Alert.objects.filter(order_id__in=list(ids)).values_list("order_id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_prune_keeps_exactly_what_the_policy_says_in_batches(stored, monkeypatch, client, login_as):
    run, source, config, now = stored
    monkeypatch.setattr("django.conf.settings.EXPLORER_RETENTION", POLICY)
    alerted_order = _went_well_in_band(now)
    _alert(alerted_order)
    went_well = _went_well_in_band(now, after=alerted_order)
    went_well_traces = _traces_of(went_well)
    kept, removed = _expected(run, config, now, {alerted_order})
    assert _stored_ids() == kept | removed
    # The data has every band: traces gone, problem orders kept, an SLA-only order kept.
    assert removed and kept
    lost = set(run.truth["faults"]["lost_message"])
    trace_cut, problem_cut, _ = POLICY.cutoffs(now)
    rows = {r.order_id: r for r in OrderStatus.objects.all()}
    lost_in_band = [o for o in lost if problem_cut <= (rows[o].last_seen_ns or 0) < trace_cut]
    assert lost_in_band, "the simulation has no lost order in the problem band"

    dry = prune(source, config, now, policy=POLICY, dry_run=True, alerted=_alerted)
    assert _stored_ids() == kept | removed  # a dry run removes nothing
    assert sum(dry.removed.values()) == len(removed) and not RemovedTrace.objects.exists()
    assert dry.kept["sla"] >= 1 and dry.kept["alert"] >= 1 and dry.kept["lost"] >= 1

    # The live worker's step: one batch of 25 traces per cycle (no time left after one).
    monkeypatch.setattr(retention_module, "STEP_SECONDS", 0.0)
    step = PruningStep(source, lambda: config, alerted=_alerted, policy=POLICY)
    assert step(WorkerCycle(now_ns=now)) is None  # not in the worker's first interval
    step.next_at = 0.0
    cycles = 0
    while True:
        cycles += 1
        report = step(WorkerCycle(now_ns=now))
        if report is not None and report.finished:
            break
    assert cycles >= len(kept | removed) // POLICY.batch // 2 > 1
    assert _stored_ids() == kept
    # Each removed trace is recorded, but for those past the status horizon too.
    status_cut = POLICY.cutoffs(now)[2]
    recent = {t.trace_id for t in run.traces() if t.start_ns >= status_cut}
    assert set(RemovedTrace.objects.values_list("trace_id", flat=True)) == removed & recent
    assert removed - recent
    assert report.removed == dry.removed and report.kept == dry.kept
    assert report.spans == dry.spans > 0
    for order_id in lost_in_band:  # known problem orders keep every trace
        assert StoredTrace.objects.filter(
            business__key_code=code_of(ORDER_KEY), business__value=order_id
        ).exists()
    # Its interval has not passed: the next cycle prunes nothing; space was given back.
    assert step(WorkerCycle(now_ns=now)) is None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA freelist_count")
        assert cursor.fetchone()[0] == 0
    login_as("support")
    _pages_say_what_retention_removed(client, went_well, went_well_traces)


@pytest.mark.django_db
def test_prune_command_counts_by_reason_and_the_status_horizon(stored, monkeypatch):
    run, source, config, now = stored
    monkeypatch.setattr("django.conf.settings.EXPLORER_RETENTION", POLICY)
    status_cut = POLICY.cutoffs(now)[2]
    old_orders = set(
        OrderStatus.objects.filter(last_seen_ns__lt=status_cut).values_list("order_id", flat=True)
    )
    assert old_orders and HourlyTraffic.objects.filter(hour__lt=status_cut).exists()
    assert HourlyOperation.objects.filter(hour__lt=status_cut).exists()
    before = _stored_ids()
    out = io.StringIO()
    call_command("prune", "--dry-run", stdout=out)
    text = out.getvalue()
    assert text.startswith("would remove: ") and "  order_went_well: " in text
    assert "  no_order: " in text and "kept past the trace horizon: " in text
    assert _stored_ids() == before
    out = io.StringIO()
    call_command("prune", stdout=out)
    assert out.getvalue().splitlines()[0] == text.splitlines()[0].replace("would remove", "removed")
    assert len(_stored_ids()) < len(before)
    assert f"removed: {len(old_orders)} order status rows, " in out.getvalue()
    # Status rows (and arrival marks) of orders last seen before the status horizon, hourly
    # figures of hours before it, go; the newer ones stay.
    assert not OrderStatus.objects.filter(order_id__in=old_orders).exists()
    assert not OrderArrival.objects.filter(order_id__in=old_orders).exists()
    assert OrderStatus.objects.exists()
    assert not HourlyTraffic.objects.filter(hour__lt=status_cut).exists()
    assert HourlyTraffic.objects.exists()
    assert not HourlyOperation.objects.filter(hour__lt=status_cut).exists()
    assert HourlyOperation.objects.exists()
    out = io.StringIO()
    call_command("prune", stdout=out)
    assert out.getvalue().startswith("removed: 0 traces, 0 spans\n")
    # A trace that got spans after it was listed stays (the next run weighs it again).
    listed = store_retention.traces_started_before(now, limit=1)[0]
    grown = dataclasses.replace(listed, span_count=listed.span_count - 1)
    assert store_retention.remove_traces([grown], {}, date.today()) == 0
    assert StoredTrace.objects.filter(pk=listed.pk).exists()
    # The records of removed traces follow the same horizon (here: five days later).
    later = prune(source, config, now + 5 * DAY_NS, policy=POLICY)
    assert later.records > 0
    assert not RemovedTrace.objects.filter(start_ns__lt=status_cut + 5 * DAY_NS).exists()


def _pages_say_what_retention_removed(client, order_id: str, trace_ids: set[str]) -> None:
    """In English and Russian: the order's traces were removed, its status is still shown."""
    assert trace_ids and not _stored_ids() & trace_ids
    trace_id = sorted(trace_ids)[0]
    page = client.get(f"/traces/{trace_id}/")
    body = page.content.decode()
    assert page.status_code == 410
    assert f"The trace “{trace_id}” was removed by retention on " in body
    assert "kept 3 days" in body and "Not found" not in body
    page = client.get(f"/orders/{order_id}/")
    body = page.content.decode()
    assert page.status_code == 410
    assert "traces were removed by retention on " in body and ">Stored status<" in body
    assert ">complete<" in body
    # Never heard of: still "not found".
    assert client.get("/traces/0123456789abcdef0123456789abcdef/").status_code == 404
    assert client.get("/orders/A-999999/").status_code == 404
    client.cookies["django_language"] = "ru"
    body = client.get(f"/traces/{trace_id}/").content.decode()
    assert f" г. трасса «{trace_id}» удалена по сроку хранения.</p>" in body
    body = client.get(f"/orders/{order_id}/").content.decode()
    assert " г. по сроку хранения удален" in body and "Сохранённый статус" in body
    assert ">завершён<" in body


def test_policy_settings_are_checked_with_the_variable_named():
    policy = RetentionPolicy.from_environment({"EXPLORER_RETENTION_TRACE_DAYS": "7"})
    assert (policy.trace_days, policy.problem_days, policy.status_days) == (7, 180, 730)
    with pytest.raises(ValueError, match="EXPLORER_RETENTION_BATCH must be a number: 'x'"):
        RetentionPolicy.from_environment({"EXPLORER_RETENTION_BATCH": "x"})
    with pytest.raises(ValueError, match="at most the next: 200, 180, 730"):
        RetentionPolicy.from_environment({"EXPLORER_RETENTION_TRACE_DAYS": "200"})
    with pytest.raises(ValueError, match="INTERVAL_SECONDS must be 0 or more"):
        RetentionPolicy(interval_s=-1)
    # Interval 0: the live worker never prunes (nothing is read: no database here).
    never = PruningStep(None, explorer_config, policy=RetentionPolicy(interval_s=0))  # type: ignore[arg-type]
    assert never(WorkerCycle(now_ns=10**18)) is None


@pytest.mark.django_db
def test_migrate_creates_a_sqlite_database_that_gives_space_back(tmp_path):
    import sqlite3

    from explorer.store.retention import INCREMENTAL, incremental_mode
    from tests.receiver_support import ROOT, receiver_env

    assert incremental_mode() is True  # the test database, as `migrate` created it
    # A file, as the explorer opens it (WAL mode before any table): `manage.py migrate`.
    env = receiver_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )  # noqa: S603
    with sqlite3.connect(tmp_path / "explorer.sqlite3") as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert database.execute("PRAGMA auto_vacuum").fetchone() == (INCREMENTAL,)
    database.close()


@pytest.mark.django_db(transaction=True)
def test_prune_vacuum_switches_an_older_sqlite_database_to_giving_space_back():
    from explorer.store.retention import incremental_mode

    with connection.cursor() as cursor:  # as a database created before retention was
        cursor.execute("PRAGMA auto_vacuum=NONE")
        cursor.execute("VACUUM")
    assert incremental_mode() is False
    out = io.StringIO()
    call_command("prune", stdout=out)
    assert "run `prune --vacuum` once" in out.getvalue()
    out = io.StringIO()
    call_command("prune", "--vacuum", stdout=out)
    assert "vacuumed: the database now gives space back" in out.getvalue()
    assert incremental_mode() is True
