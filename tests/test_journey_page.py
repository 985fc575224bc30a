"""The order page's diagram: where the order stopped, names instead of ids in both languages,
the playback's data and start step, and the download being the picture the page shows."""

import io
import re
import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from explorer.diagrams import render, style, svg_finish
from explorer.diagrams.overlay import DiagramStep, Overlay, Stop
from explorer.store.ingest import store_traces
from explorer.traces.model import SpanKind
from explorer.web.difference_text import difference_detail
from tests.journey_support import DAY, OrderBuilder, complete_order
from tests.scenario_support import scenario
from tests.test_web_pages import stored, text  # noqa: F401 - the fixture is used by name
from tests.trace_support import make_span
from tests.web_support import detailed_svg, overview_svg


def test_stuck_order_in_russian_names_everything(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100002"])))
    assert "застрял" in body and "B2B-партнёр" in body
    assert ">stuck<" not in body and ">b2b_partner<" not in body
    svg = detailed_svg(body)
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
    svg = detailed_svg(body)
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
    return _typical_edges(detailed_svg(body))


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
            r'class="state-name">[^<]*</span>\s*<span class="muted"><time [^>]*>([^ ]+ [^ <]+)<',
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
    assert steps[0]["sentence"].endswith(
        ", 10.0 s. The order is now FILE_UPLOADED."
    )  # two sentences


def _font_sizes(svg: str) -> list[float]:
    return [float(size) for size in re.findall(r'font-size="([0-9.]+)"', svg)]


def test_the_page_opens_on_an_overview_of_what_the_order_touched(client, login_as, stored):  # noqa: F811
    """The overview: every element by name, the ones the order never touched faded, its path
    with the number of calls per hop in the page's language, where it is now; no text under
    11 points, and it is small enough for a laptop screen (the detailed diagram is not)."""
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100001"])))
    assert body.index('id="journey-overview"') < body.index('id="journey-figure"')
    svg = overview_svg(body)
    root = ET.fromstring(svg)  # noqa: S314 - our own page
    groups = {
        g.get("id"): (g.get("class") or "").split() for g in root.iter(f"{{{svg_finish.SVG_NS}}}g")
    }
    for touched in ("ov-el-shop_api", "ov-el-queue", "ov-el-mes_api"):
        assert "c4-dimmed" not in groups[touched], touched
    assert "c4-dimmed" in groups["ov-el-operator"]  # no span of this order is the operator's
    assert "journey-stop" in groups["ov-el-crm_api"] and "завершён здесь" in svg
    assert "ov-hop" in groups["ov-el-shop_api--el-queue"]
    assert re.search(r">\d+ вызов(а|ов)?<", svg) and "calls" not in svg
    assert min(_font_sizes(svg)) >= 11
    assert "Подробно" in body  # the detailed diagram is a click away
    assert "Покупатель" in svg and ">Customer<" not in svg  # the model's own Russian names
    width, height = (float(root.get(k, "0").removesuffix("pt")) for k in ("width", "height"))
    detailed = ET.fromstring(detailed_svg(body))  # noqa: S314
    assert height < 0.5 * float(detailed.get("height", "0").removesuffix("pt"))
    assert width * 4 / 3 <= 1300 and height * 4 / 3 <= 768  # px at its own size


def test_the_overview_escapes_the_model_and_the_hops():
    from explorer.c4.model import Element, Model, Relationship
    from explorer.diagrams.overview import Hop, OverviewWords, overview_svg

    model = Model(
        elements={
            "a": Element("a", 'Shop <script>alert("x")</script>', "container", description="<b>"),
            "b": Element("b", "DB & co", "database"),
        },
        relationships=[Relationship("a", "b")],
    )
    words = OverviewWords(lambda n: f"{n} <calls>", now_here="here & now", finished_here="")
    svg = overview_svg(model, [Hop("a", "b", 2, 1)], [("b", "waiting")], words)
    ET.fromstring(svg)  # noqa: S314 - well-formed
    assert "<script" not in svg and "&lt;calls&gt;" in svg and "here &amp; now" in svg
    ids = {g.get("id") for g in ET.fromstring(svg).iter(f"{{{svg_finish.SVG_NS}}}g")}  # noqa: S314
    assert {"ov-el-a--el-b", "ov-el-a", "ov-el-b"} <= ids


def _is_subsequence(told: list[str], states: list[str]) -> bool:
    remaining = iter(states)
    return all(any(state == s for s in remaining) for state in told)


def _simulated_reports(simulation, orders: int):
    """Judged reports and overlays of the first simulated orders (states set in several traces
    by three services, uploads calling the 3D storage inside them)."""
    from explorer.configuration import explorer_config
    from explorer.diagrams.journey import journey_overlay
    from explorer.orders.service import judge_order
    from explorer.web import common
    from explorer.web.order_page import local_time

    run = simulation(orders=30, days=3, seed=7)
    store_traces(run.traces())
    call_command("orders", "--refresh", stdout=io.StringIO())
    config, source = explorer_config(), common.source()
    for order_id in sorted(run.truth["orders"])[:orders]:
        report = judge_order(source, order_id, config)
        overlay = journey_overlay(
            report,
            report.journey.traces,
            config.model,
            config.mapping,
            config.graph,
            sla_limit_ms=config.sla_limit_ms,
            lang="en",
            when=local_time,
            title="",
            step_url=lambda trace_id, span_id: "",
        )
        yield report, overlay


def _curve_points(d: str) -> list[tuple[float, float]]:
    """Points along a graphviz path ("M x,y C x,y x,y x,y ..."), 20 per cubic segment."""
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
    points = list(zip(numbers[0::2], numbers[1::2], strict=False))
    found = []
    for i in range(0, len(points) - 3, 3):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points[i : i + 4]
        for k in range(21):
            t, u = k / 20, 1 - k / 20
            found.append(
                (
                    u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3,
                    u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3,
                )
            )
    return found


def test_nothing_in_the_overview_crosses_its_text(db, simulation):
    """On simulated orders in both languages: no two lines of the overview's text overlap and
    no line of the overview runs through a text (the demo's 500 orders: none either)."""
    from django.utils import translation

    from explorer.web.order_page import journey_overview_svg
    from tests.diagram_text import SVG, overlapping, text_boxes

    for report, overlay in _simulated_reports(simulation, 8):
        for lang in ("en", "ru"):
            with translation.override(lang):
                svg = journey_overview_svg(overlay, report)
            boxes = text_boxes(svg)
            assert boxes and overlapping(boxes) == []
            lines = [
                (g.get("id"), _curve_points(path.get("d", "")))
                for g in ET.fromstring(svg).iter(f"{SVG}g")  # noqa: S314 - our own
                if "edge" in (g.get("class") or "").split()
                for path in g.iter(f"{SVG}path")
            ]
            for box in boxes:
                for owner, points in lines:
                    crossing = [(x, y) for x, y in points if box.overlaps((x, y, x, y))]
                    assert not crossing, (report.journey.order_id, lang, box.text, owner)


def test_the_states_told_follow_the_order_s_changes_on_a_simulated_week(db, simulation):
    """On simulated orders, whose states are set in several traces by Shop API, CRM API and MES
    API while uploads call the 3D storage inside them: the states the steps tell ("The order is
    now ...") come in the order of the order's state changes, never an earlier one after a
    later one (the demo's A-100098 told FILE_UPLOADED at step 4, INITIATED at step 5)."""
    from django.utils import translation

    from explorer.configuration import explorer_config
    from explorer.web.order_page import playback_steps

    names = explorer_config().names
    checked = 0
    with translation.override("en"):
        for report, overlay in _simulated_reports(simulation, 12):
            order_id = report.journey.order_id
            steps = playback_steps(overlay, report, names, 1000)
            told = [
                s["sentence"].split("The order is now ")[1].rstrip(".")
                for s in steps
                if "The order is now " in s["sentence"]
            ]
            changes = [c.state for c in report.conformance.changes]
            assert _is_subsequence(told, changes), (order_id, told, changes)
            checked += len(told) >= 3
    assert checked >= 6


@pytest.fixture
def slow_order(db):
    """Seven retail orders a minute in INITIATED, and one that stayed there two days."""
    builders = []
    for n, wait in enumerate([60] * 7 + [2 * DAY]):
        order = OrderBuilder(f"A-4000{n:02d}", f"C-4{n:04d}", "retail")
        order.state("shop-api", "POST /api/orders", n * 900, "INITIATED", None)
        order.state(
            "shop-api", "PUT /api/orders/{id}/model", n * 900 + wait, "FILE_UPLOADED", "INITIATED"
        )
        order.state(
            "shop-api",
            "POST /api/orders/{id}/submit",
            n * 900 + wait + 60,
            "SUBMITTED",
            "FILE_UPLOADED",
        )
        builders.append(order)
    store_traces([t for b in builders for t in b.traces])
    call_command("orders", "--refresh", stdout=io.StringIO())
    return "A-400007"


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        (
            "ru",
            "INITIATED заняло 2 дня (×2\u00a0880): у заказов типа «розничный» это состояние "
            "обычно занимает 1 минуту",
        ),
        ("en", "INITIATED took 2 days, 2,880 times the typical 1 min of retail orders"),
    ],
)
def test_how_the_order_differs_is_said_in_the_page_language(
    client, login_as, slow_order, language, sentence
):
    login_as("analyst")
    client.cookies["django_language"] = language
    body = text(client.get(reverse("web:order", args=[slow_order])))
    listed = re.findall(
        r'<li class="diff-slow"[^>]*><strong>[^<]*</strong> INITIATED: ([^<]*)<', body
    )
    assert listed == [sentence]
    compared = re.findall(r"<li><strong>[^<]*</strong> INITIATED: ([^<]*)</li>", body)
    assert compared == [sentence]


def test_every_difference_sentence_is_said_in_russian():
    facts = {"share": 0.04, "customer_type": "b2b_partner", "state": "AUDITED"}
    sentences = ("usual_state", "rare_state", "usual_operation", "rare_operation", "")

    def said(language: str) -> dict[str, str]:
        with translation.override(language):
            return {
                s: difference_detail({"sentence": s, "facts": facts, "detail": "English"})
                for s in sentences
            }

    russian = said("ru")
    assert said("en")["rare_state"] == "only 4% of other B2B partner orders pass through AUDITED"
    assert russian == {
        "usual_state": "4% других заказов типа «B2B-партнёр» проходят через AUDITED",
        "rare_state": "лишь 4% других заказов типа «B2B-партнёр» проходят через AUDITED",
        "usual_operation": (
            "4% других завершённых заказов типа «B2B-партнёр» выполняют эту операцию"
        ),
        "rare_operation": "лишь 4% других заказов типа «B2B-партнёр» выполняют эту операцию",
        "": "English",  # a report that names no sentence keeps its English detail
    }


def test_violations_are_said_in_the_page_language(client, login_as, db):
    """A violation of the state graph reads as the story says it, in the page's language, not
    as the checker's English note."""
    store_traces(scenario("trace-with-skipped-backward-and-repeated-states"))  # order A-1
    login_as("analyst")
    url = reverse("web:order", args=["A-1"])
    client.cookies["django_language"] = "ru"
    russian = text(client.get(url))
    section = russian.split("Нарушения графа состояний")[1].split("</ul>")[0]
    assert "пропустив PRICE_CALCULATED" in section and "skips" not in section
    client.cookies["django_language"] = "en"
    english = text(client.get(url))
    section = english.split("Violations of the state graph")[1].split("</ul>")[0]
    assert "skipping PRICE_CALCULATED" in section
