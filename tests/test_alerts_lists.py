"""The alerts page's lists: open alerts first, the acknowledged ones apart, a page at a time;
an action confirmed by a message and answered back on the same page at the next card."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.testing import login_as
from explorer.alerts.models import Alert
from explorer.alerts.views import PAGE_SIZE

PAGE = "/alerts/"


def _stuck(number: int, **fields) -> Alert:
    at = timezone.now() - timedelta(minutes=number)  # the list is newest first: 1, 2, 3...
    order = f"A-{500000 + number}"
    return Alert.objects.create(
        kind="stuck",
        subject=order,
        order_id=order,
        opened_at=at,
        last_seen_at=at,
        facts={"state": "PACKAGING"},
        **fields,
    )


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


def _cards(html: str) -> list[str]:
    return re.findall(r'<li class="card alert-card[^"]*" id="alert-(\d+)"', html)


@pytest.fixture
def sixty(db):
    return [_stuck(n) for n in range(1, 61)]


def test_open_and_acknowledged_alerts_are_listed_apart_open_first(client, db):
    analyst = login_as(client, "analyst")
    _stuck(1)
    _stuck(2, acknowledged_by=analyst, acknowledged_at=timezone.now(), note="on it")
    html = client.get(PAGE).content.decode()
    opened, acknowledged = _section(html, "open-alerts"), _section(html, "acknowledged-alerts")
    assert html.index('id="open-alerts"') < html.index('id="acknowledged-alerts"')
    assert "A-500001" in opened and "A-500002" not in opened
    assert "A-500002" in acknowledged and "on it" in acknowledged
    assert "1 open alert<" in opened and "1 acknowledged, still open" in acknowledged
    # Only acknowledging asks first; updating a note does not.
    assert opened.count("data-confirm=") == 1 and "data-confirm=" not in acknowledged


def test_sixty_open_alerts_come_a_page_at_a_time(client, sixty):
    login_as(client, "analyst")
    first = _section(client.get(PAGE).content.decode(), "open-alerts")
    assert _cards(first) == [str(a.pk) for a in sixty[:PAGE_SIZE]]
    assert "60 open alerts" in first and "Page 1 of 6" in first
    assert "open_page=2&amp;ack_page=1#open-alerts" in first
    third = _section(client.get(PAGE + "?open_page=3").content.decode(), "open-alerts")
    assert _cards(third) == [str(a.pk) for a in sixty[2 * PAGE_SIZE : 3 * PAGE_SIZE]]
    assert "Page 3 of 6" in third
    past = _section(client.get(PAGE + "?open_page=99").content.decode(), "open-alerts")
    assert "Page 6 of 6" in past  # a page gone (alerts acknowledged meanwhile): the last


def test_acknowledging_confirms_and_returns_to_the_same_page_at_the_next_card(client, sixty):
    login_as(client, "analyst")
    html = client.get(PAGE + "?kind=stuck&open_page=3").content.decode()
    chosen, following = sixty[2 * PAGE_SIZE + 4], sixty[2 * PAGE_SIZE + 5]
    form = re.search(
        rf'action="/alerts/{chosen.pk}/acknowledge/"(.*?)</form>', html, re.DOTALL
    ).group(1)
    fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))
    assert fields["anchor"] == f"alert-{following.pk}" and fields["open_page"] == "3"
    response = client.post(f"/alerts/{chosen.pk}/acknowledge/", {**fields, "note": "seen"})
    assert response["Location"] == f"{PAGE}?kind=stuck&open_page=3#alert-{following.pk}"
    page = client.get(response["Location"])
    html = page.content.decode()
    assert f"Acknowledged: Stuck order {chosen.order_id}." in html
    assert "listed under the acknowledged alerts" in html
    assert str(following.pk) in _cards(_section(html, "open-alerts"))
    assert chosen.order_id in _section(html, "acknowledged-alerts")
    # Assigning stays at the card itself, on the page it was made on.
    response = client.post(
        f"/alerts/{following.pk}/assign/",
        {"assignee": "", "open_page": "3", "ack_page": "1", "anchor": f"alert-{following.pk}"},
    )
    assert response["Location"] == f"{PAGE}?open_page=3#alert-{following.pk}"
    assert (
        f"Assigned Stuck order {following.order_id} to nobody."
        in client.get(response["Location"]).content.decode()
    )


def test_a_hostile_anchor_or_page_is_dropped(client, sixty):
    login_as(client, "analyst")
    response = client.post(
        f"/alerts/{sixty[0].pk}/assign/",
        {"assignee": "", "open_page": "2x", "anchor": '"><script>', "kind": "nonsense"},
    )
    assert response["Location"] == PAGE


def test_the_lists_in_russian(client, sixty):
    login_as(client, "analyst")
    html = client.get(PAGE, headers={"accept-language": "ru"}).content.decode()
    assert "Страница 1 из 6" in html and "принятых, ещё открытых" in html
