"""The trace page's tools and the trace comparison page, and machine-formatted numbers in
every language (no decimal comma may reach SVG geometry or a data attribute)."""

import re

import pytest
from django.urls import reverse

from accounts.models import AuditEntry
from explorer.caching import reset_caches
from explorer.store.ingest import store_traces
from explorer.traces.model import SpanKind, Trace
from tests.journey_support import complete_order
from tests.trace_support import make_span
from tests.web_support import MES, T0, price_trace, tree_trace

TRACE_ID = "ab" * 16
GEOMETRY = re.compile(
    r"\s(x|y|width|height|viewBox|cx|cy|r|rx|ry|x1|x2|y1|y2|font-size|"
    r'stroke-width|data-[a-z-]+)="([^"]*)"'
)
LISTS = {"data-collapsed", "data-expanded", "data-matches"}  # comma-separated row numbers
# Sentences for people (the playback's narration), in the page's language with its decimal sign.
PROSE = {"data-sentence"}


@pytest.fixture
def stored(db):
    reset_caches()
    done = complete_order("A-100001", customer_id="C-00123")
    store_traces([*done.traces, tree_trace(TRACE_ID)])
    yield done
    reset_caches()


def decimal_commas(html: str) -> list[str]:
    """Attributes holding a number written with a decimal comma."""
    return [
        f'{name}="{value}"'
        for name, value in GEOMETRY.findall(html)
        if name not in LISTS | PROSE and re.search(r"\d,\d", value)
    ]


def russian(client):
    client.post(reverse("set_language"), {"language": "ru"})


def test_no_decimal_comma_in_geometry_in_russian(client, login_as, stored):
    login_as("architect")
    russian(client)
    page = client.get(reverse("web:trace", args=[TRACE_ID])).content.decode()
    assert "Длительность" in page
    bars = re.findall(r'<rect x="([^"]+)" y="1" width="([^"]+)"', page)
    assert len(bars) == 121 and any("." in x + w for x, w in bars)  # fractions, with dots
    minimap = re.findall(
        r'<rect class="[^"]*" x="([^"]+)" y="([^"]+)" width="1" '
        r'height="([^"]+)"',
        page,
    )
    assert minimap and any("." in "".join(m) for m in minimap)
    rows = client.get(reverse("web:trace_rows", args=[TRACE_ID]), {"offset": 100}).json()
    pages = {
        "trace": page,
        "rows": rows["html"],
        "map": client.get(reverse("web:system_map")).content.decode(),
        "journey": client.get(reverse("web:order", args=["A-100001"])).content.decode(),
        "diagram": client.get(
            reverse("web:trace_diagram", args=[TRACE_ID]), {"partial": "1"}
        ).content.decode(),
    }
    for name, html in pages.items():
        assert "<svg" in html or name == "rows", name
        assert decimal_commas(html) == [], name


def test_rows_to_a_depth_expanded_rows_and_the_window_of_a_row(client, login_as, stored):
    login_as("analyst")
    url = reverse("web:trace_rows", args=[TRACE_ID])
    # Two levels shown: the root and its 3 children, each collapsed.
    data = client.get(url, {"levels": 2}).json()
    assert data["rows"] == [0, 1, 41, 81] and data["total"] == 4
    assert data["html"].count('aria-expanded="false"') == 3
    # Row 41 opened again: one more level, its 3 children, each collapsed.
    data = client.get(url, {"levels": 2, "expanded": 41}).json()
    assert data["total"] == 4 + 3 and data["rows"] == [0, 1, 41, 42, 55, 68, 81]
    # The window of a row: its index among the visible rows, windows of `limit` rows.
    data = client.get(url, {"at": 100, "limit": 50}).json()
    assert data["index"] == 100 and data["offset"] == 100 and data["rows"][0] == 100
    data = client.get(url, {"at": 100, "limit": 50, "levels": 2}).json()
    assert data["index"] is None  # hidden under a collapsed span
    # One level: the root alone; more levels than the tree has, or garbage: everything.
    assert client.get(url, {"levels": 1}).json()["total"] == 1
    assert client.get(url, {"levels": 99}).json()["total"] == 121
    assert client.get(url, {"levels": "x"}).json()["total"] == 121


def test_trace_page_tools_and_search_hits(client, login_as, stored):
    login_as("analyst")
    page = client.get(reverse("web:trace", args=[TRACE_ID]), {"q": "step 3.1"}).content.decode()
    assert 'id="depth-select"' in page and 'id="show-critical"' in page
    assert 'id="hit-next"' in page and 'id="minimap"' in page
    hits = re.search(r'data-matches="([^"]*)"', page).group(1).split(",")
    assert len(hits) == 9 and all(h.isdigit() for h in hits)
    assert f"{reverse('web:compare')}?a={TRACE_ID}&amp;b=typical" in page


def test_compare_two_traces_and_with_a_typical_one(client, login_as, db):
    reset_caches()
    store_traces(
        [
            price_trace("slow" + "0" * 28, 900),
            price_trace("a" * 32, 40, cached=True),
            price_trace("b" * 32, 50, cached=True),
            price_trace("c" * 32, 60),
        ]
    )
    login_as("support")
    url = reverse("web:compare")
    body = client.get(url, {"a": "slow" + "0" * 28, "b": "c" * 32}).content.decode()
    assert body.count('class="diff-row both') == 2
    assert "-840 ms" in body  # B − A of the whole traces
    typical = client.get(url, {"a": "slow" + "0" * 28, "b": "typical"})
    html = typical.content.decode()
    assert typical.status_code == 200 and 'value="' + "b" * 32 + '"' in html  # the median
    assert html.count('class="diff-row only_b') == 1
    assert AuditEntry.objects.filter(object_type="trace", object_id="b" * 32).exists()
    # Unhappy paths: a missing second trace, an unknown trace, no typical one.
    assert "Name the second trace" in client.get(url, {"a": "a" * 32}).content.decode()
    missing = client.get(url, {"a": "a" * 32, "b": "f" * 32})
    assert missing.status_code == 404 and "form-error" in missing.content.decode()
    lonely = make_span(
        "x",
        trace_id="d" * 32,
        name="lonely",
        kind=SpanKind.SERVER,
        start_ns=T0,
        end_ns=T0 + 5,
        resource=MES,
    )
    store_traces([Trace("d" * 32, [lonely])])
    alone = client.get(url, {"a": "d" * 32, "b": "typical"}).content.decode()
    assert "No other trace has the same root operation" in alone
    assert client.get(url).status_code == 200  # the empty form


def test_compare_redacts_and_needs_journeys(client, login_as, stored):
    login_as("administrator")
    assert client.get(reverse("web:compare"), {"a": TRACE_ID, "b": TRACE_ID}).status_code == 403


def test_map_draws_undocumented_calls_dashed_and_metrics_under_their_box(db):
    from explorer.configuration import explorer_config
    from explorer.diagrams import render
    from explorer.diagrams.overlay import Metric, Overlay

    model = explorer_config().model
    assert not any(
        (r.source, r.target) == ("shop_api", "mes_api") for r in model.relationships
    )  # undocumented in the model
    metric = Metric(rate=166 / (7 * 86400), error_rate=0.0, p95_ms=25.0, count=166)
    overlay = Overlay(
        title="map", rate_unit="h", metrics={("shop_api", "mes_api"): metric, "shop_db": metric}
    )
    svg = render.render_svg(model, overlay)
    assert 'class="edge c4-observed c4-undocumented"' in svg
    assert "stroke-dasharray" in svg.split("c4-observed")[1].split("</g>")[0]
    assert "undocumented call" in svg and "1.0/h" in svg
    # The element's metric sits right under its box.
    box = re.search(r'id="el-shop_db".*?<path[^>]* d="([^"]+)"', svg, re.S).group(1)
    bottom = max(float(y) for y in re.findall(r"[-\d.]+,([-\d.]+)", box))
    label = svg.split('class="node c4-metric"')[1]
    label_y = float(re.search(r'<text[^>]* y="([-\d.]+)"', label).group(1))
    assert 0 < label_y - bottom < 20
