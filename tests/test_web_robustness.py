"""No page of the web explorer answers 500, whatever is in the URL, and an unreachable
tracing backend gives a clear page."""

import json
import re
import socket
from urllib.parse import quote

import pytest
from django.urls import URLPattern, get_resolver, reverse

from explorer.caching import reset_caches
from explorer.sources.config import backends_setting
from explorer.store.ingest import store_traces
from tests.journey_support import complete_order
from tests.web_support import tree_trace

HOSTILE = [
    "x" * 5000,
    "ёлка-🎄-\u202e-注文",
    "a\x00b",
    "../../../../etc/passwd",
    "..%2F..%2Fetc",
    "' OR 1=1; DROP TABLE store_storedtrace; --",
    '<script>alert(1)</script>"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "2025-13-45T25:61",
    "NaN",
    " ",
    "%00",
    "{{ 7*7 }}{% debug %}",
]
PARAMS = [
    "q",
    "offset",
    "limit",
    "collapsed",
    "at",
    "span",
    "partial",
    "format",
    "window",
    "element",
    "container",
    "service",
    "operation",
    "status",
    "min_ms",
    "max_ms",
    "customer_type",
    "since",
    "until",
    "nothing",
]
TRACE_ID = "ab" * 16


def web_routes():
    resolver = get_resolver()
    for entry in resolver.url_patterns:
        if getattr(entry, "namespace", None) == "web":
            for pattern in entry.url_patterns:
                assert isinstance(pattern, URLPattern)
                yield str(pattern.pattern), pattern.name


def fill(route: str, value: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: quote(value, safe=""), route)


@pytest.fixture
def stored(db):
    store_traces([*complete_order("A-100001").traces, tree_trace(TRACE_ID)])


@pytest.mark.slow
def test_hostile_values_in_every_url_parameter(client, login_as, stored):
    login_as("architect", extra_perms=["view_customer_ids"])
    routes = list(web_routes())
    assert len(routes) >= 25
    checked = 0
    for route, name in routes:
        # PNG conversion is slow and its inputs are the SVG routes' (checked in full).
        values = HOSTILE[:3] if name.endswith("_png") else HOSTILE
        for value in values:
            response = client.get(fill(route, value))
            assert response.status_code < 500, (name, value, response.status_code)
            checked += 1
        # Real ids, hostile query strings.
        real = re.sub(
            r"<(?:\w+:)?(\w+)>",
            lambda m: {
                "order_id": "A-100001",
                "customer_id": "C-00001",
                "trace_id": TRACE_ID,
                "span_id": "s0",
            }.get(m.group(1), "k"),
            route,
        )
        for value in values[:8]:
            response = client.get("/" + real, dict.fromkeys(PARAMS, value))
            assert response.status_code < 500, (name, value, response.status_code)
            checked += 1
    assert checked > 400


def test_hostile_search_box_values(client, login_as, stored):
    login_as("support")
    for value in HOSTILE:
        response = client.get(reverse("web:lookup"), {"q": value})
        assert response.status_code in (302, 404), value
        if response.status_code == 404:
            body = response.content.decode()
            assert "<script>alert(1)</script>" not in body
            assert "Nothing found" in body


def test_hostile_posts(client, login_as, stored):
    login_as("architect")
    for value in HOSTILE:
        assert client.post(reverse("web:preferences"), {"time_zone": value}).status_code == 400
        response = client.post(reverse("web:upload"), {"file": value})
        assert response.status_code == 400


def test_trace_text_is_escaped_everywhere(client, login_as, db):
    evil = '"]; evil -> x [label="<script>alert(1)</script>'
    store_traces([tree_trace("ef" * 16, fanout=1, depth=1, evil_name=evil)])
    login_as("analyst")
    body = client.get(reverse("web:trace", args=["ef" * 16])).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    rows = client.get(reverse("web:trace_rows", args=["ef" * 16])).json()["html"]
    assert "<script>" not in rows


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_backend_that_is_down_gives_a_clear_page(client, login_as, db, settings):
    backends, _ = backends_setting(
        json.dumps(
            [
                {
                    "name": "jaeger-down",
                    "kind": "jaeger",
                    "url": f"http://127.0.0.1:{closed_port()}",
                    "timeout_connect": 0.5,
                    "timeout_read": 0.5,
                    "timeout_total": 1,
                    "retries": 0,
                }
            ]
        ),
        "jaeger-down",
    )
    settings.EXPLORER_BACKENDS = backends
    settings.EXPLORER_DEFAULT_BACKEND = "jaeger-down"
    reset_caches()
    login_as("architect")
    for url in [
        reverse("web:trace", args=[TRACE_ID]),
        reverse("web:order", args=["A-1"]),
        reverse("web:lookup") + "?q=A-1",
        reverse("web:system_map"),
        reverse("web:home"),
    ]:
        response = client.get(url)
        assert response.status_code == 503, url
        body = response.content.decode()
        assert "The tracing backend “jaeger-down” did not answer" in body, url
