"""The order page's diagram: where the order stopped, names instead of ids in both languages,
the playback's data and start step, and the download being the picture the page shows."""

import io
import re
import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command
from django.urls import reverse

from explorer.diagrams import render, style, svg_finish
from explorer.diagrams.overlay import DiagramStep, Overlay, Stop
from explorer.store.ingest import store_traces
from explorer.traces.model import SpanKind
from tests.journey_support import DAY, OrderBuilder, complete_order
from tests.test_web_pages import stored, text  # noqa: F401 - the fixture is used by name
from tests.trace_support import make_span


def test_stuck_order_in_russian_names_everything(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100002"])))
    assert "застрял" in body and "B2B-партнёр" in body
    assert ">stuck<" not in body and ">b2b_partner<" not in body
    svg = body[body.index("<svg") : body.index("</svg>")]
    assert "Легенда" in svg and "[Контейнер: C#]" in svg and "[Человек]" in svg
    stop = re.search(r'<g id="el-mes_api" class="[^"]*journey-stop[^"]*journey-stuck', svg)
    assert stop and "ждёт" in svg
    filtered = text(client.get(reverse("web:order", args=["A-100002"]), {"container": "mes_api"}))
    heading = filtered.split('id="timeline"')[1].split("</h2>")[0]
    assert "MES API" in heading and "mes_api" not in heading


def test_playback_data_and_start_step(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    url = reverse("web:order", args=["A-100001"])
    body = text(client.get(url))
    steps = re.findall(r'<li id="step-(\d+)" data-n="\d+"', body)
    assert steps == [str(n) for n in range(1, len(steps) + 1)] and len(steps) > 1
    assert 'data-stop="finished"' in body  # the last step: where it ended
    assert "data-sentence=" in body and 'aria-live="polite"' in body
    assert "data-start-step" not in body
    assert f'data-start-step="{len(steps)}"' in text(client.get(url, {"step": "9999"}))
    assert 'data-start-step="2"' in text(client.get(url, {"step": "2"}))
    for bad in ("abc", "-1e9", "<script>"):
        page = client.get(url, {"step": bad})
        assert page.status_code == 200 and "<script>" not in text(page).split("</head>")[1]


def test_step_list_of_a_long_journey_shows_its_first_calls_then_the_stop(
    client, login_as, monkeypatch, db
):
    """An order of thousands of calls lists the first PLAYBACK_STEPS_SHOWN of them and where it
    is now, and says so in the page's language; the count of calls stays the whole one."""
    from explorer.caching import reset_caches
    from explorer.web import order_page

    order = OrderBuilder("A-200001", "C-00900")
    order.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    for n in range(5):
        order.produce("shop-api", 60 + n)  # never consumed: the order stops there
    store_traces(order.traces)
    login_as("analyst")
    url = reverse("web:order", args=["A-200001"])
    item = r'<li id="step-(\d+)" data-n="\d+"'
    whole = text(client.get(url))
    total = len(re.findall(item, whole)) - 1  # but where the order is now
    assert total == 5 and "steps-cut" not in whole
    monkeypatch.setattr(order_page, "PLAYBACK_STEPS_SHOWN", 2)
    reset_caches()
    body = text(client.get(url))
    assert re.findall(item, body) == ["1", "2", "6"]  # the stop keeps its number
    assert re.search(r'<li id="step-6" data-n="6"[^>]* data-stop=', body)
    assert 'max="3"' in body and "5 calls of this order" in body
    assert "show the first 2 of 5 calls" in body
    assert 'data-start-step="3"' in text(client.get(url, {"step": "9999"}))
    client.cookies["django_language"] = "ru"
    assert "показывают первые 2 из 5" in text(client.get(url))


def test_timeline_of_a_long_journey_shows_its_first_steps_and_where_it_stopped(
    client, login_as, monkeypatch, db
):
    from explorer.caching import reset_caches
    from explorer.web import order_page

    order = OrderBuilder("A-200002", "C-00901")
    order.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    for n in range(4):
        order.state("shop-api", "PUT /api/orders/{id}/model", 60 + n, "FILE_UPLOADED", "INITIATED")
    order.produce("shop-api", 120)  # never consumed: the order stops at the last step
    late = OrderBuilder("A-200003", "C-00902")  # only there to move "now" days later
    late.state("shop-api", "POST /api/orders", 5 * DAY, "INITIATED", None)
    store_traces([*order.traces, *late.traces])
    login_as("analyst")
    url = reverse("web:order", args=["A-200002"])

    def timeline(body: str) -> list[str]:
        section = body.split('id="timeline"')[1].split("</section>")[0]
        return re.findall(r"<tr( class=\"is-stop\")?><td>", section)

    whole = text(client.get(url))
    rows = timeline(whole)
    assert len(rows) > 3 and rows[-1] and not any(rows[:-1]) and "timeline-cut" not in whole
    monkeypatch.setattr(order_page, "TIMELINE_STEPS_SHOWN", 2)
    reset_caches()
    body = text(client.get(url))
    assert timeline(body) == ["", "", ' class="is-stop"']  # the stop after the first two
    assert f"shows the first 2 of {len(rows)} steps" in body
    client.cookies["django_language"] = "ru"
    assert f"показывает первые 2 из {len(rows)} шагов" in text(client.get(url))


def test_download_is_the_diagram_the_page_shows(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100002"])))
    download = client.get(reverse("web:journey_svg", args=["A-100002"])).content.decode()
    assert download[download.index("<svg") :] in body


def test_lost_message_is_a_cut_edge_out_of_the_queue(model):
    overlay = Overlay(
        steps=[DiagramStep(1, "mes_api", "queue", "publish orders.priced", 2_000_000)],
        stops=[Stop("lost", "queue", "orders.priced: never consumed since 05.03", "crm_api")],
        dimmed=True,
    )
    root = ET.fromstring(render.render_svg(model, overlay))  # noqa: S314
    lost = [
        g
        for g in root.iter(f"{{{svg_finish.SVG_NS}}}g")
        if "journey-lost" in (g.get("class") or "")
    ]
    assert len(lost) == 1 and "journey-stop" in lost[0].get("class")
    assert (lost[0].get("data-source"), lost[0].get("data-target")) == ("el-queue", "el-crm_api")
    line = lost[0].find(f"{{{svg_finish.SVG_NS}}}path")
    assert line.get("stroke-dasharray") and line.get("stroke").lower() == style.STOP_COLOUR.lower()
    assert "never consumed" in "".join(lost[0].itertext())
    crm = next(g for g in root.iter(f"{{{svg_finish.SVG_NS}}}g") if g.get("id") == "el-crm_api")
    assert "c4-dimmed" not in crm.get("class")  # the one that should have consumed it


def _with_database_call(builder: OrderBuilder, at: float) -> OrderBuilder:
    """The order's creation also writes to the shop's database (a CLIENT span to shop_db)."""
    trace = builder.state("shop-api", "POST /api/orders", at, "INITIATED", None)
    root = trace.spans[0]
    trace.spans.append(
        make_span(
            root.span_id + "-db",
            root.span_id,
            trace_id=root.trace_id,
            name="INSERT orders",
            kind=SpanKind.CLIENT,
            start_ns=root.start_ns + 1000,
            end_ns=root.start_ns + 2000,
            resource=root.resource,
            attributes={"db.system.name": "postgresql", "db.namespace": "shop"},
        )
    )
    return builder


@pytest.fixture
def typical_orders(db):
    """Seven complete retail orders that write to the shop's database, and one that did not,
    stopped at FILE_UPLOADED after an operation no other retail order ran."""
    orders = []
    for n in range(7):
        order = OrderBuilder(f"A-3000{n:02d}", f"C-3{n:04d}", "retail")
        _with_database_call(order, n * 900)
        order.state(
            "shop-api", "PUT /api/orders/{id}/model", n * 900 + 60, "FILE_UPLOADED", "INITIATED"
        )
        order.state(
            "shop-api", "POST /api/orders/{id}/submit", n * 900 + 120, "SUBMITTED", "FILE_UPLOADED"
        )
        orders.append(order)
    odd = OrderBuilder("A-300099", "C-39999", "retail")
    odd.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    odd.state("shop-api", "POST /api/orders/{id}/virus-scan", 60, "FILE_UPLOADED", "INITIATED")
    late = OrderBuilder("A-300100", "C-38888")  # only there to move "now" days later
    late.state("shop-api", "POST /api/orders", 5 * DAY, "INITIATED", None)
    store_traces([t for b in [*orders, odd, late] for t in b.traces])
    call_command("orders", "--refresh", stdout=io.StringIO())


def _typical_edges(svg: str) -> set[tuple[str, str]]:
    root = ET.fromstring(svg)  # noqa: S314
    return {
        (g.get("data-source"), g.get("data-target"))
        for g in root.iter(f"{{{svg_finish.SVG_NS}}}g")
        if "c4-typical" in (g.get("class") or "").split()
    }


def test_the_typical_path_is_drawn_under_the_order(client, login_as, typical_orders):
    login_as("analyst")
    body = text(client.get(reverse("web:order", args=["A-300099"])))
    svg = body[body.index("<svg") : body.index("</svg>") + 6]
    edges = _typical_edges(svg)
    # the other retail orders all wrote to the shop's database; this one never did
    assert edges == {("el-shop_api", "el-shop_db")}
    root = ET.fromstring(svg)  # noqa: S314
    group = next(
        g
        for g in root.iter(f"{{{svg_finish.SVG_NS}}}g")
        if "c4-typical" in (g.get("class") or "").split()
    )
    paths = list(group.iter(f"{{{svg_finish.SVG_NS}}}path"))
    under = [p for p in paths if p.get("class") == "c4-typical-under"]
    assert len(under) == 1 and under[0].get("visibility") == "hidden"  # until the toggle
    assert paths.index(under[0]) == 0 and len(paths) == 2  # under the relationship's own line
    assert paths[1].get("stroke") != under[0].get("stroke")
    typical = re.search(r'<g id="rel-\d+" class="[^"]*c4-typical[^"]*"', svg)
    assert typical and "c4-step" not in typical.group(0)
    assert 'id="typical-toggle"' in body and "the path most typical" in body
    # what it did differently stays listed, placed on the diagram for the toggle to highlight
    extra = re.search(
        r'<li class="diff-extra" data-kind="extra" data-steps="[^"]*" '
        r'data-element="el-shop_api">.*?virus-scan',
        body,
    )
    assert extra
    download = client.get(reverse("web:journey_svg", args=["A-300099"])).content.decode()
    assert download[download.index("<svg") :] in body


def _count_sample_reads(monkeypatch) -> list[list[str]]:
    """The sample orders each time the page reads their journeys to draw the typical path."""
    from explorer.web import order_page

    reads: list[list[str]] = []
    real = order_page.judge_states_of_orders

    def counted(source, order_ids, config):
        reads.append(list(order_ids))
        return real(source, reads[-1], config)

    monkeypatch.setattr(order_page, "judge_states_of_orders", counted)
    return reads


def _typical_edges_of(client, order_id: str) -> set[tuple[str, str]]:
    body = text(client.get(reverse("web:order", args=[order_id])))
    return _typical_edges(body[body.index("<svg") : body.index("</svg>") + 6])


def test_the_typical_path_comes_from_the_calls_the_reference_stored(
    client, login_as, typical_orders, monkeypatch
):
    """`orders --refresh` records each sample's calls: the first view reads no sample's
    journey, and draws what reading them would."""
    from explorer.caching import reset_caches
    from explorer.orders.models import TYPICAL, BaselineSnapshot

    reads = _count_sample_reads(monkeypatch)
    login_as("analyst")
    assert _typical_edges_of(client, "A-300099") == {("el-shop_api", "el-shop_db")}
    assert reads == []
    row = BaselineSnapshot.objects.get(kind=TYPICAL, key=BaselineSnapshot.type_key("retail"))
    calls = {s["order_id"]: s["calls"] for s in row.data["samples"]}
    assert len(calls) == 9 and ["shop_api", "shop_db"] not in calls["A-300099"]
    assert all(["shop_api", "shop_db"] in calls[f"A-3000{n:02d}"] for n in range(7))
    # Samples stored before calls were kept: the page reads their journeys, once per type.
    for sample in row.data["samples"]:
        del sample["calls"]
    row.save()
    reset_caches()
    assert _typical_edges_of(client, "A-300099") == {("el-shop_api", "el-shop_db")}
    assert len(reads) == 1 and len(reads[0]) == 8  # every other retail order
    # No stored reference: the one computed for the page records the calls as it goes.
    BaselineSnapshot.objects.all().delete()
    reset_caches()
    assert _typical_edges_of(client, "A-300099") == {("el-shop_api", "el-shop_db")}
    assert len(reads) == 1


def test_no_typical_path_without_enough_orders_of_the_type(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    body = text(client.get(reverse("web:order", args=["A-100002"])))
    assert "c4-typical" not in body and 'id="typical-toggle"' not in body


def test_typical_path_keeps_relationships_most_samples_used(db):
    from explorer.configuration import explorer_config
    from explorer.diagrams.journey import typical_path
    from explorer.journeys.journey import Journey

    def journey(builder: OrderBuilder) -> Journey:
        return Journey(builder.order_id, traces=builder.traces)

    config = explorer_config()
    wrote = journey(_with_database_call(OrderBuilder("A-1"), 0))
    alone = journey(complete_order("A-2"))  # no database call; publishes (undocumented)
    assert typical_path([wrote, wrote, alone], config.model, config.mapping) == {
        ("shop_api", "shop_db")
    }
    assert typical_path([wrote, alone, alone], config.model, config.mapping) == set()
    assert typical_path([], config.model, config.mapping) == set()


def _rendered(response) -> list[str]:
    return [t.name for t in response.templates]


def main(response) -> str:
    return text(response).split("<main", 1)[1]


def test_the_plain_page_is_rendered_once_per_viewer_kind(client, login_as, stored):  # noqa: F811
    """Its content is rendered on the first view only; a filtered view, another language or
    another time zone renders its own."""
    from explorer.web.middleware import SESSION_KEY

    login_as("analyst")
    url = reverse("web:order", args=["A-100001"])
    first, again = client.get(url), client.get(url)
    assert "web/_journey_body.html" in _rendered(first)
    assert "web/_journey_body.html" not in _rendered(again)
    assert main(again) == main(first)  # the header's CSRF token is masked anew each time
    filtered = client.get(url, {"container": "mes_api"})
    assert "web/_journey_body.html" in _rendered(filtered) and main(filtered) != main(first)
    assert "web/_journey_body.html" in _rendered(client.get(url, {"step": "2"}))
    client.cookies["django_language"] = "ru"
    russian = client.get(url)
    assert "web/_journey_body.html" in _rendered(russian) and "Граф состояний" in text(russian)
    del client.cookies["django_language"]
    session = client.session
    session[SESSION_KEY] = "Asia/Yekaterinburg"  # UTC+5 all year
    session.save()
    zoned = client.get(url)
    assert "web/_journey_body.html" in _rendered(zoned)

    def state_times(response) -> list[str]:
        return re.findall(
            r'<li data-state="[^"]+" class="state reached[^"]*">\s*<span '
            r'class="state-name">[^<]*</span>\s*<span class="muted">([^ ]+ [^ ]+)',
            text(response),
        )

    utc, local = state_times(first), state_times(zoned)
    assert utc and len(local) == len(utc) and local != utc


def test_the_state_told_in_the_steps_never_goes_back_when_a_nested_call_ends_first(db):
    """A call that encloses another (the upload that calls the 3D storage) ends after it: the
    state the long call set is not taken back at the shorter call that started later."""
    from types import SimpleNamespace

    from explorer.journeys.conformance import Conformance, StateChange
    from explorer.web.order_page import playback_steps

    s = 10**9
    upload = DiagramStep(
        1, "customer", "shop_api", "POST /upload", duration_ns=10 * s, start_ns=5 * s
    )
    store = DiagramStep(2, "shop_api", "storage", "PUT /files", duration_ns=1 * s, start_ns=6 * s)
    submit = DiagramStep(
        3, "customer", "shop_api", "POST /submit", duration_ns=1 * s, start_ns=20 * s
    )
    changes = [
        StateChange("INITIATED", None, 1 * s, "shop_api", "t1", "s1"),
        StateChange("FILE_UPLOADED", "INITIATED", 14 * s, "shop_api", "t2", "s2"),
        StateChange("SUBMITTED", "FILE_UPLOADED", 20 * s, "shop_api", "t3", "s3"),
    ]
    report = SimpleNamespace(conformance=Conformance(changes=changes))
    steps = playback_steps(Overlay(steps=[upload, store, submit]), report, {}, 10)
    assert [step["state"] for step in steps] == ["FILE_UPLOADED", "FILE_UPLOADED", "SUBMITTED"]
    told = [step["sentence"].split("The order is now ")[1:] for step in steps]
    assert told == [["FILE_UPLOADED."], [], ["SUBMITTED."]]
