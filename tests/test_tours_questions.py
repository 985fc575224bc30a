"""A step's check question: the diagram keeps its answer until it is given, the tour's score
counts first tries, and the last step's summary is reachable from the top of the page."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from explorer.tours.models import Answer
from tests.tours_support import serve_from_memory

QUESTION_STEP = 8  # retail-order: "Which container may approve manufacturing?" (crm_api)
LAST_STEP = 11


@pytest.fixture
def shipped(db, monkeypatch):
    source = serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    return source


def _diagram(html: str) -> str:
    """The step's C4 diagram (not the example order's journey below it)."""
    start = html.index('<figure class="diagram tour-figure">')
    return html[start : html.index("</figure>", start)]


def test_the_answer_is_not_on_the_diagram_before_it_is_given(shipped, login_as, client):
    login_as("onboarding")
    url = f"/tours/retail-order/{QUESTION_STEP}/"
    html = client.get(url).content.decode()
    diagram = _diagram(html)
    assert "c4-highlight" not in diagram and "c4-dimmed" not in diagram
    assert 'id="tour-player" data-element=""' in html and 'data-relationship=""' in html
    assert "On the diagram" not in html and "Answer the question" in html
    client.post(f"{url}answer/", {"choice": "0"})  # wrong, but given: the step is shown
    html = client.get(url).content.decode()
    assert re.search(r'<g id="el(-|&#45;)crm_api" class="[^"]*c4-highlight', _diagram(html))
    assert "On the diagram" in html


def test_the_score_counts_first_tries(shipped, login_as, client):
    login_as("onboarding")
    client.post("/tours/retail-order/5/answer/", {"choice": "0"})  # right at once
    client.post(f"/tours/retail-order/{QUESTION_STEP}/answer/", {"choice": "0"})  # wrong
    client.post(f"/tours/retail-order/{QUESTION_STEP}/answer/", {"choice": "1"})  # then right
    answer = Answer.objects.get(question__step__number=QUESTION_STEP)
    assert answer.correct and not answer.first_correct
    retried = client.get(f"/tours/retail-order/{QUESTION_STEP}/").content.decode()
    assert "Right, at a later try" in retried
    html = client.get(f"/tours/retail-order/{LAST_STEP}/").content.decode()
    assert "Questions answered right at the first try: 1 of 2." in html
    client.post(f"/tours/retail-order/{QUESTION_STEP}/answer/", {"choice": "0"})  # wrong again
    html = client.get(f"/tours/retail-order/{LAST_STEP}/").content.decode()
    assert "right at the first try: 1 of 2." in html


def test_the_summary_comes_before_the_playback_with_a_link_at_the_top(shipped, login_as, client):
    login_as("onboarding")
    html = client.get(f"/tours/retail-order/{LAST_STEP}/").content.decode()
    link = html.index('id="tour-summary-link" href="#tour-ending"')
    summary = html.index('id="tour-ending"')
    assert link < html.index('<h1 class="tour-title">') < summary
    if 'id="journey"' in html:
        assert summary < html.index('id="journey"')
    assert 'id="tour-summary-link"' not in client.get("/tours/retail-order/3/").content.decode()


def test_the_player_in_russian(shipped, login_as, client):
    login_as("onboarding")
    html = client.get(
        f"/tours/retail-order/{QUESTION_STEP}/", headers={"accept-language": "ru"}
    ).content.decode()
    assert "Ответьте на вопрос" in html
    html = client.get(
        f"/tours/retail-order/{LAST_STEP}/", headers={"accept-language": "ru"}
    ).content.decode()
    assert "Итоги тура" in html
