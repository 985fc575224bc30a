"""Order journeys: assembly, state conformance, status, SLA, anomalies, story, comparison."""

from __future__ import annotations

import pytest

from explorer.journeys.anomalies import Baseline
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.checking import check_states
from explorer.journeys.journey import service_container
from explorer.journeys.lookups import customer_orders
from explorer.journeys.now import Now
from explorer.journeys.report import Context, iso, spans_in_window
from explorer.journeys.reporting import (
    atypical_services_now,
    report_in_context,
    report_order,
    report_orders,
)
from explorer.journeys.sla import breaches, compliance
from explorer.journeys.state_graph import parse_state_graph
from explorer.journeys.story import container_name, duration_words, tell
from explorer.journeys.typical import TypicalJourneys
from explorer.sources.base import SourceError
from explorer.sources.memory import MemorySource
from explorer.traces.model import Event, SpanKind, Trace
from tests.journey_support import (
    DAY,
    GRAPH,
    HOUR,
    PRICE,
    SLA,
    T0,
    OrderBuilder,
    S,
    complete_order,
    resource,
)
from tests.scenario_support import scenario
from tests.trace_support import make_span

BUSINESS = ["order.id", "customer.id", "customer.type"]


def source_of(*builders: OrderBuilder, extra: list[Trace] = ()) -> MemorySource:
    traces = [t for b in builders for t in b.traces] + list(extra)
    return MemorySource(traces, business_keys=BUSINESS)


def scenario_source(name: str) -> MemorySource:
    """A source holding the traces of scenario `name` (tests/scenarios/)."""
    return MemorySource(scenario(name), business_keys=BUSINESS)


def kinds(conformance) -> list[str]:
    return [v.kind for v in conformance.violations]


# --- assembly -------------------------------------------------------------------------------


def test_complete_order_is_assembled_in_time_order_with_customer_and_containers():
    order = complete_order("A-1", "b2b_partner", customer_id="C-7")
    journey = journey_for_order(source_of(order, complete_order("A-2")), "A-1")
    assert journey.customer_id == "C-7" and journey.customer_type == "b2b_partner"
    assert len(journey.traces) == len(order.traces)
    starts = [s.start_ns for s in journey.steps]
    assert starts == sorted(starts)
    assert journey.steps[0].container == "shop_api"
    assert journey.steps[0].operation == "POST /api/orders"
    assert journey.steps[0].states == ["INITIATED"]
    assert {s.container for s in journey.steps} == {"shop_api", "mes_api", "crm_api"}
    assert all(s.trace_id.startswith("A-1-") for s in journey.steps)
    assert journey.warnings == []
    conformance = check_states(journey, GRAPH, now_ns=T0 + 5 * DAY * S)
    assert [c.state for c in conformance.changes] == [s.name for s in GRAPH.states]
    assert conformance.violations == []
    assert conformance.status == "complete"


def test_consumer_trace_without_order_id_is_found_through_its_link():
    traces = scenario("trace-with-consumer-without-order")
    consumer = traces[-1]  # linked to the producer, no order.id of its own
    journey = journey_for_order(source_of(extra=traces), "A-1")
    assert consumer.trace_id in journey.trace_ids
    conformance = check_states(journey, GRAPH, now_ns=T0 + HOUR * S)
    assert conformance.unconsumed == []
    assert [c.state for c in conformance.changes][-1] == "PRICE_CALCULATED"


def test_producer_found_from_a_consumer_that_carries_the_order():
    order = OrderBuilder("A-1")
    producer_trace_builder = OrderBuilder("A-1")
    producer = producer_trace_builder.produce("shop-api", 10)
    # The producer trace lost its business attributes; only the consumer carries the order.
    for span in producer_trace_builder.traces[0].spans:
        span.attributes.pop("order.id")
    order.consume("mes-api", 11, producer, "PRICE_CALCULATED", "SUBMITTED")
    journey = journey_for_order(source_of(order, producer_trace_builder), "A-1")
    assert producer.trace_id in journey.trace_ids


def test_spans_of_other_orders_in_a_shared_trace_are_left_out():
    order = complete_order("A-1")
    batch = OrderBuilder("A-2").state("mes-api", "nightly batch", 30, "PACKAGING", None)
    # One trace of a batch job that handled both orders: a child span per order.
    shared = make_span(
        "mine",
        batch.spans[0].span_id,
        trace_id=batch.trace_id,
        name="repack",
        start_ns=T0,
        end_ns=T0 + S,
        resource=resource("mes-api"),
        attributes={"order.id": "A-1"},
    )
    batch.spans[0].attributes.clear()
    batch.spans[0].events.clear()
    other = make_span(
        "theirs",
        batch.spans[0].span_id,
        trace_id=batch.trace_id,
        name="repack",
        start_ns=T0,
        end_ns=T0 + S,
        resource=resource("mes-api"),
        attributes={"order.id": "A-2"},
        events=[Event("order.state_changed", T0, {"order.state.new": "SHIPPED"})],
    )
    batch.spans.extend([shared, other])
    journey = journey_for_order(source_of(order, extra=[batch]), "A-1")
    ids = {s.span_id for s in journey.spans}
    assert "mine" in ids and "theirs" not in ids
    assert check_states(journey, GRAPH, T0 + 5 * DAY * S).violations == []


def test_links_are_followed_within_a_bound():
    order = OrderBuilder("A-1")
    order.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    # A chain of consumer traces without the order, each linked to the one before.
    previous = order.produce("shop-api", 1)
    chain = OrderBuilder("A-1")
    for n in range(6):
        trace = chain.consume("mes-api", 2 + n, previous, "INITIATED", None, with_order=False)
        trace.spans[0].events.clear()
        trace.spans[0].kind = SpanKind.PRODUCER
        trace.spans[0].attributes["messaging.destination.name"] = "hop"
        previous = trace.spans[0]
    journey = journey_for_order(source_of(order, chain), "A-1", max_link_depth=2)
    assert len(journey.traces) == 2 + 2  # the two order traces and two hops of links


def test_customer_orders_lists_the_customer_orders_oldest_first():
    src = source_of(
        complete_order("A-2", offset=100, customer_id="C-1"),
        complete_order("A-1", offset=0, customer_id="C-1"),
        complete_order("A-3", customer_id="C-2"),
    )
    assert customer_orders(src, "C-1") == ["A-1", "A-2"]
    assert customer_orders(src, "C-404") == []


def test_attribute_values_lists_distinct_orders_in_a_window():
    src = source_of(complete_order("A-2", offset=10 * DAY), complete_order("A-1"))
    assert src.attribute_values("order.id") == ["A-1", "A-2"]
    assert src.attribute_values("order.id", start_ns=T0 + 9 * DAY * S) == ["A-2"]
    assert src.attribute_values("order.id", limit=1) == ["A-1"]


# --- conformance and status -----------------------------------------------------------------


def test_state_skipped_backwards_repeated_and_not_allowed_are_named_precisely():
    source = scenario_source("trace-with-skipped-backward-and-repeated-states")
    journey = journey_for_order(source, "A-1")
    result = check_states(journey, GRAPH, T0 + 500 * S)
    assert kinds(result) == ["state_skipped", "transition_backwards", "state_repeated"]
    skipped = result.violations[0]
    assert skipped.detail == (
        "SUBMITTED -> MANUFACTURING_APPROVED by crm_api skips PRICE_CALCULATED"
    )
    assert "PRICE_CALCULATED -> PRICE_CALCULATED" not in result.violations[2].detail


def test_a_jump_between_unconnected_states_is_not_allowed():
    # Two branches: NEW -> QUOTED -> DONE and NEW -> CANCELLED; QUOTED and CANCELLED are not
    # connected either way.
    graph = parse_state_graph(
        {
            "states": [
                {"name": "NEW", "owners": ["shop_api"], "initial": True, "limit": "1h"},
                {"name": "QUOTED", "owners": ["mes_api"], "limit": "1d"},
                {"name": "CANCELLED", "owners": ["shop_api"], "final": True},
                {"name": "DONE", "owners": ["crm_api"], "final": True},
            ],
            "transitions": [["NEW", "QUOTED"], ["QUOTED", "DONE"], ["NEW", "CANCELLED"]],
        }
    )
    cancelled = scenario_source("trace-with-cancelled-order")  # NEW, QUOTED, CANCELLED
    result = check_states(journey_for_order(cancelled, "A-1"), graph, T0 + 30 * S)
    assert kinds(result) == ["transition_not_allowed"]
    assert result.violations[0].detail == (
        "QUOTED -> CANCELLED by shop_api is not a transition of the state graph"
    )
    assert result.status == "complete"
    reopened = scenario_source("trace-with-reopened-order")  # CLOSED, then INITIATED again
    result = check_states(journey_for_order(reopened, "A-2"), GRAPH, T0 + 20 * S)
    assert kinds(result) == ["transition_backwards"]


def test_wrong_system_and_systems_disagree():
    # CRM API prices the order by hand, then approves it from SUBMITTED although it had set
    # PRICE_CALCULATED itself: two systems disagree.
    source = scenario_source("trace-with-state-set-by-the-wrong-system")
    result = check_states(journey_for_order(source, "A-1"), GRAPH, T0 + 400 * S)
    assert kinds(result) == ["wrong_system", "systems_disagree"]
    assert result.violations[0].detail == (
        "PRICE_CALCULATED was set by crm_api, but only mes_api may set it"
    )
    assert result.violations[1].detail == (
        "crm_api moved the order from SUBMITTED to "
        "MANUFACTURING_APPROVED, but crm_api had set "
        "PRICE_CALCULATED"
    )


def test_status_in_progress_then_stuck_after_the_state_limit():
    source = scenario_source("trace-with-stuck-order")  # SUBMITTED at +120 s; its limit is 2 h
    journey = journey_for_order(source, "A-1")
    assert check_states(journey, GRAPH, T0 + HOUR * S).status == "in_progress"
    stuck = check_states(journey, GRAPH, T0 + 3 * HOUR * S)
    assert stuck.status == "stuck"
    assert stuck.dwells[-1].over_limit and stuck.dwells[-1].current
    assert stuck.dwells[0].duration_ns == 60 * S and not stuck.dwells[0].current


def test_message_never_consumed_makes_the_order_lost_unless_complete():
    journey = journey_for_order(scenario_source("trace-with-lost-message"), "A-1")
    result = check_states(journey, GRAPH, T0 + 3 * DAY * S)
    assert result.status == "lost"
    assert [m.destination for m in result.unconsumed] == ["crm.orders"]
    story = tell(journey, result, [])
    assert "submitted through the partner API" in story["en"]
    assert "an order" not in story["en"] and "B2B partner" in story["en"]
    assert "The message to 'crm.orders' sent by MES API was never consumed" in story["en"]
    assert "waiting in PRICE_CALCULATED for 3 days, within its limit of 4 days" in story["en"]
    assert "так и не было получено" in story["ru"]
    assert "уже 3 дня" in story["ru"] and "лимита в 4 дня" in story["ru"]
    assert (
        "Через 2 секунды система MES API перевела его в состояние PRICE_CALCULATED" in story["ru"]
    )


def test_a_complete_order_is_not_lost_and_a_fresh_message_is_still_in_flight():
    done = complete_order("A-1")
    done.produce("crm-api", 4 * DAY + 10, destination="orders.closed")
    result = check_states(journey_for_order(source_of(done), "A-1"), GRAPH, T0 + 5 * DAY * S)
    assert result.status == "complete"
    assert [m.destination for m in result.unconsumed] == ["orders.closed"]
    journey = journey_for_order(scenario_source("trace-with-message-in-flight"), "A-2")
    assert check_states(journey, GRAPH, T0 + 160 * S).status == "in_progress"
    assert check_states(journey, GRAPH, T0 + 1000 * S).status == "lost"


def test_message_consumed_by_message_id_counts_as_consumed():
    # The consumer has no link to the producer, only the message id the producer sent.
    source = scenario_source("trace-with-message-consumed-by-id")
    result = check_states(journey_for_order(source, "A-1"), GRAPH, T0 + HOUR * S)
    assert result.unconsumed == [] and result.status == "in_progress"


# --- robustness -----------------------------------------------------------------------------


def test_unknown_order_gives_an_empty_journey_with_a_warning():
    journey = journey_for_order(source_of(complete_order("A-1")), "A-404")
    assert journey.traces == [] and journey.steps == []
    assert journey.warnings == ["no trace in the source mentions order A-404"]
    result = check_states(journey, GRAPH, T0)
    assert result.status == "in_progress" and result.state is None
    story = tell(journey, result, [])
    assert story["en"] == "Order A-404: no trace of it was found."


def test_missing_linked_trace_is_a_warning():
    traces = scenario("trace-with-missing-linked-trace")
    ghost = traces[0].spans[0].links[0]  # to a producer that is not in the source
    journey = journey_for_order(source_of(extra=traces), "A-1")
    assert len(journey.traces) == 1
    assert any(
        f"trace {ghost.trace_id} is referred to but not in the source" in w
        for w in journey.warnings
    )


def test_missing_first_traces_clock_skew_duplicates_and_unknown_states_give_warnings():
    # The first trace is PRICE_CALCULATED; the approval records its event twice and its
    # child starts 5 ms before it; then an unknown state ON_HOLD, and a poll without the order.
    source = scenario_source("trace-with-clock-skew-and-duplicate-event")
    journey = journey_for_order(source, "A-1")
    result = check_states(journey, GRAPH, T0 + 400 * S)
    warnings = journey.warnings + result.warnings
    assert any("clock skew" in w and "5.0 ms before its parent" in w for w in warnings)
    assert any(w.startswith("duplicate event: MANUFACTURING_APPROVED") for w in warnings)
    assert "unknown state ON_HOLD: not in the state graph" in warnings
    assert any("follows SUBMITTED, which no trace recorded" in w for w in warnings)
    assert kinds(result) == ["transition_not_allowed"]
    assert "ON_HOLD is not a state of the graph" in result.violations[0].detail
    assert result.status == "in_progress"  # no limit known for an unknown state
    assert tell(journey, result, [])["ru"]


def test_conflicting_customer_attributes_are_a_warning_not_an_error():
    order = complete_order("A-1")
    order.traces[-1].spans[0].attributes["customer.type"] = "vip"
    journey = journey_for_order(source_of(order), "A-1")
    assert journey.customer_type == "retail"
    assert "the order's spans disagree about the customer type: retail, vip" in journey.warnings


def test_events_without_a_new_state_are_ignored_with_a_warning():
    source = scenario_source("trace-with-event-without-state")  # a second, empty event
    result = check_states(journey_for_order(source, "A-1"), GRAPH, T0 + S)
    assert [c.state for c in result.changes] == ["INITIATED"]
    assert any("has no 'order.state.new'" in w for w in result.warnings)


def test_a_failing_source_becomes_a_warning():
    class Broken(MemorySource):
        def find_traces(self, *args, **kwargs):
            raise SourceError("store: the database did not answer")

    journey = journey_for_order(Broken([], business_keys=BUSINESS), "A-1")
    assert journey.warnings[0] == (
        "the trace source could not list the order's traces: store: the database did not answer"
    )


# --- SLA and anomalies ----------------------------------------------------------------------


def test_sla_breaches_and_compliance_per_container():
    slow = complete_order("A-1")
    slow.traces[0].spans[0].end_ns = slow.traces[0].spans[0].start_ns + 700 * 10**6  # > 500 ms
    journey = journey_for_order(source_of(slow), "A-1")
    pairs = [(journey.container(s), s) for s in journey.spans]
    found = breaches(SLA, pairs)
    assert [(b.container, b.endpoint, b.limit_ms) for b in found] == [
        ("shop_api", "POST /api/orders", 500)
    ]
    shares = {c.container: (c.requests, c.within) for c in compliance(SLA, pairs)}
    assert shares["shop_api"] == (4, 3)
    assert shares["crm_api"] == (2, 2)
    assert "mes_api" in shares and "internet_shop" not in shares


def test_baseline_flags_slow_price_calculation_with_its_score():
    orders = [complete_order(f"A-{n}", price_seconds=1.0 + (n % 5) * 0.05) for n in range(30)]
    slow = complete_order("A-slow", price_seconds=12.0)
    src = source_of(*orders, slow)
    journeys = [journey_for_order(src, f"A-{n}") for n in range(30)]
    baseline = Baseline.from_spans((j.container(s), s) for j in journeys for s in j.spans)
    stats = baseline.lookup("mes_api", PRICE)
    assert stats.count == 30 and stats.median_ns == pytest.approx(1.1e9, rel=0.01)
    journey = journey_for_order(src, "A-slow")
    found = baseline.anomalies((journey.container(s), s) for s in journey.spans)
    price = next(a for a in found if a.operation == PRICE)
    assert price.container == "mes_api" and price.score > 50
    # The consumer span that waits for the calculation is just as atypical.
    assert {a.operation for a in found} == {PRICE, "orders.submitted process"}
    assert all(not baseline.anomalies((j.container(s), s) for s in j.spans) for j in journeys)


def test_constant_durations_use_a_floor_instead_of_a_zero_mad():
    same = [complete_order(f"A-{n}") for n in range(25)]
    src = source_of(*same)
    baseline = Baseline.from_spans(
        (j.container(s), s)
        for n in range(25)
        for j in [journey_for_order(src, f"A-{n}")]
        for s in j.spans
    )
    stats = baseline.lookup("mes_api", PRICE)
    assert stats.mad_ns == 0
    assert stats.score(int(1.02e9)) < 1  # a 2 % wobble is not atypical
    assert stats.score(int(2e9)) > 5


def test_too_few_samples_judge_nothing():
    src = source_of(complete_order("A-1"), complete_order("A-2", price_seconds=100))
    pairs = [
        (j.container(s), s)
        for o in ("A-1", "A-2")
        for j in [journey_for_order(src, o)]
        for s in j.spans
    ]
    assert Baseline.from_spans(pairs).anomalies(pairs) == []


def test_atypical_services_now():
    orders = [complete_order(f"A-{n}") for n in range(30)]
    src = source_of(*orders)
    pairs = [
        (j.container(s), s)
        for n in range(30)
        for j in [journey_for_order(src, f"A-{n}")]
        for s in j.spans
    ]
    baseline = Baseline.from_spans(pairs)
    recent = [(c, s) for c, s in pairs if c == "mes_api" and s.name == PRICE][:10]
    for _, span in recent[:5]:
        span.end_ns = span.start_ns + 30 * S
    atypical = baseline.atypical_services(recent)
    assert [a.container for a in atypical] == ["mes_api"]
    assert atypical[0].reasons == ["5 of 10 recent spans atypically slow"]
    assert baseline.atypical_services(pairs[:0]) == []


# --- story and durations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "en", "ru"),
    [
        (350 * 10**6, "350 ms", "350 миллисекунд"),
        (1 * S, "1 s", "1 секунду"),
        (2 * S, "2 s", "2 секунды"),
        (int(1.5 * S), "1.5 s", "1,5 секунды"),
        (21 * S, "21 s", "21 секунду"),
        (5 * 60 * S, "5 min", "5 минут"),
        (22 * 60 * S, "22 min", "22 минуты"),
        (4 * HOUR * S, "4 h", "4 часа"),
        (11 * HOUR * S, "11 h", "11 часов"),
        (DAY * S, "1 day", "1 день"),
        (3 * DAY * S, "3 days", "3 дня"),
        (25 * DAY * S, "25 days", "25 дней"),
        (0, "0 ms", "0 миллисекунд"),
    ],
)
def test_durations_read_well_in_both_languages(ns, en, ru):
    assert duration_words(ns, "en") == en
    assert duration_words(ns, "ru") == ru


def test_container_names_fall_back_to_readable_ids():
    assert container_name("mes_api", {}) == "MES API"
    assert container_name("internet_shop", {}) == "Internet Shop"
    assert container_name("mes_api", {"mes_api": "Partner gateway"}) == "Partner gateway"


def test_story_of_a_stuck_shop_order_in_both_languages():
    journey = journey_for_order(scenario_source("trace-with-stuck-order"), "A-1")
    result = check_states(journey, GRAPH, T0 + 5 * HOUR * S)
    story = tell(journey, result, [])
    assert story["en"].startswith(
        "Order A-1 from a VIP customer (C-9), submitted through the "
        "Internet Shop. Shop API set it to INITIATED. 1 min later "
        "Shop API moved it to FILE_UPLOADED."
    )
    assert story["en"].endswith(
        "The order is stuck: the order has been waiting in SUBMITTED "
        "for 5 h, over its limit of 2 h."
    )
    assert story["ru"].startswith(
        "Заказ A-1 от VIP-клиента (C-9), оформлен через интернет-магазин."
    )
    assert "Через 1 минуту система Shop API перевела его в состояние FILE_UPLOADED." in story["ru"]
    assert story["ru"].endswith(
        "Заказ застрял: заказ ждёт в состоянии SUBMITTED уже 5 часов, дольше лимита в 2 часа."
    )


def test_story_tells_violations_errors_and_anomalies():
    orders = [complete_order(f"A-{n}") for n in range(25)]
    bad = complete_order("A-bad", price_seconds=20)
    bad.traces[5].spans[0].status_code = 2  # the approval failed
    src = source_of(*orders, bad)
    reports = report_orders(src, GRAPH, SLA)
    report = next(r for r in reports if r.journey.order_id == "A-bad")
    story = report.summary
    assert "'calculate price' in MES API took 20 s, 20 times the usual 1 s" in story["en"]
    assert "CRM API reported an error in 'POST /api/orders/{id}/approve'" in story["en"]
    assert "«calculate price» в системе MES API заняла 20 секунд, обычно 1 секунду" in story["ru"]
    assert story["en"].endswith("The order reached its final state CLOSED 4 days after it began.")
    assert "Заказ дошёл до конечного состояния CLOSED за 4 дня." in story["ru"]


# --- comparison with the typical journey ----------------------------------------------------


def test_comparison_finds_slow_missing_and_extra_stages():
    orders = [complete_order(f"A-{n}") for n in range(10)]
    odd = OrderBuilder("A-odd")
    odd.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    odd.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
    odd.state("shop-api", "POST /api/orders/{id}/submit", 120, "SUBMITTED", "FILE_UPLOADED")
    odd.state(
        "crm-api", "POST /api/orders/{id}/approve", 10 * HOUR, "MANUFACTURING_APPROVED", "SUBMITTED"
    )
    odd.state("mes-api", "audit", 11 * HOUR, "AUDITED", "MANUFACTURING_APPROVED")
    src = source_of(*orders, odd)
    journeys = {o: journey_for_order(src, o) for o in [f"A-{n}" for n in range(10)] + ["A-odd"]}
    now = T0 + 12 * HOUR * S
    pairs = [(j, check_states(j, GRAPH, now)) for j in journeys.values()]
    typical = TypicalJourneys.from_journeys(pairs)
    differences = typical.compare(*pairs[-1], GRAPH)
    found = {(d.kind, d.subject) for d in differences}
    assert ("missing", "PRICE_CALCULATED") in found
    assert ("slow", "SUBMITTED") in found  # about 10 h against a typical second
    slow = next(d.detail for d in differences if d.kind == "slow")
    assert slow.startswith("SUBMITTED took 10 h, ") and slow.endswith(
        "25,628 times the typical 1.4 s of retail orders"
    )
    assert ("extra", "AUDITED") in found and ("extra", "mes_api: audit") in found
    assert ("missing", "MANUFACTURING_STARTED") not in found  # it has not got that far
    assert typical.compare(*pairs[0], GRAPH) == []


def test_comparison_needs_enough_other_orders():
    src = source_of(complete_order("A-1"), complete_order("A-2"))
    pairs = [
        (j, check_states(j, GRAPH, T0))
        for j in (journey_for_order(src, "A-1"), journey_for_order(src, "A-2"))
    ]
    assert TypicalJourneys.from_journeys(pairs).compare(*pairs[0], GRAPH) == []


# --- reports ---------------------------------------------------------------------------------


def test_report_orders_and_report_order_agree_on_status_and_anomalies():
    orders = [complete_order(f"A-{n:02}", offset=n * 600) for n in range(25)]
    slow = complete_order("A-slow", offset=100, price_seconds=30)
    lost = OrderBuilder("A-lost")
    lost.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    lost.produce("shop-api", 1)
    src = source_of(*orders, slow, lost)
    reports = {r.journey.order_id: r for r in report_orders(src, GRAPH, SLA)}
    assert len(reports) == 27
    assert reports["A-slow"].anomalous and reports["A-slow"].status == "complete"
    assert reports["A-lost"].status == "lost" and not reports["A-lost"].anomalous
    assert not any(r.anomalous for k, r in reports.items() if k.startswith("A-0"))
    single = report_order(src, "A-slow", GRAPH, SLA)
    assert single.anomalous and single.anomalies[0].operation == PRICE
    data = single.as_dict()
    assert set(data) >= {
        "order_id",
        "customer_id",
        "customer_type",
        "status",
        "traces",
        "states",
        "violations",
        "steps",
        "anomalies",
        "summary",
    }
    assert data["states"][0] == {
        "state": "INITIATED",
        "at": "2025-02-19T21:21:40.100000Z",
        "container": "shop_api",
    }
    row = reports["A-lost"].as_row()
    assert row == {
        "order_id": "A-lost",
        "status": "lost",
        "state": "INITIATED",
        "customer_id": "C-00001",
        "customer_type": "retail",
        "violations": [],
        "anomalous": False,
    }


def test_analyse_uses_the_context_it_is_given():
    order = complete_order("A-1")
    journey = journey_for_order(source_of(order), "A-1")
    context = Context(GRAPH, None, Baseline(), now_ns=T0)
    report = report_in_context(journey, context)
    assert report.sla_breaches == [] and report.anomalies == [] and report.differences == []


def test_iso_times_are_utc_with_microseconds():
    assert iso(T0) == "2025-02-19T21:20:00Z"
    assert iso(T0 + 1_500) == "2025-02-19T21:20:00.000001Z"


def test_services_atypical_in_the_last_hour_against_the_week_before():
    # 30 orders a day apart, then the last hour: price calculations ten times slower.
    orders = [
        complete_order(f"A-{n:02}", offset=n * HOUR, price_seconds=1.0 + n % 3 * 0.1)
        for n in range(30)
    ]
    recent = [
        complete_order(f"A-late{n}", offset=30 * HOUR + n * 60, price_seconds=12.0)
        for n in range(6)
    ]
    src = source_of(*orders, *recent)
    now = T0 + (30 * HOUR + 10 * 60) * S
    atypical = atypical_services_now(src, service_container, Now(now))
    assert [a.container for a in atypical] == ["mes_api"]
    assert atypical[0].slow_fraction > 0.2
    calm = atypical_services_now(source_of(*orders), service_container, Now(now - HOUR * S))
    assert calm == []
    start = T0 + 30 * HOUR * S
    pairs = spans_in_window(src, service_container, (start, None))
    assert {s.trace_id.split("-t")[0] for _, s in pairs} >= {f"A-late{n}" for n in range(6)}
    assert min(s.start_ns for _, s in pairs) >= start
    assert len(spans_in_window(src, service_container, (start, None), max_traces=3)) < len(pairs)
