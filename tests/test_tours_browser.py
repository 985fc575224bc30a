"""Plays a shipped tour to the end in Chromium as an onboarding user."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from explorer.tours.models import Answer, Tour, TourProgress
from explorer.tours.persist import spec_of
from tests.browser_support import log_in, screenshot
from tests.tours_support import serve_from_memory


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_onboarding_user_plays_the_retail_tour_to_the_end(page, live_server, monkeypatch):
    serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    tour = Tour.objects.get(slug="retail-order")
    steps = spec_of(tour).steps
    user = log_in(page, live_server.url, "onboarding")

    page.goto(f"{live_server.url}/tours/retail-order/")  # starts at step 1
    for number, step in enumerate(steps, start=1):
        page.wait_for_url(f"**/tours/retail-order/{number}/")
        node = page.locator(f'.tour-diagram svg [id="el-{step.focus}"]')
        assert page.locator("progress").get_attribute("value") == str(number)
        if step.question:  # the answer is not shown: answer by clicking it on the diagram
            assert page.locator(".tour-diagram svg .c4-highlight").count() == 0, number
            right = step.question.choices[step.question.correct].element
            page.locator(f'.tour-diagram svg [id="el-{right}"]').click()
            page.wait_for_selector("#check-result.is-correct")
            screenshot(page, f"tour-retail-step-{number}-answered")
        assert "c4-highlight" in node.get_attribute("class").split(), (number, step.focus)
        dimmed = page.locator(".tour-diagram svg .c4-dimmed")
        assert dimmed.count() > 0
        if number == 1:
            screenshot(page, "tour-retail-step-1")
        if number < len(steps):
            page.keyboard.press("n" if number % 2 else "ArrowRight")
    screenshot(page, "tour-retail-last-step")
    assert page.locator("#tour-next").count() == 0

    page.keyboard.press("p")  # and back
    page.wait_for_url(f"**/tours/retail-order/{len(steps) - 1}/")

    progress = TourProgress.objects.get(user=user, tour=tour)
    assert progress.finished_at is not None
    assert progress.furthest_step == len(steps) and progress.last_step == len(steps) - 1
    answers = Answer.objects.filter(progress=progress)
    assert answers.count() == sum(1 for s in steps if s.question)
    assert all(a.correct for a in answers)

    page.goto(f"{live_server.url}/tours/progress/")
    assert "A retail order, from cart to delivery" in page.locator("#tour-progress").inner_text()


WIDE = {"width": 1366, "height": 768}
NARROW = {"width": 420, "height": 900}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_player_in_russian_controls_score_and_summary(page, live_server, monkeypatch):
    """A retried answer is not a first-try score; the last step's summary is one click away
    from the top; the Answer button is a site button; Russian at 1366 and 420 (screenshots
    tour-player-ru-*.png)."""
    serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    log_in(page, live_server.url, "onboarding")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/tours/retail-order/8/")
    page.select_option("#language-select", "ru")
    page.click(".language-form button")
    page.wait_for_selector("text=Ответьте на вопрос")
    answer = page.locator("#check button[type=submit]")
    assert "button" in answer.get_attribute("class").split()
    native = page.evaluate("getComputedStyle(document.createElement('button')).backgroundColor")
    assert answer.evaluate("b => getComputedStyle(b).backgroundColor") != native
    assert page.locator(".tour-diagram svg .c4-highlight").count() == 0
    screenshot(page, "tour-player-ru-wide-question")
    page.locator("#check input[name=choice]").first.check()  # wrong: MES API
    answer.click()
    page.wait_for_selector("#check-result.is-wrong")
    assert page.locator(".tour-diagram svg .c4-highlight").count() == 1  # answered: shown
    page.locator("#check input[name=choice]").nth(1).check()
    page.locator("#check button[type=submit]").click()
    page.wait_for_selector("#check-result.is-correct")
    assert "не с первой попытки" in page.inner_text("#check-result")
    page.set_viewport_size(NARROW)
    screenshot(page, "tour-player-ru-narrow-answered")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"] + 1

    page.goto(f"{live_server.url}/tours/retail-order/11/")
    link = page.locator("#tour-summary-link")
    assert link.is_visible() and link.bounding_box()["y"] < NARROW["height"]
    link.click()
    summary = page.locator("#tour-ending")
    box = summary.bounding_box()
    assert 0 <= box["y"] < NARROW["height"] / 2, box
    assert "Верно с первой попытки: 0 из 1." in summary.inner_text()
    screenshot(page, "tour-player-ru-narrow-summary")
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/tours/retail-order/11/")
    screenshot(page, "tour-player-ru-wide-last-step")
    page.click("#tour-summary-link")
    assert 0 <= page.locator("#tour-ending").bounding_box()["y"] < WIDE["height"] / 2
    screenshot(page, "tour-player-ru-wide-summary")
