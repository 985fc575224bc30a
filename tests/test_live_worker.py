"""The live worker cannot die and says when it stopped (issue 26): an order, an alert or a
delivery that fails is logged with the order and counted, the order is tried again later, the
cycle goes on; a cycle that fails is followed by the next one; each completed cycle stores its
heartbeat (tests/test_live_supervisor.py: what reads it). Odd `order.id` values (finding 2) are
refused at intake and never stop it."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import DataError
from django.utils import timezone

from explorer.alerts import cycle as alert_cycle
from explorer.alerts import delivery
from explorer.alerts.config import Webhook
from explorer.alerts.cycle import after_live_cycle
from explorer.alerts.models import Alert, AlertRule, Delivery
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.conformance import COMPLETE
from explorer.journeys.intake import order_id_problem
from explorer.orders import arrivals, live
from explorer.orders.models import LiveMark, OrderArrival, OrderStatus
from explorer.sources.base import SourceError
from explorer.store.ingest import store_traces
from tests.journey_support import DAY, HOUR, OrderBuilder, complete_order
from tests.test_alerts import stuck_order


def with_order_id(builder: OrderBuilder, order_id: str) -> OrderBuilder:
    """The builder's traces (ids as built) with `order_id` as every span's order.id."""
    for trace in builder.traces:
        for span in trace.spans:
            if "order.id" in span.attributes:
                span.attributes["order.id"] = order_id
    return builder


def worker_until(cycles: int, steps=(), stats: live.WorkerStats | None = None, **kwargs):
    """Runs the real worker until it completed `cycles` cycles (each step runs first)."""
    stop = threading.Event()
    seen: list[live.WorkerCycle] = []

    def count(result: live.WorkerCycle) -> None:
        seen.append(result)
        if len(seen) >= cycles:
            stop.set()

    live.run_worker(stop, 0.01, get_source(), explorer_config(), [*steps, count], stats=stats)
    return seen


@pytest.fixture
def mailbox(settings, db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EXPLORER_ALERT_WEBHOOKS = ""
    AlertRule.objects.update(recipient_roles="", recipient_emails="oncall@alexandrite.example")
    return mail.outbox


# --- Finding 2 through the real worker ------------------------------------------------------


def test_an_order_id_with_a_newline_is_refused_at_intake_and_the_worker_goes_on(db, caplog):
    odd = with_order_id(stuck_order(), "A-1\nX")
    store_traces([*odd.traces, *complete_order("A-200003", offset=HOUR).traces])
    with caplog.at_level(logging.WARNING, "explorer.live"):
        first = worker_until(1, [after_live_cycle(get_source())])
    assert first[0].refused == 1 and first[0].errors == []
    assert not OrderStatus.objects.filter(order_id__contains="\n").exists()
    assert not OrderArrival.objects.filter(order_id__contains="\n").exists()
    # Logged with where it came from: the trace, and why.
    assert "order.id 'A-1\\nX' in trace 'A-200001-t1' refused (the control character U+000A)" in (
        caplog.text
    )
    # A later normal order is judged. The arrivals of the last minute are read again, but
    # the refused id is said once.
    store_traces(complete_order("A-200004", offset=2 * HOUR).traces)
    with caplog.at_level(logging.WARNING, "explorer.live"):
        again = worker_until(2)
    assert OrderStatus.objects.get(order_id="A-200004").status == COMPLETE
    assert [r.refused for r in again] == [0, 0] and caplog.text.count("refused") == 1


def test_a_stored_odd_order_id_makes_a_stuck_alert_and_the_worker_goes_on(mailbox):
    """As finding 2 had it: an odd id in the snapshot (stored before ids were checked) opens
    a stuck alert whose e-mail links the order; the worker no longer dies on the link."""
    store_traces([*stuck_order().traces, *complete_order("A-200003", offset=HOUR).traces])
    worker_until(1)
    # The row as an older version stored it (the worker computes A-200001 again, as its
    # spans arrived within the last minute).
    row = OrderStatus.objects.get(order_id="A-200001")
    row.pk, row.order_id = None, "A-1\nX"
    row.save()
    worker_until(1, [after_live_cycle(get_source())])
    alert = Alert.objects.get(kind="stuck", order_id="A-1\nX")
    mine = [m for m in mailbox if "A-1" in m.subject]
    assert [m.subject for m in mine] == ["[Alexandrite] Stuck order: A-1\\x0aX"]
    assert "/orders/A-1%0AX/" in mine[0].body
    assert alert.deliveries.filter(ok=True).count() == 1
    # The worker still judges later orders.
    store_traces(complete_order("A-200004", offset=2 * HOUR).traces)
    worker_until(1)
    assert OrderStatus.objects.get(order_id="A-200004").status == COMPLETE


ODD = {
    "A-1\nX": False,
    "A-2/B": True,
    "A-3?x": True,
    "A-4#y": True,
    "A-5%2F": True,
    "A-6\u202eX": False,
    "A" * 10_000: False,
}


def test_odd_order_ids_through_the_worker_and_the_pages(client, login_as, db):
    traces = []
    for n, order_id in enumerate(ODD):
        traces += with_order_id(complete_order(f"Z-{n}", offset=n * 60), order_id).traces
    store_traces(traces)
    results = worker_until(2)
    assert results[0].refused == 3 and results[0].errors == []
    assert set(OrderStatus.objects.values_list("order_id", flat=True)) == {
        order_id for order_id, usable in ODD.items() if usable
    }
    assert {o: order_id_problem(o) is None for o in ODD} == ODD
    login_as("analyst")
    for url in ("/", "/orders-now/", "/orders/?status=complete"):
        assert client.get(url).status_code == 200
    for order_id in ODD:
        if ODD[order_id]:
            page = client.get(delivery.alert_link(Alert(kind="stuck", order_id=order_id)))
            assert page.status_code == 200, order_id


def test_watch_once_says_how_many_order_ids_it_refused(db):
    store_traces(with_order_id(complete_order("Z-1"), "A-1\u202eX").traces)
    out = io.StringIO()
    call_command("watch", "--once", stdout=out)
    assert "0 orders marked, 0 computed again, 0 re-judged, 0 status changes" in out.getvalue()
    assert "1 order ids refused" in out.getvalue()


def test_a_full_refresh_leaves_odd_ids_out_and_drops_their_old_rows(db):
    odd = with_order_id(complete_order("Z-1"), "A-1\nX")
    store_traces([*odd.traces, *complete_order("A-2", offset=60).traces])
    worker_until(1)
    # A row as a version before ids were checked stored it.
    row = OrderStatus.objects.get(order_id="A-2")
    row.pk, row.order_id = None, "A-1\nX"
    row.save()
    call_command("orders", "--refresh", stdout=io.StringIO())
    assert list(OrderStatus.objects.values_list("order_id", flat=True)) == ["A-2"]


# --- One order, one alert, one delivery -----------------------------------------------------


def test_an_order_that_fails_is_logged_counted_and_retried_later(db, monkeypatch, caplog):
    store_traces([*complete_order("A-1").traces, *complete_order("A-2", offset=60).traces])
    judge = live.judge_rows

    def failing(source, config, orders, *args):
        if "A-1" in orders:
            raise ValueError("injected")
        return judge(source, config, orders, *args)

    monkeypatch.setattr(live, "judge_rows", failing)
    stats = live.WorkerStats()
    with caplog.at_level(logging.ERROR, "explorer.live"):
        first = worker_until(1, stats=stats)[0]
    assert first.recomputed == 1 and OrderStatus.objects.get(order_id="A-2").status == COMPLETE
    assert first.errors == ["order 'A-1' could not be judged: ValueError: injected"]
    assert "order 'A-1' could not be judged" in caplog.text and "Traceback" in caplog.text
    assert stats.errors == 1 and live.worker_errors() == 1
    arrival = OrderArrival.objects.get(order_id="A-1")
    assert arrival.pending and arrival.failures == 1
    wait_s = (arrival.retry_at_ns - time.time_ns()) / 1e9
    assert live.RETRY_FIRST_S - 5 < wait_s <= live.RETRY_FIRST_S
    # Not tried again every cycle: not before its retry time.
    again = worker_until(3)
    assert [r.errors for r in again] == [[], [], []]
    # Due again and failing again: twice as long.
    OrderArrival.objects.filter(order_id="A-1").update(retry_at_ns=0)
    assert len(worker_until(1)[0].errors) == 1
    arrival = OrderArrival.objects.get(order_id="A-1")
    assert arrival.failures == 2
    assert (arrival.retry_at_ns - time.time_ns()) / 1e9 > 1.5 * live.RETRY_FIRST_S
    # Fixed: judged at its retry, its failures forgotten.
    monkeypatch.setattr(live, "judge_rows", judge)
    OrderArrival.objects.filter(order_id="A-1").update(retry_at_ns=0)
    assert worker_until(1)[0].errors == []
    assert OrderStatus.objects.get(order_id="A-1").status == COMPLETE
    arrival = OrderArrival.objects.get(order_id="A-1")
    assert (arrival.pending, arrival.failures, arrival.retry_at_ns) == (False, 0, None)


def test_a_source_that_is_down_fails_the_cycle_and_puts_no_order_back(db, monkeypatch):
    store_traces([*complete_order("A-1").traces, *complete_order("A-2", offset=60).traces])
    judge = live.judge_rows

    def down(*args):
        raise SourceError("the tracing backend did not answer")

    monkeypatch.setattr(live, "judge_rows", down)
    with pytest.raises(SourceError):
        live.run_cycle(get_source(), explorer_config())
    assert not OrderArrival.objects.filter(failures__gt=0).exists()
    assert arrivals.pending_count() == 2
    # Back: the next cycle judges both at once, no back-off to wait for.
    monkeypatch.setattr(live, "judge_rows", judge)
    assert worker_until(1)[0].recomputed == 2


def test_a_row_the_database_refuses_waits_and_the_others_are_stored(db, monkeypatch):
    store_traces([*complete_order("A-1").traces, *complete_order("A-2", offset=60).traces])
    save = OrderStatus.save_rows.__func__

    def refusing(cls, rows, *args, **kwargs):
        rows = list(rows)
        if any(row.order_id == "A-1" for row in rows):
            raise DataError("value too long")
        return save(cls, rows, *args, **kwargs)

    monkeypatch.setattr(OrderStatus, "save_rows", classmethod(refusing))
    result = worker_until(1)[0]
    assert list(OrderStatus.objects.values_list("order_id", flat=True)) == ["A-2"]
    assert result.errors == ["order 'A-1' could not be stored: DataError: value too long"]
    assert OrderArrival.objects.get(order_id="A-1").failures == 1


def test_retry_waits_are_bounded(db):
    arrivals.mark_changed(["A-1"], 1)
    for _ in range(40):
        live.retry_later({"A-1": "order 'A-1' failed"}, live.WorkerCycle())
    arrival = OrderArrival.objects.get(order_id="A-1")
    assert arrival.failures == 40
    assert (arrival.retry_at_ns - time.time_ns()) / 1e9 <= live.RETRY_MAX_S


def test_an_alert_that_cannot_be_described_opens_and_the_cycle_goes_on(mailbox, monkeypatch):
    lost = OrderBuilder("A-200002")
    lost.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    lost.produce("shop-api", 70)
    store_traces([*stuck_order().traces, *lost.traces, *complete_order("A-3", offset=DAY).traces])

    def broken(finding, situation):
        raise RuntimeError("injected")

    monkeypatch.setattr(alert_cycle, "describe_order", broken)
    result = worker_until(1, [after_live_cycle(get_source())])[0]
    assert set(Alert.objects.values_list("kind", "order_id")) == {
        ("stuck", "A-200001"),
        ("lost_message", "A-200002"),
    }
    assert any("'A-200002' could not be described: RuntimeError" in e for e in result.errors)
    assert len(mailbox) == 2


def test_a_delivery_that_fails_is_recorded_and_the_others_go_on(mailbox, monkeypatch, caplog):
    lost = OrderBuilder("A-200002")
    lost.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    lost.produce("shop-api", 70)
    store_traces([*stuck_order().traces, *lost.traces, *complete_order("A-3", offset=DAY).traces])
    send = delivery.send_emails

    def failing(alert, *args):
        if alert.order_id == "A-200001":
            raise RuntimeError("injected")
        return send(alert, *args)

    monkeypatch.setattr(delivery, "send_emails", failing)
    stats = live.WorkerStats()
    with caplog.at_level(logging.ERROR, "explorer.alerts"):
        result = worker_until(1, [after_live_cycle(get_source())], stats=stats)[0]
    assert [m.subject for m in mailbox] == ["[Alexandrite] Lost order: A-200002"]
    failed = Delivery.objects.get(ok=False)
    assert failed.alert.order_id == "A-200001" and "RuntimeError: injected" in failed.error
    assert len(result.errors) == 1 and "'A-200001'" in result.errors[0]
    assert "'A-200001'): e-mail failed: RuntimeError: injected" in caplog.text
    assert stats.errors == 1
    # Both alerts are open: the next cycle does not open or send them again.
    assert Alert.objects.open().count() == 2


def test_a_webhook_body_that_cannot_be_built_is_a_failed_delivery(db, monkeypatch, caplog):
    now = timezone.now()
    alerts = [
        Alert.objects.create(
            kind="stuck", subject=o, order_id=o, opened_at=now, last_seen_at=now, facts={}
        )
        for o in ("A-1", "A-2")
    ]
    build = delivery.payload

    def failing(alert, *args):
        if alert.order_id == "A-1":
            raise TypeError("injected")
        return build(alert, *args)

    monkeypatch.setattr(delivery, "payload", failing)
    hook = Webhook("chat", "http://127.0.0.1:9/hook", "s" * 32, frozenset({"stuck"}), retries=0)
    errors: list[str] = []
    with caplog.at_level(logging.ERROR, "explorer.alerts"):
        done = delivery.send_webhooks(alerts, {}, [hook], errors)
    by_order = {d.alert.order_id: d for d in done}
    assert by_order["A-1"].error == "webhook chat failed: TypeError: injected"
    assert not by_order["A-2"].ok  # posted, to a closed port
    pk = alerts[0].pk
    assert errors == [f"alert {pk} (stuck 'A-1'): webhook chat failed: TypeError: injected"]
    assert "'A-1'): webhook chat failed" in caplog.text


def test_a_rule_that_fails_leaves_the_others_judged(db, monkeypatch):
    store_traces([*stuck_order().traces, *complete_order("A-3", offset=DAY).traces])
    live.run_cycle(get_source(), explorer_config())

    def broken(rule, situation):
        raise KeyError("injected")

    monkeypatch.setitem(alert_cycle.RULES, "lost_message", broken)
    result = alert_cycle.run_cycle(send=False)
    assert [a.order_id for a in result.opened] == ["A-200001"]
    assert result.errors == ["rule lost_message: KeyError: 'injected'"]


# --- Cycles, steps, the heartbeat ------------------------------------------------------------


def test_a_cycle_or_a_step_that_fails_is_counted_and_the_next_cycle_runs(db, monkeypatch, caplog):
    store_traces(complete_order("A-1").traces)
    cycle = live.run_cycle
    calls = []

    def sometimes(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("injected")
        return cycle(*args, **kwargs)

    def broken_step(result):
        raise RuntimeError("step injected")

    monkeypatch.setattr(live, "run_cycle", sometimes)
    stats = live.WorkerStats()
    with caplog.at_level(logging.ERROR, "explorer.live"):
        results = worker_until(2, [broken_step], stats=stats)
    assert len(calls) == 3  # the first failed, two completed
    assert "the cycle failed" in caplog.text and "ZeroDivisionError" in caplog.text
    assert all(r.errors == ["step broken_step: RuntimeError('step injected')"] for r in results)
    assert stats.errors == 3 and stats.cycles == 2 and live.worker_errors() == 3
    assert OrderStatus.objects.get(order_id="A-1").status == COMPLETE


def test_each_completed_cycle_stores_the_heartbeat(db):
    before = time.time_ns()
    stats = live.WorkerStats()
    worker_until(1, stats=stats)
    done = live.last_cycle_done_ns()
    assert before <= done <= time.time_ns() and done == stats.last_cycle_ns
    assert LiveMark.objects.get(name="worker_cycle_done").value_ns == done
