"""The order-status snapshot (`orders --refresh`): the same statuses as report_orders, upserted,
stuck decided at read time; and the home page's lists of orders that need attention."""

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.bulk import TraceSet
from explorer.journeys.conformance import COMPLETE, IN_FLIGHT_NS, IN_PROGRESS, LOST, STUCK
from explorer.journeys.lookups import order_ids
from explorer.journeys.now import latest_time_ns
from explorer.journeys.reporting import report_orders
from explorer.orders.models import OrderStatus
from explorer.orders.status import status_at
from explorer.simulation import parse_fault_rates
from explorer.store.ingest import store_traces
from tests.journey_support import DAY, HOUR, OrderBuilder
from tests.scenario_support import scenario

S = 10**9
# 80 orders over 5 days, cut off at the end of day 9: stuck, lost, anomalous and in-progress
# orders (found by the explorer; the test reads the truth file only to check it).
SIMULATION = {
    "orders": 80,
    "days": 5,
    "until_days": 9,
    "seed": 5,
    "fault_rates": parse_fault_rates(["lost_message=0.04", "slow_price=0.06"]),
}


@pytest.fixture(scope="module")
def simulated(simulation):
    run = simulation(**SIMULATION)
    return run.traces(), run.truth


@pytest.fixture
def stored(db, simulated):
    store_traces(simulated[0])
    return simulated[1]


def refresh(*args) -> str:
    out = io.StringIO()
    call_command("orders", "--refresh", *args, stdout=out)
    return out.getvalue()


def reports():
    config = explorer_config()
    return report_orders(
        get_source(), config.graph, config.sla, config.container_of, names=config.names_by_language
    )


# --- The snapshot ---------------------------------------------------------------------------


def test_refresh_stores_what_report_orders_says(stored):
    output = refresh()
    expected = {r.journey.order_id: r for r in reports()}
    rows = {row.order_id: row for row in OrderStatus.objects.all()}
    assert set(rows) == set(expected) and len(rows) == SIMULATION["orders"]
    now = latest_time_ns(get_source())
    for order_id, report in expected.items():
        row = rows[order_id]
        assert row.as_of_ns == now
        assert (row.status, row.status_at(now)) == (report.status, report.status), order_id
        assert row.state == (report.conformance.state or "")
        assert row.violations == [v.as_dict() for v in report.conformance.violations]
        assert row.anomalous == report.anomalous
        assert (row.customer_id, row.customer_type) == (
            report.journey.customer_id,
            report.journey.customer_type,
        )
        assert row.channel == stored["orders"][order_id]["source"]
    statuses = {r.status for r in expected.values()}
    assert {STUCK, LOST, IN_PROGRESS, COMPLETE} <= statuses
    assert f"{SIMULATION['orders']} order statuses stored" in output
    # The truth agrees: the lost and the slow-priced orders are listed as such.
    assert set(stored["faults"]["lost_message"]) == {o for o, r in rows.items() if r.status == LOST}
    assert set(stored["faults"]["slow_price"]) <= {o for o, r in rows.items() if r.anomalous}


def test_bulk_read_assembles_the_journeys_the_source_gives(stored):
    source = get_source()
    bulk = TraceSet.read(source)
    assert bulk.order_ids == order_ids(source)
    for order_id in bulk.order_ids[:25]:
        one = journey_for_order(source, order_id)
        many = journey_for_order(bulk, order_id)
        assert many.trace_ids == one.trace_ids
        assert [(s.trace_id, s.span_id) for s in many.spans] == [
            (s.trace_id, s.span_id) for s in one.spans
        ]
        assert many.warnings == one.warnings


def test_refreshing_again_updates_rows_and_removes_orders_gone_from_the_source(stored):
    refresh()
    some = OrderStatus.objects.get(order_id="A-100001")
    right = (some.status, some.state)
    OrderStatus.objects.filter(pk=some.pk).update(status=LOST, state="NOWHERE")
    OrderStatus.objects.create(
        order_id="A-999999", status=STUCK, as_of_ns=0, computed_at=some.computed_at
    )
    refresh()
    assert OrderStatus.objects.count() == SIMULATION["orders"]
    again = OrderStatus.objects.get(order_id="A-100001")
    assert (again.status, again.state) == right and again.pk == some.pk
    assert again.computed_at > some.computed_at


def test_refresh_since_a_time_touches_only_orders_whose_spans_arrived_since(db, simulated):
    cut = 1_741_651_200 * S  # 2025-03-11: the last three days before the end
    store_traces([t for t in simulated[0] if t.start_ns < cut])
    refresh()
    OrderStatus.objects.update(state="OLD")
    arrival = time.time_ns()
    store_traces([t for t in simulated[0] if t.start_ns >= cut])
    output = refresh("--since", datetime.fromtimestamp(arrival / 1e9, UTC).isoformat())
    recent = set(order_ids(get_source(), (cut, None)))
    assert 0 < len(recent) < SIMULATION["orders"]
    assert f"{len(recent)} order statuses stored" in output
    assert (
        set(OrderStatus.objects.exclude(state="OLD").values_list("order_id", flat=True)) == recent
    )
    assert OrderStatus.objects.count() == SIMULATION["orders"]  # the others stay


def test_since_needs_refresh_and_an_empty_source_stores_nothing(db):
    with pytest.raises(CommandError, match="--since goes with --refresh"):
        call_command("orders", "--since", "2025-03-11T00:00:00Z", stdout=io.StringIO())
    assert "no orders in the source" in refresh()
    assert not OrderStatus.objects.exists()


# --- Stuck at read time ---------------------------------------------------------------------


def test_status_at_decides_stuck_and_lost_by_the_time_given():
    since, limit = 1_000 * S, 3_600 * S
    assert status_at(IN_PROGRESS, since, limit, None, since + limit) == IN_PROGRESS
    assert status_at(IN_PROGRESS, since, limit, None, since + limit + 1) == STUCK
    assert status_at(STUCK, since, limit, None, since + 10) == IN_PROGRESS
    assert status_at(IN_PROGRESS, since, None, None, since + 10**15) == IN_PROGRESS
    # A message in flight at the refresh is lost once it is IN_FLIGHT_NS old.
    sent = since + 60 * S
    assert status_at(IN_PROGRESS, since, limit, sent, sent + IN_FLIGHT_NS - 1) == IN_PROGRESS
    assert status_at(IN_PROGRESS, since, limit, sent, sent + IN_FLIGHT_NS) == LOST
    assert status_at(COMPLETE, since, limit, None, since + 10**15) == COMPLETE
    assert status_at(LOST, since, limit, None, since) == LOST


def later_order(order_id: str, at_s: int) -> OrderBuilder:
    order = OrderBuilder(order_id, "C-00778")
    order.state("shop-api", "POST /api/orders", at_s, "INITIATED", None)
    return order


def test_stuck_is_decided_when_the_snapshot_is_read(db, client, login_as):
    waiting = scenario("trace-with-partner-order-stuck-after-upload")  # A-100002, 3-day limit
    store_traces([*waiting, *later_order("A-100003", 60 * HOUR).traces])
    refresh()
    row = OrderStatus.objects.get(order_id="A-100002")
    assert row.status == IN_PROGRESS and row.state == "FILE_UPLOADED"
    assert row.state_limit_ns == 3 * DAY * S
    assert not OrderStatus.objects.stuck_at(row.as_of_ns).exists()
    # New traces move "now" four days on; nobody refreshes the snapshot.
    store_traces(later_order("A-100004", 4 * DAY).traces)
    now = latest_time_ns(get_source())
    assert list(OrderStatus.objects.stuck_at(now).values_list("order_id", flat=True)) == [
        "A-100002"
    ]
    assert (
        not OrderStatus.objects.with_status_at(IN_PROGRESS, now)
        .filter(order_id="A-100002")
        .exists()
    )
    login_as("analyst")
    body = client.get(reverse("web:home")).content.decode()
    stuck = body[body.index("order-list stuck") : body.index("order-list lost")]
    assert "/orders/A-100002/" in stuck and "A-100003" not in stuck
    assert "waiting 4 d, limit 3 d" in stuck


def test_an_in_flight_message_becomes_lost_without_a_refresh(db):
    order = OrderBuilder("A-100005", "C-00779")
    order.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    order.produce("crm-api", 60)  # never consumed
    store_traces(order.traces)
    refresh()
    row = OrderStatus.objects.get(order_id="A-100005")
    assert row.status == IN_PROGRESS and row.in_flight_since_ns is not None
    store_traces(later_order("A-100006", HOUR).traces)
    now = latest_time_ns(get_source())
    assert list(OrderStatus.objects.lost_at(now).values_list("order_id", flat=True)) == ["A-100005"]
    assert not OrderStatus.objects.stuck_at(now).filter(order_id="A-100005").exists()


# --- Pages ----------------------------------------------------------------------------------


def listed(body: str, kind: str) -> str:
    start = body.index(f"order-list {kind}")
    return body[start : body.index("</div>", start)]


def test_home_lists_stuck_lost_and_anomalous_orders_of_the_simulation(stored, client, login_as):
    refresh()
    now = latest_time_ns(get_source())
    expected = {
        kind: list(
            OrderStatus.objects.with_status_at(kind, now)
            .newest_first()
            .values_list("order_id", flat=True)
        )
        for kind in (STUCK, LOST)
    }
    expected["anomalous"] = list(
        OrderStatus.objects.anomalous().newest_first().values_list("order_id", flat=True)
    )
    assert all(expected.values())
    login_as("analyst")
    body = client.get(reverse("web:home")).content.decode()
    assert "Order statuses computed" in body
    for kind, orders in expected.items():
        section = listed(body, kind)
        assert f'<span class="count">{len(orders)}</span>' in section
        positions = [section.index(f"/orders/{o}/") for o in orders[:20]]
        assert positions == sorted(positions)  # newest first
    # The lost orders are the truth file's lost messages, of any age.
    assert set(expected[LOST]) == set(stored["faults"]["lost_message"])
    page = client.get(reverse("web:order_list"), {"status": "stuck"}).content.decode()
    assert all(f"/orders/{o}/" in page for o in expected[STUCK])
    assert f"{len(expected[STUCK])} order" in page


def test_home_links_to_all_when_a_list_is_long(stored, client, login_as):
    refresh()
    OrderStatus.objects.update(anomalous=True)
    login_as("analyst")
    body = client.get(reverse("web:home")).content.decode()
    section = listed(body, "anomalous")
    assert section.count("<li>") == 20
    assert 'href="/orders/?status=anomalous"' in section and "Show all 80" in section
    page = client.get(reverse("web:order_list"), {"status": "anomalous", "page": "2"})
    assert page.content.decode().count('<a class="order-id" href="/orders/A-') == 80  # the last


def test_the_home_page_reads_its_lists_again_from_a_fragment(stored, client, login_as):
    """The live worker keeps the snapshot current; the home page's script reads the lists
    again from /orders-now/, which answers them alone (and, as every page, not to be cached)."""
    refresh()
    login_as("analyst")
    home = client.get(reverse("web:home")).content.decode()
    assert f'data-fragment-url="{reverse("web:orders_now")}" data-refresh-s="10"' in home
    assert "This page reads the lists again every 10 seconds while it is shown." in home
    answer = client.get(reverse("web:orders_now"))
    fragment = answer.content.decode()
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    assert "<html" not in fragment and "Search traces" not in fragment
    for kind in (STUCK, LOST, "anomalous"):
        assert listed(fragment, kind) == listed(home, kind)
    OrderStatus.objects.update(anomalous=True)  # as the live worker would store them
    fragment = client.get(reverse("web:orders_now")).content.decode()
    assert "Show all 80" in listed(fragment, "anomalous")
    client.cookies["django_language"] = "ru"  # the page's language, as the script reads it
    russian = client.get(reverse("web:orders_now")).content.decode()
    assert "Застрявшие" in russian and "Показать все (80)" in listed(russian, "anomalous")


def test_the_lists_fragment_is_for_analysts_only(db, client, login_as):
    anonymous = client.get(reverse("web:orders_now"))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    login_as("support")
    assert client.get(reverse("web:orders_now")).status_code == 403


def test_the_home_page_can_keep_its_lists_as_loaded(stored, client, login_as, settings):
    settings.EXPLORER_LIVE_PAGE_SECONDS = 0
    refresh()
    login_as("analyst")
    home = client.get(reverse("web:home")).content.decode()
    assert "order-list stuck" in home
    assert "data-refresh-s" not in home and "reads the lists again" not in home


def test_pages_without_a_snapshot_say_what_to_do_in_staff_words(db, client, login_as):
    store_traces(scenario("trace-with-partner-order-stuck-after-upload"))
    login_as("analyst")
    for url in (reverse("web:home"), reverse("web:order_list")):
        body = client.get(url).content.decode()
        assert "No order statuses have been computed yet" in body
        assert "tell the explorer's administrator" in body
        assert "manage.py" not in body and "--refresh" not in body  # no developer command
    assert "order-list stuck" not in client.get(reverse("web:home")).content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"status": "<script>"},
        {"page": "-1"},
        {"page": "x" * 50},
        {"status": "lost", "page": "99999"},
    ],
)
def test_the_order_list_takes_any_parameters(stored, client, login_as, params):
    refresh()
    login_as("analyst")
    page = client.get(reverse("web:order_list"), params)
    assert page.status_code == 200 and "<script>" not in page.content.decode()


def test_the_order_list_is_for_analysts(db, client, login_as):
    login_as("support")
    assert client.get(reverse("web:order_list")).status_code == 403


def test_the_demo_refreshes_the_snapshot_after_ingest():
    demo = (Path(__file__).resolve().parent.parent / "scripts" / "demo.sh").read_text()
    assert "--until-days" in demo
    assert demo.index("manage.py ingest") < demo.index("manage.py orders --refresh")


def _anomalous_row(order_id: str, **fields) -> OrderStatus:
    return OrderStatus.objects.create(
        order_id=order_id,
        status=IN_PROGRESS,
        anomalous=True,
        last_seen_ns=1,
        as_of_ns=1,
        computed_at=datetime.now(UTC),
        **fields,
    )


@pytest.mark.parametrize(
    ("language", "summary"),
    [
        ("ru", "Интернет-магазин: POST, Shop API: UPDATE orders, MES API: POST /x и ещё 2"),
        ("en", "Internet Shop: POST, Shop API: UPDATE orders, MES API: POST /x and 2 more"),
    ],
)
def test_anomalous_operations_are_named_in_the_page_language(
    db, client, login_as, language, summary
):
    _anomalous_row(
        "A-1",
        anomalous_operations=[
            ["internet_shop", "POST"],
            ["shop_api", "UPDATE orders"],
            ["mes_api", "POST /x"],
        ],
        anomalous_operation_count=5,
    )
    _anomalous_row("A-2", anomaly_summary="CRM: stored before the operations were kept apart")
    login_as("analyst")
    client.cookies["django_language"] = language
    for page in (
        client.get(reverse("web:home")),
        client.get(reverse("web:order_list"), {"status": "anomalous"}),
    ):
        body = page.content.decode()
        assert summary in body
        assert "CRM: stored before the operations were kept apart" in body


def test_a_refresh_keeps_the_anomalous_operations_apart(stored):
    refresh()
    rows = OrderStatus.objects.anomalous()
    assert rows and all(row.anomalous_operations and not row.anomaly_summary for row in rows)
    for row in rows:
        assert row.anomalous_operation_count >= len(row.anomalous_operations)
        assert all(len(pair) == 2 for pair in row.anomalous_operations)
