"""Tour pages: playing, answering, following an order, saving and editing, progress."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command

from explorer.tours.models import Answer, Tour, TourProgress
from explorer.tours.persist import save_spec
from explorer.tours.tourfile import parse_document
from tests.tours_support import serve_from_memory


@pytest.fixture
def shipped(db, monkeypatch):
    source = serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    return source


def _classes(html: str, element: str) -> set[str]:
    """The classes of the diagram node of `element` (graphviz may write '-' as &#45;)."""
    match = re.search(rf'<g id="el(?:-|&#45;){element}" class="([^"]*)"', html)
    assert match, f"no node for {element}"
    return set(match.group(1).replace("&#45;", "-").split())


def test_playing_a_step_highlights_its_element_and_records_progress(shipped, login_as, client):
    user = login_as("onboarding")
    response = client.get("/tours/retail-order/3/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "c4-highlight" in _classes(html, "shop_api")
    assert "c4-dimmed" in _classes(html, "mes_db")
    assert "c4-dimmed" not in _classes(html, "internet_shop")  # the relationship's source
    assert 'data-element="shop_api"' in html
    assert '<progress max="11" value="3">' in html
    assert "POST /api/orders" in html  # the example order's real span at this step
    assert 'href="/tours/retail-order/2/"' in html and 'href="/tours/retail-order/4/"' in html
    progress = TourProgress.objects.get(user=user, tour__slug="retail-order")
    assert progress.last_step == 3 and progress.finished_at is None
    client.get("/tours/retail-order/11/")
    progress.refresh_from_db()
    assert progress.finished_at is not None


def test_customer_ids_in_spans_follow_the_viewers_policy(shipped, client, login_as):
    login_as("onboarding")
    masked = client.get("/tours/retail-order/3/").content.decode()
    assert not re.search(r"C-\d{5}", masked) and re.search(r"cust-[0-9a-f]{10}", masked)
    client.logout()
    login_as("support", username="support-user")
    shown = client.get("/tours/retail-order/3/").content.decode()
    assert re.search(r"C-\d{5}", shown)


def test_tour_text_links_only_to_the_explorers_own_pages(shipped, login_as, client):
    from explorer.tours.models import TourStep

    step = TourStep.objects.get(tour__slug="retail-order", number=3)
    step.text = (
        "Read [the map](/map/), not [this](https://evil.example/login), "
        "[that](//evil.example/x) or [the other](/\\evil.example/y)."
    )
    step.save()
    login_as("onboarding")
    html = client.get("/tours/retail-order/3/").content.decode()
    assert 'href="/map/"' in html and "evil.example" not in html
    assert ">this</a>" in html and ">that</a>" in html and ">the other</a>" in html


def test_unknown_tours_and_steps_are_404(shipped, login_as, client):
    login_as("onboarding")
    assert client.get("/tours/retail-order/0/").status_code == 404
    assert client.get("/tours/retail-order/12/").status_code == 404
    assert client.get("/tours/nope/1/").status_code == 404
    assert client.get("/tours/nope/").status_code == 404


def test_tours_need_login_and_the_permission(shipped, client, login_as):
    assert client.get("/tours/retail-order/1/").status_code == 302
    login_as(None)
    assert client.get("/tours/retail-order/1/").status_code == 403
    assert client.get("/tours/").status_code == 403


def test_start_resumes_at_the_last_step(shipped, login_as, client):
    login_as("onboarding")
    assert client.get("/tours/partner-order/").url == "/tours/partner-order/1/"
    client.get("/tours/partner-order/4/")
    assert client.get("/tours/partner-order/").url == "/tours/partner-order/4/"


def test_answering_a_check_records_it_with_the_progress(shipped, login_as, client):
    user = login_as("onboarding")
    page = client.get("/tours/retail-order/8/").content.decode()
    assert 'data-element="crm_api"' in page and 'name="choice"' in page
    response = client.post("/tours/retail-order/8/answer/", {"choice": "0"})
    assert response.status_code == 302
    answer = Answer.objects.get(progress__user=user)
    assert (answer.choice, answer.correct) == (0, False)
    client.post("/tours/retail-order/8/answer/", {"choice": "1"})
    answer = Answer.objects.get(progress__user=user)
    assert (answer.choice, answer.correct) == (1, True)
    assert "is-correct" in client.get("/tours/retail-order/8/").content.decode()
    for bad in ("7", "-1", "x", ""):
        client.post("/tours/retail-order/8/answer/", {"choice": bad})
    assert Answer.objects.get(progress__user=user).choice == 1
    assert client.post("/tours/retail-order/1/answer/", {"choice": "0"}).status_code == 404
    assert client.get("/tours/retail-order/8/answer/").status_code == 405


def test_a_stuck_tour_shows_the_lost_order(shipped, login_as, client):
    login_as("onboarding")
    html = client.get("/tours/stuck-order/4/").content.decode()
    assert "status-lost" in html
    assert "No span of the example order at this step" in html


def test_hostile_markdown_renders_inert_in_the_player(db, monkeypatch, login_as, client):
    serve_from_memory(monkeypatch, traces=[])
    (spec,) = parse_document(
        {
            "slug": "evil",
            "title": "<script>alert(1)</script>",
            "steps": [
                {
                    "title": "S",
                    "element": "queue",
                    "text": "<script>alert(2)</script><img src=x onerror=alert(3)>"
                    '[x](javascript:alert(4)) <a href="#" onclick="alert(5)">y</a>',
                }
            ],
        }
    )
    save_spec(spec)
    login_as("onboarding")
    html = client.get("/tours/evil/1/").content.decode()
    assert "<script>alert" not in html and "onerror" not in html
    assert "javascript:alert" not in html and "onclick" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_follow_any_order_as_a_generated_tour(shipped, login_as, client):
    login_as("onboarding")
    order = Tour.objects.get(slug="stuck-order").example_order
    html = client.get(f"/tours/follow/{order}/").content.decode()
    assert "c4-highlight" in html
    total = int(re.search(r'data-total="(\d+)"', html).group(1))
    last = client.get(f"/tours/follow/{order}/{total}/").content.decode()
    assert "c4-highlight" in _classes(last, "mes_api") and "Stopped at MES API" in last
    assert "Save this generated tour" not in last  # only architects save
    assert client.get(f"/tours/follow/{order}/{total + 1}/").status_code == 404
    for hostile in ("NOPE-1", "<script>alert(1)</script>", "%00", "a" * 500):
        assert client.get(f"/tours/follow/{hostile}/").status_code == 404
    assert client.post(f"/tours/follow/{order}/save/").status_code == 403


def test_an_architect_saves_and_edits_a_generated_tour(shipped, login_as, client):
    login_as("architect")
    order = Tour.objects.get(slug="retail-order").example_order
    assert "Save this generated tour" in client.get(f"/tours/follow/{order}/").content.decode()
    response = client.post(f"/tours/follow/{order}/save/", {"slug": "my-order", "title": "Mine"})
    assert response.status_code == 302 and response.url == "/tours/my-order/edit/"
    tour = Tour.objects.get(slug="my-order")
    assert tour.title == "Mine" and tour.example_order == order and tour.steps.count() > 3
    response = client.post(f"/tours/follow/{order}/save/", {"slug": "my-order"})
    assert Tour.objects.filter(slug="my-order").count() == 1  # a second save is refused

    page = client.get("/tours/my-order/edit/")
    document = json.loads(
        re.search(r"<textarea[^>]*>(.*?)</textarea>", page.content.decode(), re.S)
        .group(1)
        .replace("&quot;", '"')
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )
    document["steps"][0]["element"] = "warehouse"
    response = client.post("/tours/my-order/edit/", {"document": json.dumps(document)})
    assert response.status_code == 400
    assert "element &#x27;warehouse&#x27; is not in the model" in response.content.decode()
    document["steps"][0]["element"] = "crm"
    document["steps"][0]["title"] = "Edited"
    response = client.post("/tours/my-order/edit/", {"document": json.dumps(document)})
    assert response.status_code == 302
    first = tour.steps.get(number=1)
    assert (first.element, first.title) == ("crm", "Edited")
    assert client.post("/tours/my-order/edit/", {"document": "{"}).status_code == 400


def test_editing_needs_edit_model(shipped, login_as, client):
    login_as("onboarding")
    assert client.get("/tours/retail-order/edit/").status_code == 403


def test_progress_pages(shipped, login_as, client):
    user = login_as("onboarding")
    client.get("/tours/retail-order/2/")
    mine = client.get("/tours/progress/").content.decode()
    assert "A retail order, from cart to delivery" in mine and "What to learn next" in mine
    assert client.get("/tours/progress/all/").status_code == 403
    client.logout()
    login_as("administrator", username="admin-user")
    everyone = client.get("/tours/progress/all/").content.decode()
    assert user.username in everyone and "retail-order" in everyone
    assert client.get(f"/tours/progress/all/?user={user.username}").status_code == 200


def test_the_list_shows_what_to_learn_next(shipped, login_as, client):
    login_as("onboarding")
    html = client.get("/tours/").content.decode()
    assert html.index("retail-order") < html.index("partner-order") < html.index("stuck-order")
    assert "What to learn next" in html


@pytest.mark.parametrize(
    ("language", "status", "kind"), [("ru", "завершён", "сервер"), ("en", "complete", "server")]
)
def test_the_example_orders_status_and_span_kinds_follow_the_language(
    shipped, login_as, client, language, status, kind
):
    login_as("onboarding")
    client.cookies["django_language"] = language
    html = client.get("/tours/partner-order/2/").content.decode()
    assert f'<span class="status status-complete">{status}</span>' in html
    assert f"<td>{kind}</td>" in html
