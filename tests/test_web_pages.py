"""The web explorer's pages with hand-made traces in the embedded store, per role."""

import io
import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEntry
from accounts.testing import pseudonym_of
from explorer.store.ingest import store_traces
from tests.journey_support import DAY, OrderBuilder, complete_order
from tests.scenario_support import scenario
from tests.web_support import tree_trace

TRACE_ID = "ab" * 16


@pytest.fixture
def stored(db):
    done = complete_order("A-100001", customer_id="C-00123")
    stuck = scenario("trace-with-partner-order-stuck-after-upload")  # A-100002
    late = OrderBuilder("A-100003", "C-00778")  # only there to move "now" days later
    late.state("shop-api", "POST /api/orders", 5 * DAY, "INITIATED", None)
    store_traces([*done.traces, *stuck, *late.traces, tree_trace(TRACE_ID)])
    call_command("orders", "--refresh", stdout=io.StringIO())  # the home page's snapshot


def text(response) -> str:
    return response.content.decode()


# --- Trace page -----------------------------------------------------------------------------


def test_trace_page_shows_overview_window_stats_and_diagram(client, login_as, stored):
    login_as("onboarding")
    page = client.get(reverse("web:trace", args=[TRACE_ID]))
    assert page.status_code == 200
    body = text(page)
    assert "121" in body  # spans
    assert body.count('class="span-row') == 121
    assert "is-critical" in body and "is-error" in body
    assert 'aria-expanded="true"' in body
    assert "Self time by operation" in body and "step 4.2" in body
    assert 'id="el-shop_api"' in body  # the C4 diagram, inline
    assert AuditEntry.objects.filter(object_type="trace", object_id=TRACE_ID).exists()
    # Redaction: onboarding never sees the customer id; nobody sees the token.
    assert "C-00123" not in body


def test_span_details_are_redacted_by_role(client, login_as, stored):
    login_as("onboarding")
    url = reverse("web:span", args=[TRACE_ID, "s0"])
    body = text(client.get(url))
    assert "customer.id" in body and "C-00123" not in body and pseudonym_of("C-00123") in body
    assert "abc.def" not in body
    assert "order.state_changed" in body and "host.name" in body
    client.logout()
    login_as("support", username="support-1")
    body = text(client.get(url + "?partial=1"))
    assert "C-00123" in body and "abc.def" not in body
    assert "<html" not in body  # the fragment for the details panel


def test_rows_endpoint_windows_and_collapse(client, login_as, stored):
    login_as("analyst")
    url = reverse("web:trace_rows", args=[TRACE_ID])
    data = client.get(url, {"offset": 10, "limit": 5}).json()
    assert data["offset"] == 10 and data["next_offset"] == 15 and data["total"] == 121
    assert data["rows"] == [10, 11, 12, 13, 14]
    assert data["html"].count("<tr") == 5
    # Row 1 is the first child of the root: its subtree is 1 + 3 + 9 + 27 = 40 rows.
    data = client.get(url, {"offset": 0, "limit": 3, "collapsed": "1"}).json()
    assert data["rows"] == [0, 1, 41] and data["total"] == 121 - 39
    assert 'aria-expanded="false"' in data["html"]
    html = client.get(url, {"offset": 0, "limit": 2, "format": "html"})
    assert text(html).count("<tr") == 2


def test_search_within_the_trace(client, login_as, stored):
    login_as("onboarding")
    body = text(client.get(reverse("web:trace", args=[TRACE_ID]), {"q": "step 3.1"}))
    assert body.count("is-match") >= 9
    # A masked value cannot be found by its hidden text.
    body = text(client.get(reverse("web:trace", args=[TRACE_ID]), {"q": "C-00123"}))
    assert "No span matches." in body


def test_huge_trace_first_page_holds_only_a_window(client, login_as, db):
    store_traces([tree_trace("cd" * 16, fanout=10, depth=4)])  # 11,111 spans
    login_as("analyst")
    body = text(client.get(reverse("web:trace", args=["cd" * 16])))
    assert body.count('class="span-row') == 200
    assert "data-fragment-url" in body  # statistics and diagram come afterwards
    assert 'id="more-rows"' in body
    stats = client.get(reverse("web:trace_stats", args=["cd" * 16]), {"partial": "1"})
    assert "step 4.9" in text(stats)
    diagram = client.get(reverse("web:trace_diagram", args=["cd" * 16]), {"partial": "1"})
    assert "<svg" in text(diagram)


def test_a_trace_over_the_automatic_diagram_size_is_drawn_on_request_only(
    client, login_as, db, monkeypatch
):
    """Its page never fetches the diagram by itself (a million spans keep a worker busy for
    minutes after every view); a link draws it."""
    from explorer.web import traces

    monkeypatch.setattr(traces, "AUTO_DIAGRAM_SPANS", 11_110)
    store_traces([tree_trace("cd" * 16, fanout=10, depth=4)])  # 11,111 spans
    login_as("analyst")
    body = text(client.get(reverse("web:trace", args=["cd" * 16])))
    diagram_url = reverse("web:trace_diagram", args=["cd" * 16])
    fetched = re.findall(r'data-fragment-url="([^"]+)"', body)
    assert fetched == [reverse("web:trace_stats", args=["cd" * 16]) + "?partial=1"]
    assert f'href="{diagram_url}"' in body and "drawn on request only" in body
    assert "<svg" in text(client.get(diagram_url))  # drawn when asked


def test_unknown_trace_is_a_clear_404(client, login_as, stored):
    login_as("support")
    page = client.get(reverse("web:trace", args=["00" * 16]))
    assert page.status_code == 404
    assert "not in the embedded store" in text(page)


# --- Search ---------------------------------------------------------------------------------


def test_search_box_goes_to_the_right_page(client, login_as, stored):
    login_as("support")
    lookup = reverse("web:lookup")
    assert client.get(lookup, {"q": "A-100002"})["Location"] == "/orders/A-100002/"
    assert client.get(lookup, {"q": " C-00777 "})["Location"] == "/customers/C-00777/"
    assert client.get(lookup, {"q": TRACE_ID})["Location"] == f"/traces/{TRACE_ID}/"
    missing = client.get(lookup, {"q": "A-999999"})
    assert missing.status_code == 404
    assert "Nothing found for “A-999999”" in text(missing)


def test_home_lists_orders_and_filters_traces_for_analysts(client, login_as, stored):
    login_as("analyst")
    body = text(client.get(reverse("web:home")))
    stuck = body[body.index("order-list stuck") : body.index("order-list lost")]
    assert "A-100002" in stuck and "A-100001" not in stuck
    found = text(client.get(reverse("web:home"), {"service": "mes-api", "status": "any"}))
    assert "/orders/A-100002/" in found
    assert TRACE_ID in found
    errors = text(client.get(reverse("web:home"), {"status": "error"}))
    assert TRACE_ID in errors and "A-100002-t1" not in errors
    bad = text(client.get(reverse("web:home"), {"min_ms": "lots", "since": "yesterday"}))
    assert "is not a whole number" in bad and "is not a date and time" in bad


def test_home_for_support_has_the_box_but_no_analytics(client, login_as, stored):
    login_as("support")
    body = text(client.get(reverse("web:home")))
    assert 'id="lookup-q"' in body and "order-list" not in body


# --- Journeys -------------------------------------------------------------------------------


def test_order_journey_page(client, login_as, stored):
    login_as("onboarding")
    page = client.get(reverse("web:order", args=["A-100002"]))
    assert page.status_code == 200
    body = text(page)
    assert "stuck" in body
    assert 'class="state reached current"' in body and "FILE_UPLOADED" in body
    assert "stopped here" in body
    assert 'id="el-mes_api"' in body
    assert "/traces/A-100002-t1/" in body
    assert "C-00777" not in body  # masked for onboarding
    assert AuditEntry.objects.filter(object_type="order", object_id="A-100002").exists()
    only = text(client.get(reverse("web:order", args=["A-100002"]), {"container": "shop_api"}))
    timeline = only.split('id="timeline"')[1].split('id="traces-title"')[0]
    assert "POST /api/partner/orders" not in timeline
    # Every trace of the order: time, root service and operation, duration, status.
    traces = body.split('id="traces-title"')[1]
    assert "mes-api</span> POST /api/partner/orders</a>" in traces and "200 ms" in traces


def test_customer_page_lists_orders(client, login_as, stored):
    login_as("support")
    page = client.get(reverse("web:customer", args=["C-00777"]))
    assert page.status_code == 200
    assert "/orders/A-100002/" in text(page) and "C-00777" in text(page)
    assert client.get(reverse("web:customer", args=["C-404"])).status_code == 404


# --- Analytics ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["system_map", "drift", "sla", "anomalies"])
def test_analytics_pages(client, login_as, stored, name):
    login_as("architect")
    page = client.get(reverse(f"web:{name}"), {"window": "7d"})
    assert page.status_code == 200
    assert "Time window" in text(page)


def test_system_map_shows_metrics_and_links_elements(client, login_as, stored):
    login_as("analyst")
    body = text(client.get(reverse("web:system_map"), {"window": "7d", "element": "mes_api"}))
    assert 'id="el-mes_api"' in body and "c4-highlight" in body
    assert "MES API" in body and "is-highlight" in body


def test_analytics_refused_to_support(client, login_as, stored):
    login_as("support")
    assert client.get(reverse("web:system_map")).status_code == 403


# --- Downloads ------------------------------------------------------------------------------


def test_downloads(client, login_as, stored):
    login_as("onboarding")
    response = client.get(reverse("web:journey_json", args=["A-100002"]))
    assert response["Content-Disposition"] == 'attachment; filename="journey-A-100002.json"'
    data = json.loads(response.content)
    assert data["order_id"] == "A-100002" and data["status"] == "stuck"
    assert "C-00777" not in response.content.decode()
    trace = json.loads(client.get(reverse("web:trace_json", args=[TRACE_ID])).content)
    assert len(trace["spans"]) == 121
    assert trace["spans"][0]["attributes"]["customer.id"] == pseudonym_of("C-00123")
    svg = client.get(reverse("web:journey_svg", args=["A-100002"]))
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    png = client.get(reverse("web:trace_diagram_png", args=[TRACE_ID]))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert AuditEntry.objects.filter(action="download").count() == 4


def test_map_download_for_analysts(client, login_as, stored):
    login_as("analyst")
    svg = client.get(reverse("web:map_svg"), {"window": "7d"})
    assert svg.status_code == 200 and b"<svg" in svg.content


# --- Language and time zone -----------------------------------------------------------------


def test_russian_after_switching_language(client, login_as, stored):
    login_as("support")
    response = client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    assert response.status_code == 302
    body = text(client.get(reverse("web:order", args=["A-100002"])))
    assert "Граф состояний" in body and "Заказ" in body
    body = text(client.get(reverse("web:trace", args=[TRACE_ID])))
    assert "мс" in body  # durations in Russian units
    span = text(client.get(reverse("web:span", args=[TRACE_ID, "s0"]), {"partial": "1"}))
    assert re.search(r"<dt>Вид</dt><dd>сервер</dd>", span), span  # the span kind named, not SERVER
    assert re.search(r"<dt>Статус</dt><dd[^>]*>(не задан|OK|ошибка)", span), span  # not UNSET


def test_time_zone_setting(client, login_as, stored):
    login_as("support")
    url = reverse("web:preferences")
    assert client.post(url, {"time_zone": "Mars/Olympus"}).status_code == 400
    assert client.post(url, {"time_zone": "Asia/Yekaterinburg"}).status_code == 302
    body = text(client.get(reverse("web:trace", args=[TRACE_ID])))
    # T0 is 2025-02-19 21:20:00 UTC, 2025-02-20 02:20:00 in Yekaterinburg (UTC+5).
    assert "2025-02-20 02:20:00" in body


def test_pages_carry_no_inline_script_or_style(client, login_as, stored):
    login_as("architect")
    for url in [
        reverse("web:home"),
        reverse("web:trace", args=[TRACE_ID]),
        reverse("web:order", args=["A-100001"]),
        reverse("web:system_map"),
    ]:
        body = text(client.get(url))
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), url
        assert " style=" not in body.split("<svg")[0], url
