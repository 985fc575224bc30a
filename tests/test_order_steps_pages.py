"""The order-steps pages over hand-built orders: a slow step is an over-limit dwell of its
order, a rewritten row replaces its steps, retention and erasure remove them, old rows still
read, the pages read in English and Russian and escape what traces say."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.erasure.finding import find_customer
from explorer.erasure.forgetting import forget_customer
from explorer.orders import live
from explorer.orders.models import OrderStatus, OrderStep
from explorer.orders.retention import PruneReport, prune_statuses
from explorer.orders.retention_policy import RetentionPolicy
from explorer.orders.status import OrderStatusRow
from explorer.store.ingest import store_traces
from tests.journey_support import DAY, T0, OrderBuilder, S, complete_order


def refresh() -> None:
    call_command("orders", "--refresh", stdout=io.StringIO())


def _page(client, name: str, **params) -> str:
    response = client.get(reverse(name), params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def slow_order(db):
    """A-200001 waits 4 days in FILE_UPLOADED (limit 3 d); A-200002 goes through quickly."""
    slow = OrderBuilder("A-200001", "C-20001", "vip")
    slow.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    slow.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
    slow.state(
        "shop-api", "POST /api/orders/{id}/submit", 60 + 4 * DAY, "SUBMITTED", "FILE_UPLOADED"
    )
    store_traces([*slow.traces, *complete_order("A-200002", customer_id="C-20002").traces])
    refresh()


def test_a_slow_step_is_an_over_limit_dwell_of_its_order(slow_order, client, login_as):
    over = OrderStep.objects.get(over_limit=True)
    assert (over.order_id, over.state, over.next_state) == (
        "A-200001",
        "FILE_UPLOADED",
        "SUBMITTED",
    )
    assert over.duration_ns == 4 * DAY * S and over.limit_ns == 3 * DAY * S
    assert abs(over.entered_ns - (T0 + 60 * S)) < S and over.customer_type == "vip"
    assert over.elapsed_ns == (60 + 4 * DAY) * S  # from INITIATED to SUBMITTED
    assert OrderStep.objects.filter(order_id="A-200002").count() == 9  # ten states, nine left
    login_as("analyst")
    body = _page(client, "web:steps", window="90d")
    assert "FILE_UPLOADED" in body and "A 3D model uploaded or built in the editor." in body
    assert reverse("web:step_orders") in body and "over=1" in body
    listed = _page(client, "web:step_orders", state="FILE_UPLOADED", over="1")
    assert "/orders/A-200001/" in listed and "A-200002" not in listed
    # The charts show the state with dwells over its limit; each bar opens its bucket's orders.
    charts = body[body.index('id="step-charts"') :]
    assert "FILE_UPLOADED over time" in charts and 'id="step-over' in charts
    assert "state=FILE_UPLOADED&amp;over=1" in charts and "start=" in charts
    other = _page(client, "web:steps", window="90d", state="PACKAGING")
    assert "PACKAGING over time" in other
    # no order over PACKAGING's limit: a sentence says so instead of an empty chart
    assert 'id="step-over' not in other and 'id="step-left' in other
    assert "No order stayed in PACKAGING over its limit in this window." in other
    assert "over its limit in this window" not in charts
    only_vip = _page(client, "web:steps", window="90d", type="vip")
    assert "MANUFACTURING_STARTED" not in only_vip  # A-200002 is retail


def test_the_page_in_russian(slow_order, client, login_as):
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    text = _page(client, "web:steps", window="90d")
    assert "Шаги заказов" in text and "3D-модель загружена или создана в редакторе." in text
    assert "Сверх лимита" in text and "Order steps" not in text
    other = _page(client, "web:steps", window="90d", state="PACKAGING")
    assert "В этом интервале ни один заказ не пробыл в PACKAGING дольше лимита." in other


def test_a_rewritten_row_replaces_its_steps(slow_order):
    before = OrderStep.objects.count()
    refresh()
    assert OrderStep.objects.count() == before  # no double count
    row = OrderStatus.objects.get(order_id="A-200001")
    fewer = _row_of(row, steps=[["INITIATED", "FILE_UPLOADED", T0, T0 + 60 * S, None]])
    OrderStatus.save_rows([fewer], timezone.now())
    assert list(OrderStep.objects.filter(order_id="A-200001").values_list("state")) == [
        ("INITIATED",)
    ]
    # A late span moves the order on: the live path (save_rows of one row) adds its step.
    OrderStatus.save_rows(
        [_row_of(row, steps=[*fewer.steps, ["FILE_UPLOADED", "X", 1, 2, 5]])], timezone.now()
    )
    assert OrderStep.objects.filter(order_id="A-200001").count() == 2
    assert OrderStep.objects.count() == before


def test_the_live_worker_replaces_an_orders_steps_after_late_spans(db):
    early = OrderBuilder("A-200010", "C-20010")
    early.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    early.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
    store_traces(early.traces)
    refresh()
    assert list(OrderStep.objects.values_list("state", "next_state")) == [
        ("INITIATED", "FILE_UPLOADED")
    ]
    late = OrderBuilder("A-200010", "C-20010")
    late._counter = 10  # trace ids of their own
    late.state("shop-api", "POST /api/orders/{id}/submit", 5 * DAY, "SUBMITTED", "FILE_UPLOADED")
    store_traces(late.traces)
    result = live.run_cycle(get_source(), explorer_config())
    assert result.recomputed == 1
    steps = OrderStep.objects.order_by("entered_ns")
    assert list(steps.values_list("state", "over_limit")) == [
        ("INITIATED", False),
        ("FILE_UPLOADED", True),  # 5 days against a 3-day limit
    ]


def _row_of(row: OrderStatus, steps: list[list]) -> OrderStatusRow:
    fields = OrderStatusRow.__dataclass_fields__
    return OrderStatusRow(
        **{name: getattr(row, name) for name in fields if name != "steps"}, steps=steps
    )


def test_retention_removes_the_steps_with_their_order(slow_order):
    assert OrderStep.objects.filter(order_id="A-200001").exists()
    cut_after = OrderStatus.objects.get(order_id="A-200001").last_seen_ns + 1
    policy = RetentionPolicy(trace_days=1, problem_days=1, status_days=1)
    report = PruneReport()
    prune_statuses(policy, cut_after + DAY * S, report, dry_run=False)
    assert report.status_rows == 2
    assert not OrderStep.objects.exists()


def test_erasure_removes_the_customers_steps(slow_order):
    found = find_customer("C-20001")
    done = forget_customer(found, "asked to be forgotten", username="admin")
    assert done.removed["order steps"] == 2 and done.removed["order status rows"] == 1
    assert not OrderStep.objects.filter(order_id="A-200001").exists()
    assert OrderStep.objects.filter(order_id="A-200002").count() == 9


def test_old_rows_without_steps_still_read(db, client, login_as):
    OrderStatus.objects.create(
        order_id="A-1",
        status="complete",
        as_of_ns=T0,
        computed_at=timezone.now(),
        finished_dwells=[["INITIATED", 5 * S]],
    )
    OrderStatus.objects.create(  # in its first state: no step to expect
        order_id="A-2", status="in_progress", as_of_ns=T0, computed_at=timezone.now()
    )
    login_as("analyst")
    body = _page(client, "web:steps", window="90d")
    assert "1 order has no step figures yet" in body and "manage.py orders --refresh" in body
    store_traces(complete_order("A-1").traces)
    refresh()  # rebuilds every order's steps
    body = _page(client, "web:steps", window="90d")
    assert "no step figures yet" not in body and OrderStep.objects.count() == 9


def test_hostile_text_is_escaped(db, client, login_as):
    evil = OrderBuilder("A-<b>1</b>", "C-1", '<script>alert("t")</script>')
    evil.state("shop-api", "POST /api/orders", 0, "<img src=x onerror=alert(1)>", None)
    evil.state(
        "shop-api",
        "PUT /api/orders/{id}/model",
        60,
        "FILE_UPLOADED",
        "<img src=x onerror=alert(1)>",
    )
    store_traces(evil.traces)
    refresh()
    assert OrderStep.objects.count() == 1
    login_as("analyst")
    for body in (
        _page(client, "web:steps", window="90d"),
        _page(client, "web:steps", window="90d", type='<script>alert("t")</script>'),
        _page(client, "web:step_orders", state="<img src=x onerror=alert(1)>"),
    ):
        assert "<script>alert" not in body and "<img src=x" not in body


@pytest.mark.parametrize(
    "params",
    [
        {"start": "x", "end": "-5"},
        {"page": "99"},
        {"state": "\x00" * 300, "over": "yes"},
        {"end": "9" * 40},
    ],
)
def test_the_order_list_takes_any_parameters(db, client, login_as, params):
    login_as("analyst")
    assert client.get(reverse("web:step_orders"), params).status_code == 200


def test_the_step_pages_are_for_analysts(db, client, login_as):
    login_as("support")
    assert client.get(reverse("web:steps")).status_code == 403
    assert client.get(reverse("web:step_orders")).status_code == 403
