"""The same traces give the same journeys and pages whichever source serves them: the embedded
store, or a replaying Jaeger (API v3, or 1.x with only the classic API), Tempo (protobuf or
JSON) or Zipkin server on 127.0.0.1 that holds them in its own wire format and answers the
searches the sources make, with its backend's search semantics."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from tests.backends_support import (
    ReplayServer,
    jaeger_replay,
    tempo_replay,
    zipkin_replay,
)

pytestmark = pytest.mark.django_db

ORDERS, SEED = 6, 11
TRACE_PAGES = 3

# name: (source kind, replaying server, backend options)
BACKENDS = {
    "jaeger": ("jaeger", lambda traces: jaeger_replay(traces), {}),
    "jaeger-1.x": ("jaeger", lambda traces: jaeger_replay(traces, v3=False), {}),
    "tempo": ("tempo", lambda traces: tempo_replay(traces), {}),
    "tempo-json": ("tempo", lambda traces: tempo_replay(traces, protobuf=False), {}),
    "zipkin": ("zipkin", lambda traces: zipkin_replay(traces), {}),
}


@pytest.fixture(scope="module")
def simulated(simulation):
    """A small simulated data set as traces, moved so that its newest span ended an hour ago
    (remote searches without a window look back lookback_days from now, as they would in
    production) and cut to whole microseconds (what classic Jaeger and Zipkin keep), so that
    every source holds exactly the same traces."""
    traces = simulation(orders=ORDERS, days=1, seed=SEED).traces()
    newest = max(s.end_ns for t in traces for s in t.spans)
    shift = time.time_ns() - 3600 * 10**9 - newest

    def moved(ns: int) -> int:
        return (ns + shift) // 1000 * 1000

    for trace in traces:
        for span in trace.spans:
            span.start_ns, span.end_ns = moved(span.start_ns), moved(span.end_ns)
            for event in span.events:
                event.time_ns = moved(event.time_ns)
    return traces


def journey_json(order_id: str) -> dict:
    out = io.StringIO()
    call_command("journey", order_id, "--json", stdout=out)
    return json.loads(out.getvalue())


def order_page(client, order_id: str) -> dict:
    """What the order page shows: status, state graph, violations, steps, trace links."""
    page = client.get(reverse("web:order", args=[order_id]))
    assert page.status_code == 200, page.content[:500]
    body = page.content.decode()
    data = page.context["data"]
    timeline = body.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    return {
        "status": re.findall(r'class="status status-([\w-]+)"', body),
        "states": [
            (s["name"], s["reached"], s["current"], s["at"]) for s in page.context["states"]
        ],
        "state_names": re.findall(r'<span class="state-name">([^<]*)</span>', body),
        "violations": data["violations"],
        "steps": len(data["steps"]),
        "step_rows": len(re.findall(r'<tr(?: class="is-error")?><td>', timeline)),
        # Every trace of the order, each linked by its root service and operation.
        "trace_links": re.findall(
            r'<a href="(/traces/[0-9a-f]+/)"><span class="service">',
            body.split('id="traces-title"', 1)[1],
        ),
    }


def trace_page(client, trace_id: str) -> dict:
    """What the trace page shows: span count, services and the critical path."""
    page = client.get(reverse("web:trace", args=[trace_id]))
    assert page.status_code == 200, page.content[:500]
    body = page.content.decode()
    context = page.context
    return {
        "span_count": context["span_count"],
        "services": context["services"],
        "critical_count": context["critical_count"],
        "critical": [(r["url"], r["service"], r["name"]) for r in context["rows"] if r["critical"]],
        "critical_rows": len(re.findall(r'<tr id="row-\d+" class="[^"]*is-critical', body)),
        "rows": [(r["url"], r["depth"]) for r in context["rows"]],
    }


def everything(client, order_ids: list[str]) -> dict:
    """The journey command's output and the order page of every order, and the trace pages
    of its first TRACE_PAGES traces (each draws a diagram with graphviz: all 190 would take
    long and show nothing more)."""
    reset_caches()
    result = {}
    for order_id in order_ids:
        journey = journey_json(order_id)
        result[order_id] = {
            "journey": journey,
            "page": order_page(client, order_id),
            "traces": {t: trace_page(client, t) for t in journey["traces"][:TRACE_PAGES]},
        }
    return result


_from_store: dict[str, str] = {}


def from_store(client, order_ids: list[str]) -> dict:
    """The store's results, computed by the first test that needs them (the store holds the
    same traces in every test, and the results depend on nothing else)."""
    if "result" not in _from_store:
        _from_store["result"] = json.dumps(everything(client, order_ids))
    return json.loads(_from_store["result"])


def comparable(result: dict, backend: str) -> str:
    """The results as text, without what legitimately differs between sources.

    - journey "stages": the duration of the current state runs until "now", the end of the
      newest trace in the source; Tempo's search says a trace's duration only in whole
      milliseconds, so its "now" may be up to 1 ms earlier. Every finished stage is compared.
      For the same reason the bounds of the journey's reference window (the week before "now"
      its baseline is taken from) are left out; which reference was used is compared.
    - Zipkin lower-cases span names when it stores them, so for Zipkin everything is
      compared lower-cased (names only differ in case; ids are lower-case hex anyway).
    """
    for facts in result.values():
        facts["journey"]["stages"] = [s for s in facts["journey"]["stages"] if not s.get("current")]
        reference = facts["journey"].get("reference") or {}
        reference.pop("from", None)
        reference.pop("to", None)
    text = json.dumps(result, sort_keys=True)
    return text.lower() if backend == "zipkin" else text


@pytest.mark.parametrize("backend", ["store", *BACKENDS])
def test_same_journeys_and_pages_from_every_source(backend, simulated, settings, client, login_as):
    report = store_traces(simulated)
    assert report.rejected == []
    login_as("support")  # sees unmasked customer ids: nothing is hidden from the comparison
    order_ids = sorted(
        {
            str(s.attributes["order.id"])
            for t in simulated
            for s in t.spans
            if "order.id" in s.attributes
        }
    )
    assert len(order_ids) == ORDERS
    settings.EXPLORER_BACKENDS = {}
    settings.EXPLORER_DEFAULT_BACKEND = "store"
    expected = from_store(client, order_ids)

    # The comparison is worth something only if the journeys have content.
    for facts in expected.values():
        assert facts["journey"]["states"] and facts["journey"]["steps"]
        assert facts["page"]["trace_links"] and facts["traces"]
        assert facts["page"]["steps"] == facts["page"]["step_rows"] > 0
        assert all(t["critical_count"] == t["critical_rows"] > 0 for t in facts["traces"].values())
    assert {f["journey"]["status"] for f in expected.values()} != {"lost"}

    if backend == "store":
        found = everything(client, order_ids)
    else:
        kind, replay, options = BACKENDS[backend]
        with ReplayServer(replay(simulated)) as server:
            settings.EXPLORER_BACKENDS = {
                backend: {"kind": kind, "url": server.url, "retries": 0, **options}
            }
            settings.EXPLORER_DEFAULT_BACKEND = backend
            found = everything(client, order_ids)
        asked = {seen.path for seen in server.seen}
        if backend == "jaeger":  # an empty search is not taken for a Jaeger without API v3
            assert not any(p.startswith("/api/traces") for p in asked), sorted(asked)
        if backend == "jaeger-1.x":
            assert "/api/traces" in asked
        if backend == "tempo":
            assert "/api/search" in asked
    reset_caches()
    found_text, expected_text = comparable(found, backend), comparable(expected, backend)
    assert found_text == expected_text, differences(
        json.loads(found_text), json.loads(expected_text)
    )


def differences(found, expected, where: str = "") -> list[str]:
    """Where two results differ (the first few places), for a readable failure."""
    if isinstance(found, dict) and isinstance(expected, dict):
        keys = sorted(set(found) | set(expected))
        return [
            d for k in keys for d in differences(found.get(k), expected.get(k), f"{where}.{k}")
        ][:10]
    if isinstance(found, list) and isinstance(expected, list) and len(found) == len(expected):
        return [
            d
            for i, (f, e) in enumerate(zip(found, expected, strict=True))
            for d in differences(f, e, f"{where}[{i}]")
        ][:10]
    return [] if found == expected else [f"{where}: {found!r} != {expected!r}"[:400]]


@pytest.mark.parametrize("backend", ["jaeger", "zipkin"])
def test_home_for_analysts_on_a_remote_backend(backend, simulated, settings, client, login_as):
    """Remote backends cannot list every order id: the home page still searches traces."""
    login_as("analyst")
    kind, replay, options = BACKENDS[backend]
    reset_caches()
    with ReplayServer(replay(simulated)) as server:
        settings.EXPLORER_BACKENDS = {backend: {"kind": kind, "url": server.url, **options}}
        settings.EXPLORER_DEFAULT_BACKEND = backend
        page = client.get(reverse("web:home"), {"service": "shop-api", "status": "any"})
    reset_caches()
    body = page.content.decode()
    assert page.status_code == 200, body[:300]
    assert 'id="lookup-q"' in body and "/orders/A-100001/" in body
