"""The order page's diagram: where the order stopped, names instead of ids in both languages,
the playback's data and start step, and the download being the picture the page shows."""

import re

from django.urls import reverse

from explorer.diagrams import render
from explorer.diagrams.overlay import Overlay, Step, Stop
from tests.test_web_pages import stored, text  # noqa: F401 - the fixture is used by name


def test_stuck_order_in_russian_names_everything(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100002"])))
    assert "застрял" in body and "B2B-партнёр" in body
    assert ">stuck<" not in body and ">b2b_partner<" not in body
    svg = body[body.index("<svg"):body.index("</svg>")]
    assert "Легенда" in svg and "[Контейнер: C#]" in svg and "[Человек]" in svg
    stop = re.search(r'<g id="el-mes_api" class="[^"]*journey-stop[^"]*journey-stuck', svg)
    assert stop and "ждёт" in svg
    filtered = text(client.get(reverse("web:order", args=["A-100002"]),
                               {"container": "mes_api"}))
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


def test_download_is_the_diagram_the_page_shows(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100002"])))
    download = client.get(reverse("web:journey_svg", args=["A-100002"])).content.decode()
    assert download[download.index("<svg"):] in body


def test_lost_message_is_a_cut_edge_out_of_the_queue(model):
    overlay = Overlay(steps=[Step(1, "mes_api", "queue", "publish orders.priced", 2_000_000)],
                      stops=[Stop("lost", "queue", "orders.priced: never consumed since 05.03",
                                  "crm_api")], dimmed=True)
    root = render.ET.fromstring(render.render_svg(model, overlay))  # noqa: S314
    lost = [g for g in root.iter(f"{{{render.SVG_NS}}}g")
            if "journey-lost" in (g.get("class") or "")]
    assert len(lost) == 1 and "journey-stop" in lost[0].get("class")
    assert (lost[0].get("data-source"), lost[0].get("data-target")) == ("el-queue", "el-crm_api")
    line = lost[0].find(f"{{{render.SVG_NS}}}path")
    assert line.get("stroke-dasharray") and line.get("stroke").lower() == render.STOP_COLOUR.lower()
    assert "never consumed" in "".join(lost[0].itertext())
    crm = next(g for g in root.iter(f"{{{render.SVG_NS}}}g") if g.get("id") == "el-crm_api")
    assert "c4-dimmed" not in crm.get("class")  # the one that should have consumed it
