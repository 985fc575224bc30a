"""/metrics for Prometheus (explorer/web/metrics.py): a scrape parsed by prometheus_client's own
OpenMetrics parser agrees with `orders --json`, names no order or customer, answers only the
allowed networks with the token, and the Grafana dashboard in docs/ asks only for metrics a
scrape has."""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from accounts.models import AuditEntry
from explorer.alerts.models import Alert
from explorer.caching import reset_caches
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.orders.live import run_worker
from explorer.orders.models import LiveMark, OrderStatus
from explorer.receiver.config import load
from explorer.receiver.service import Receiver, Request
from explorer.receiver.tally import RECEIVER_MARKS, Tally
from explorer.store.ingest import store_traces
from explorer.web.metrics_figures import MAX_CUSTOMER_TYPES, NONE, OTHER
from tests.journey_support import HOUR, OrderBuilder, complete_order
from tests.trace_support import otlp_json

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token"  # noqa: S105 - a test token
DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"


@pytest.fixture
def open_metrics(settings):
    settings.EXPLORER_METRICS_TOKEN = TOKEN
    settings.EXPLORER_METRICS_NETWORKS = ["127.0.0.0/8", "::1/128"]


# The series a family of each type gives Prometheus.
SERIES = {
    "gauge": ("",),
    "counter": ("_total",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
}


def scrape(client) -> dict:
    """{series name: [(labels, value), ...]} of a scrape, parsed as Prometheus parses it:
    every series its families declare, with the samples found (none for a family without
    any)."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for suffix in SERIES[family.type]:
            samples[family.name + suffix] = []
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def by(samples: list, *names: str) -> Counter:
    found: Counter = Counter()
    for labels, value in samples:
        found[tuple(labels[n] for n in names)] += value
    return found


# --- What a scrape says -----------------------------------------------------------------------


@pytest.fixture
def simulated(simulation):
    run = simulation(orders=40, days=3, seed=3)
    assert store_traces(run.traces()).rejected == []
    call_command("orders", "--refresh", stdout=io.StringIO())
    return run


def test_order_counts_equal_orders_json_and_labels_are_bounded(client, open_metrics, simulated):
    out = io.StringIO()
    call_command("orders", "--json", stdout=out)
    rows = orjson.loads(out.getvalue())["orders"]
    samples = scrape(client)
    expected = Counter((r["status"], r["customer_type"] or NONE) for r in rows)
    assert by(samples["explorer_orders"], "status", "customer_type") == expected
    stuck = Counter((r["state"],) for r in rows if r["status"] == "stuck")
    assert by(samples["explorer_orders_stuck"], "state") == stuck
    lost = Counter((r["state"],) for r in rows if r["status"] == "lost")
    assert by(samples["explorer_orders_lost"], "state") == lost
    assert sum(v for _, v in samples["explorer_orders_anomalous"]) == sum(
        r["anomalous"] for r in rows
    )
    # Step figures: every finished dwell of the snapshot in its state's histogram.
    dwells = Counter(
        (state,)
        for d in OrderStatus.objects.values_list("finished_dwells", flat=True)
        for state, _ in d
    )
    assert by(samples["explorer_order_step_dwell_seconds_gcount"], "state") == dwells
    assert sum(dwells.values()) > len(rows)
    # No label value is an order or a customer id; states and types are the configured ones.
    ids = {r["order_id"] for r in rows} | {r["customer_id"] for r in rows}
    values = {v for s in samples.values() for labels, _ in s for v in labels.values()}
    assert not values & ids
    config = explorer_config()
    for name in ("explorer_orders_stuck", "explorer_order_step_sla_breaches"):
        assert {labels["state"] for labels, _ in samples[name]} <= {*config.graph.names, OTHER}


def test_step_breaches_are_finished_dwells_over_the_limit_and_stuck_orders(
    client, open_metrics, settings
):
    # 3 h in SUBMITTED (its limit is 2 h), then on; A-2: still in SUBMITTED 4 h later.
    late, waiting = OrderBuilder("A-1", "C-1", "retail"), OrderBuilder("A-2", "C-2", "retail")
    for order in (late, waiting):
        order.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
        order.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
        order.state("shop-api", "POST /api/orders/{id}/submit", 120, "SUBMITTED", "FILE_UPLOADED")
    late.state("mes-api", "price", 120 + 3 * HOUR, "PRICE_CALCULATED", "SUBMITTED")
    late.state("crm-api", "approve", 4 * HOUR, "MANUFACTURING_APPROVED", "PRICE_CALCULATED")
    assert store_traces([*late.traces, *waiting.traces]).rejected == []
    call_command("orders", "--refresh", stdout=io.StringIO())
    samples = scrape(client)
    breaches = by(samples["explorer_order_step_sla_breaches"], "state")
    assert breaches["SUBMITTED",] == 2, breaches
    assert by(samples["explorer_order_step_limit_seconds"], "state")["SUBMITTED",] == 7200
    bucket = {
        labels["le"]: value
        for labels, value in samples["explorer_order_step_dwell_seconds_bucket"]
        if labels["state"] == "SUBMITTED"
    }
    assert bucket["7200.0"] == 0 and bucket["14400.0"] == 1 and bucket["+Inf"] == 1


def test_customer_types_past_the_most_frequent_are_other(client, open_metrics):
    """A customer type is the one label value from traces: a flood of them (or ids written as
    types) is cut to MAX_CUSTOMER_TYPES values, the others counted as other."""
    common = {"status": "in_progress", "as_of_ns": 1, "computed_at": "2025-01-01T00:00Z"}
    rows = [
        OrderStatus(order_id=f"A-{n}", customer_type=f"type-{n % 50:02}", **common)
        for n in range(200)
    ] + [OrderStatus(order_id="A-x", customer_type="", **common)]
    OrderStatus.objects.bulk_create(rows)
    samples = scrape(client)
    types = by(samples["explorer_orders"], "customer_type")
    assert len(types) == MAX_CUSTOMER_TYPES + 2  # the named ones, other, none
    assert types[OTHER,] == 200 - 4 * MAX_CUSTOMER_TYPES and types[NONE,] == 1
    assert sum(types.values()) == 201


# --- The receiver's and the live worker's health ---------------------------------------------


def test_receiver_and_worker_health_change_when_spans_arrive(client, open_metrics, settings):
    settings.EXPLORER_RECEIVER_TOKENS = json.dumps({"shop": "shop-token"})
    settings.EXPLORER_RECEIVER_WRITERS = 0  # in this process, through the receiver's own code
    before = scrape(client)
    assert before["explorer_receiver_spans_accepted_total"] == [({}, 0.0)]
    assert before["explorer_live_cycles_total"] == [({}, 0.0)]
    assert before["explorer_live_last_cycle_timestamp_seconds"] == []
    receiver = Receiver(load(), sqlite=True)
    traces = complete_order("A-7", offset=0).traces
    body = orjson.dumps(otlp_json(traces))
    for token in ("shop-token", "wrong"):
        receiver.export(
            Request(
                lambda: body, len(body), "application/json", None, f"Bearer {token}", "127.0.0.1"
            )
        )
    assert receiver.tally.flush()
    stop = threading.Event()
    run_worker(stop, 0, get_source(), explorer_config(), after_cycle=[lambda _: stop.set()])
    reset_caches()  # the scrape kept for CACHE_SECONDS
    after = scrape(client)
    spans = sum(len(t.spans) for t in traces)
    assert after["explorer_receiver_spans_accepted_total"] == [({}, float(spans))]
    codes = {labels["code"]: v for labels, v in after["explorer_receiver_requests_total"]}
    assert codes["200"] == 1 and codes["401"] == 1 and codes["other"] == 0
    assert after["explorer_receiver_last_request_timestamp_seconds"][0][1] > 1.7e9
    assert after["explorer_live_cycles_total"] == [({}, 1.0)]
    assert after["explorer_live_cycle_seconds"][0][1] > 0
    assert after["explorer_live_last_cycle_timestamp_seconds"][0][1] > 1.7e9
    assert by(after["explorer_orders"], "status")["complete",] == 1


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "authorization", "status"),
    [
        ("127.0.0.1", f"Bearer {TOKEN}", 200),
        ("10.1.2.3", f"Bearer {TOKEN}", 403),  # inside the intranet, outside the metrics' networks
        ("8.8.8.8", f"Bearer {TOKEN}", 403),  # outside the intranet
        ("127.0.0.1", None, 401),
        ("127.0.0.1", "Bearer wrong-token", 401),
        ("127.0.0.1", f"Basic {TOKEN}", 401),
        ("127.0.0.1", f"Bearer {TOKEN}x", 401),
    ],
)
def test_access_needs_the_network_and_the_token(
    client, open_metrics, remote, authorization, status
):
    headers = {"REMOTE_ADDR": remote}
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    response = client.get("/metrics", **headers)
    assert response.status_code == status  # never a redirect to the login page
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert not AuditEntry.objects.exists()  # scrapes are not audited


def test_without_a_token_set_metrics_are_off(client, settings):
    settings.EXPLORER_METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403 and b"EXPLORER_METRICS_TOKEN" in response.content


def test_a_bad_network_setting_refuses_and_names_it(client, open_metrics, settings):
    settings.EXPLORER_METRICS_NETWORKS = ["10.0.0.0/33"]
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 403 and b"EXPLORER_METRICS_NETWORKS" in response.content


def test_only_get_and_head(client, open_metrics):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    assert client.head("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


# --- The Grafana dashboard --------------------------------------------------------------------

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "le", "inf", "nan",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: its identifiers less functions (followed
    by "("), keywords, label matchers ({...}), grouping labels (by (...)) and ranges."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        rest = expr[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def test_metric_names_of_promql():
    expr = 'histogram_quantile(0.95, sum by (le, state) (x_bucket{state=~"$state"})) / y[5m]'
    assert metric_names(expr) == {"x_bucket", "y"}
    assert metric_names("time() - z_seconds") == {"z_seconds"}


def dashboard_expressions(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        query = node.get("query")
        if isinstance(query, dict) and isinstance(query.get("query"), str):
            found.append(query["query"])
        return found + [e for v in node.values() for e in dashboard_expressions(v)]
    if isinstance(node, list):
        return [e for v in node for e in dashboard_expressions(v)]
    return []


def test_the_dashboard_reads_only_metrics_a_scrape_has(client, open_metrics):
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = set(scrape(client))
    expressions = dashboard_expressions(dashboard)
    assert len(expressions) >= 20
    used = set()
    for expr in expressions:
        variable = re.fullmatch(r"label_values\((\w+), *(\w+)\)", expr)
        names = {variable.group(1)} if variable else metric_names(expr)
        assert names, expr
        assert names <= exposed, (expr, names - exposed)
        used |= names
    # Every family is charted somewhere; the datasource is the dashboard's variable.
    families = {re.sub(r"_(bucket|gcount|gsum|total)$", "", n) for n in exposed}
    assert {re.sub(r"_(bucket|gcount|gsum|total)$", "", n) for n in used} >= families - {
        "explorer_orders_now_timestamp_seconds"
    }
    sources = {json.dumps(p["datasource"]) for p in dashboard["panels"] if "datasource" in p}
    assert sources == {json.dumps({"type": "prometheus", "uid": "${datasource}"})}


@pytest.mark.django_db(transaction=True)
def test_receiver_counts_wait_for_a_database_that_refuses_them():
    """The counts are kept in memory when the database does not take them (here its table is
    gone for a moment), and added at the next flush that works; stop() flushes the rest."""
    tally = Tally()
    tally.count(200, accepted=3, rejected=1)
    tally.count(429)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE journeys_livemark RENAME TO journeys_livemark_away")
    try:
        assert tally.flush() is False
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE journeys_livemark_away RENAME TO journeys_livemark")
    tally.start()
    tally.count(200, accepted=2)
    tally.stop()
    marks = dict(LiveMark.objects.values_list("name", "value_ns"))
    assert marks[RECEIVER_MARKS["accepted"]] == 5 and marks[RECEIVER_MARKS["rejected"]] == 1
    assert marks[RECEIVER_MARKS["200"]] == 2 and marks[RECEIVER_MARKS["429"]] == 1
    assert RECEIVER_MARKS["last"] in marks and RECEIVER_MARKS["other"] not in marks


def test_open_alerts_by_kind_and_element_of_the_model(client, open_metrics):
    now = timezone.now()
    for n, (kind, container, resolved) in enumerate(
        [
            ("sla_breach", "shop_api", None),
            ("sla_breach", "shop_api", None),
            ("sla_breach", "shop_api", now),  # resolved: not open
            ("anomaly", "C-00123 of a trace", None),  # not an element of the model
            ("stuck", "", None),
        ]
    ):
        Alert.objects.create(
            kind=kind,
            subject=f"subject {n}",
            container=container,
            opened_at=now,
            last_seen_at=now,
            resolved_at=resolved,
        )
    alerts = by(scrape(client)["explorer_alerts_open"], "kind", "container")
    assert alerts == {("sla_breach", "shop_api"): 2, ("anomaly", OTHER): 1, ("stuck", NONE): 1}
