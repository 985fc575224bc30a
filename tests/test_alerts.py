"""Alert rules and cycles: each rule against the simulation's truth (no alert missed, none for
a clean order), one alert per condition across cycles, resolution when the condition ends,
and `manage.py alerts --json`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from explorer.alerts.cycle import run_cycle
from explorer.alerts.models import Alert, AlertRule
from explorer.alerts.rules import Situation, slow_operations
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.now import latest_time_ns
from explorer.orders.models import OrderStatus
from explorer.simulation import FAULT_KINDS, SimulationConfig, simulate
from explorer.store.ingest import ingest, store_traces
from explorer.traces.model import Span, SpanKind, Trace
from tests.journey_support import DAY, HOUR, T0, OrderBuilder, S, complete_order, resource
from tests.trace_support import make_span

PRICE_OPERATION = "PriceCalculator.Calculate"  # the simulation's price calculation span


def refresh() -> None:
    call_command("orders", "--refresh", stdout=io.StringIO())


def only(*kinds: str) -> None:
    """Enable only these rules."""
    AlertRule.objects.exclude(kind__in=kinds).update(enabled=False)
    AlertRule.objects.filter(kind__in=kinds).update(enabled=True)


def open_subjects(kind: str) -> set[str]:
    return set(Alert.objects.open().filter(kind=kind).values_list("subject", flat=True))


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


# --- Against the simulation's truth -----------------------------------------------------------

RATES = {
    **dict.fromkeys(FAULT_KINDS, 0.0),
    "lost_message": 0.05,
    "slow_price": 0.06,
    "state_mismatch": 0.04,
    "disallowed_transition": 0.04,
}


@pytest.mark.slow
@pytest.mark.django_db
def test_every_rule_against_the_truth_file(tmp_path):
    truth_file = tmp_path / "truth.json"
    simulate(
        SimulationConfig(
            out=tmp_path / "traces",
            orders=200,
            days=7,
            until_days=7,
            seed=3,
            fault_rates=RATES,
            truth=truth_file,
        )
    )
    assert ingest([tmp_path / "traces"]).rejected == []
    refresh()
    truth = json.loads(truth_file.read_text())
    faults = {kind: set(orders) for kind, orders in truth["faults"].items()}
    result = run_cycle(send=False)
    assert result.problems == [] and result.resolved == []

    lost = open_subjects("lost_message")
    assert lost == faults["lost_message"] and len(lost) >= 5
    violating = faults["state_mismatch"] | faults["disallowed_transition"]
    assert open_subjects("state_violation") == violating and len(violating) >= 5
    # Stuck: what the snapshot judges stuck now, each where the truth says it stopped.
    stuck = open_subjects("stuck")
    now = result.now_ns
    assert stuck == set(OrderStatus.objects.stuck_at(now).values_list("order_id", flat=True))
    assert stuck, "the cut-off leaves forgotten orders stuck"
    for alert in Alert.objects.filter(kind="stuck"):
        assert alert.facts["state"] == truth["orders"][alert.order_id]["final_state"]
    # None for a clean order: no fault and run to its end.
    faulty = set().union(*faults.values())
    clean = {
        o
        for o, facts in truth["orders"].items()
        if o not in faulty and facts["final_state"] == "CLOSED"
    }
    assert len(clean) >= 10
    assert not clean & set(Alert.objects.values_list("order_id", flat=True))
    assert not (lost | stuck | open_subjects("state_violation")) - faulty - stuck

    # The lost message's text names the topic, who published it and who should consume it.
    alert = Alert.objects.get(kind="lost_message", order_id=sorted(lost)[0])
    message = alert.facts["messages"][0]
    assert message["destination"].startswith("orders.") and message["consumers"]
    assert message["producer"] not in message["consumers"]

    # A second cycle repeats nothing.
    again = run_cycle(send=False)
    assert again.opened == [] and again.resolved == []
    assert again.refreshed == Alert.objects.open().count()

    # Anomaly: at the end of each slow price calculation (a ten-minute window holding it),
    # the operation is atypically slow; at a clean order's price calculation it is not.
    rule = AlertRule(kind="anomaly", threshold=0.5, window_minutes=10, min_count=1)
    source, config = get_source(), explorer_config()

    def flagged(order_id: str) -> bool:
        journey = journey_for_order(source, order_id, container_of=config.container_of)
        price = next(s for s in journey.spans if s.name == PRICE_OPERATION)
        found = slow_operations(rule, Situation(source, config, price.end_ns))
        return f"mes_api {PRICE_OPERATION}" in {f.subject for f in found.found}

    first_day = min(s.first_seen_ns for s in OrderStatus.objects.all())

    def late(order_id: str) -> bool:  # a baseline of at least two days to judge by
        return OrderStatus.objects.get(order_id=order_id).first_seen_ns > first_day + 2 * DAY * S

    slow = sorted(o for o in faults["slow_price"] if late(o))[:4]
    assert len(slow) == 4 and all(flagged(o) for o in slow)
    assert not any(flagged(o) for o in sorted(o for o in clean if late(o))[:4])


# --- Deduplication and resolution across cycles ----------------------------------------------


def stuck_order() -> OrderBuilder:
    """An order approved at T0 that nobody started (MANUFACTURING_APPROVED: a 4-day limit)."""
    b = OrderBuilder("A-200001", "C-00777", "vip")
    b.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    b.state("shop-api", "PUT /api/orders/{id}/model", 30, "FILE_UPLOADED", "INITIATED")
    b.state("shop-api", "POST /api/orders/{id}/submit", 60, "SUBMITTED", "FILE_UPLOADED")
    b.state("mes-api", "POST /partner/v1/orders/{id}/submit", 120, "PRICE_CALCULATED", "SUBMITTED")
    b.state(
        "crm-api",
        "POST /api/orders/{id}/approve",
        HOUR,
        "MANUFACTURING_APPROVED",
        "PRICE_CALCULATED",
    )
    return b


def lost_order() -> tuple[OrderBuilder, Span]:
    b = OrderBuilder("A-200002", "C-00778", "retail")
    b.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    b.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
    producer = b.produce("shop-api", 120)
    b.state("shop-api", "POST /api/orders/{id}/submit", 120.5, "SUBMITTED", "FILE_UPLOADED")
    return b, producer


@pytest.mark.django_db
def test_one_alert_per_condition_until_it_ends_then_resolved():
    stuck = stuck_order()
    lost, producer = lost_order()
    clean = complete_order("A-200003", offset=HOUR)  # runs to day 5: the newest span
    store_traces([*stuck.traces, *lost.traces, *clean.traces])
    refresh()
    first = run_cycle(send=False)
    assert {(a.kind, a.subject) for a in first.opened} == {
        ("stuck", "A-200001"),
        ("lost_message", "A-200002"),
    }
    stuck_alert = Alert.objects.get(kind="stuck")
    assert stuck_alert.facts["state"] == "MANUFACTURING_APPROVED"
    assert stuck_alert.facts["next_setters"] == ["mes_api"]
    assert (stuck_alert.customer_id, stuck_alert.customer_type) == ("C-00777", "vip")

    second = run_cycle(send=False)
    assert second.opened == [] and second.resolved == [] and second.refreshed == 2
    assert Alert.objects.count() == 2
    assert Alert.objects.get(kind="stuck").last_seen_at > stuck_alert.last_seen_at

    # The stuck order moves on; the lost message is consumed after all.
    stuck.state(
        "mes-api",
        "POST /api/orders/{id}/start",
        5 * DAY,
        "MANUFACTURING_STARTED",
        "MANUFACTURING_APPROVED",
    )
    lost.consume("mes-api", 5 * DAY, producer, "PRICE_CALCULATED", "SUBMITTED")
    store_traces([stuck.traces[-1], lost.traces[-1]])
    refresh()
    third = run_cycle(send=False)
    assert third.opened == []
    assert {(a.kind, a.subject) for a in third.resolved} == {
        ("stuck", "A-200001"),
        ("lost_message", "A-200002"),
    }
    assert Alert.objects.open().count() == 0
    assert run_cycle(send=False).resolved == []


@pytest.mark.django_db
def test_a_condition_that_comes_back_opens_a_new_alert():
    stuck = stuck_order()
    clean = complete_order("A-200003", offset=HOUR)
    store_traces([*stuck.traces, *clean.traces])
    refresh()
    now = latest_time_ns(get_source())
    assert len(run_cycle(now_ns=now, send=False).opened) == 1
    # Judged an hour after the approval the order is not stuck: resolved (not deleted).
    assert len(run_cycle(now_ns=T0 + 2 * HOUR * S, send=False).resolved) == 1
    assert len(run_cycle(now_ns=now, send=False).opened) == 1
    assert Alert.objects.filter(kind="stuck").count() == 2
    assert Alert.objects.open().filter(kind="stuck").count() == 1


@pytest.mark.django_db
def test_disabled_rules_and_thresholds_from_the_settings():
    stuck = stuck_order()
    clean = complete_order("A-200003", offset=2 * DAY)
    store_traces([*stuck.traces, *clean.traces])
    refresh()
    AlertRule.objects.filter(kind="stuck").update(enabled=False)
    assert run_cycle(send=False).opened == []
    # Waiting 6 days against a 4-day limit: not twice the limit, but over 1.2 times.
    AlertRule.objects.filter(kind="stuck").update(enabled=True, threshold=2.0)
    assert run_cycle(send=False).opened == []
    AlertRule.objects.filter(kind="stuck").update(threshold=1.2)
    assert [a.subject for a in run_cycle(send=False).opened] == ["A-200001"]


def server_trace(
    n: int, at_s: float, duration_s: float, endpoint: str = "POST /api/orders/{id}/approve"
) -> Trace:
    start = T0 + int(at_s * S)
    span = make_span(
        f"sla-{n}-s",
        trace_id=f"sla-{n}",
        name=endpoint,
        kind=SpanKind.SERVER,
        start_ns=start,
        end_ns=start + int(duration_s * S),
        resource=resource("crm-api"),
    )
    return Trace(span.trace_id, [span])


@pytest.mark.django_db
def test_sla_breach_opens_below_the_target_and_resolves_when_compliance_recovers():
    only("sla_breach")
    AlertRule.objects.filter(kind="sla_breach").update(
        window_minutes=60, min_count=10, threshold=0.9
    )
    # 20 approvals within a minute each in the first hour, 6 of them over the 800 ms limit.
    store_traces([server_trace(n, n * 60, 2.0 if n % 3 == 0 else 0.1) for n in range(20)])
    first = run_cycle(send=False)
    assert [a.subject for a in first.opened] == ["crm_api POST /api/orders/{id}/approve"]
    alert = first.opened[0]
    assert (alert.container, alert.operation) == ("crm_api", "POST /api/orders/{id}/approve")
    assert alert.facts["requests"] == 20 and alert.facts["within"] == 13
    assert alert.facts["limit_ms"] == 800
    # An hour later: 5 fast requests are too few to judge, the alert stays open.
    store_traces([server_trace(100 + n, 2 * HOUR + n * 60, 0.1) for n in range(5)])
    assert run_cycle(send=False).resolved == []
    # Then 20 fast ones: compliance recovers, resolved.
    store_traces([server_trace(200 + n, 2 * HOUR + 600 + n * 60, 0.1) for n in range(20)])
    assert [a.pk for a in run_cycle(send=False).resolved] == [alert.pk]


@pytest.mark.django_db
def test_nothing_to_judge_without_spans():
    result = run_cycle(send=False)
    assert result.now_ns is None and result.opened == []


# --- The command ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_alerts_json_lists_every_alert_with_its_summary():
    stuck = stuck_order()
    clean = complete_order("A-200003", offset=HOUR)
    store_traces([*stuck.traces, *clean.traces])
    refresh()
    err = io.StringIO()
    call_command("alerts", "--evaluate", "--no-delivery", stdout=io.StringIO(), stderr=err)
    assert "1 opened" in err.getvalue()
    out = io.StringIO()
    call_command("alerts", "--json", stdout=out)
    alerts = json.loads(out.getvalue())["alerts"]
    assert len(alerts) == 1
    row = alerts[0]
    assert set(row) == {
        "kind",
        "order_id",
        "opened_at",
        "resolved_at",
        "acknowledged_by",
        "summary",
    }
    assert row["kind"] == "stuck" and row["order_id"] == "A-200001"
    assert row["resolved_at"] is None and row["acknowledged_by"] is None
    assert row["opened_at"].endswith("Z")
    assert "MANUFACTURING_APPROVED" in row["summary"] and "MES API" in row["summary"]
    assert "mes_api" not in row["summary"]  # container names from the model, never ids
    out = io.StringIO()
    call_command("alerts", "--json", "--kind", "lost_message", stdout=out)
    assert json.loads(out.getvalue()) == {"alerts": []}


@pytest.mark.django_db
def test_alerts_command_refuses_now_without_evaluate():
    with pytest.raises(CommandError, match="--evaluate"):
        call_command("alerts", "--now", "2025-03-01T00:00:00Z", stdout=io.StringIO())
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("alerts", "--evaluate", "--now", "yesterday", stdout=io.StringIO())


# --- watch: the live worker, then the rules ---------------------------------------------------


@pytest.mark.django_db
def test_watch_once_recomputes_changed_orders_then_evaluates_and_delivers(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    AlertRule.objects.update(recipient_roles="", recipient_emails="oncall@alexandrite.example")
    from django.core import mail

    stuck = stuck_order()
    lost, producer = lost_order()
    store_traces([*stuck.traces, *lost.traces, *complete_order("A-200003", offset=HOUR).traces])
    out = io.StringIO()
    call_command("watch", "--once", stdout=out)  # no `orders --refresh`: the worker computes
    assert "2 opened" in out.getvalue()
    assert open_subjects("stuck") == {"A-200001"} and open_subjects("lost_message") == {"A-200002"}
    assert sorted(m.subject for m in mail.outbox) == [
        "[Alexandrite] Lost order: A-200002",
        "[Alexandrite] Stuck order: A-200001",
    ]
    # The lost message is consumed: the next watch cycle resolves it, and says so by e-mail.
    lost.consume("mes-api", 5 * DAY, producer, "PRICE_CALCULATED", "SUBMITTED")
    store_traces([lost.traces[-1]])
    out = io.StringIO()
    call_command("watch", "--once", stdout=out)
    assert "1 resolved" in out.getvalue()
    assert mail.outbox[-1].subject == "[Alexandrite] Resolved: Lost order: A-200002"
    assert open_subjects("lost_message") == set()


@pytest.mark.django_db
def test_the_live_step_skips_while_nothing_moves():
    from explorer.alerts.cycle import BUSY_SECONDS, IDLE_SECONDS, after_live_cycle
    from explorer.orders.live import WorkerCycle

    store_traces([*stuck_order().traces, *complete_order("A-200003", offset=HOUR).traces])
    refresh()
    now = latest_time_ns(get_source())
    clock = [0.0]
    step = after_live_cycle(clock=lambda: clock[0])
    assert step(WorkerCycle(now_ns=None)) is None
    assert len(step(WorkerCycle(now_ns=now)).opened) == 1
    assert step(WorkerCycle(now_ns=now)) is None  # nothing moved
    # Orders moved, but the rules ran less than BUSY_SECONDS ago: once that has passed.
    assert step(WorkerCycle(now_ns=now, recomputed=1)) is None
    clock[0] += BUSY_SECONDS
    assert step(WorkerCycle(now_ns=now, recomputed=1)).refreshed == 1
    clock[0] += IDLE_SECONDS + 1
    assert step(WorkerCycle(now_ns=now)).refreshed == 1
