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
        assert "c4-highlight" in node.get_attribute("class").split(), (number, step.focus)
        dimmed = page.locator(".tour-diagram svg .c4-dimmed")
        assert dimmed.count() > 0
        assert page.locator("progress").get_attribute("value") == str(number)
        if step.question:  # answer by clicking the right element on the diagram
            right = step.question.choices[step.question.correct].element
            page.locator(f'.tour-diagram svg [id="el-{right}"]').click()
            page.wait_for_selector("#check-result.is-correct")
            screenshot(page, f"tour-retail-step-{number}-answered")
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
