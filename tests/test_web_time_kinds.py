"""Every time says which clock it is of: the data's ("now" is the newest trace) or the real
clock ({% data_time %}, {% clock_time %}, {% time_kind %}: explorer/web/templatetags)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.template import engines
from django.urls import reverse
from django.utils import timezone, translation

from explorer.alerts.models import Alert
from explorer.store.ingest import store_traces
from tests.journey_support import complete_order
from tests.web_support import tree_trace

TRACE_ID = "ab" * 16
DATA = re.compile(r'<time class="time time-data" datetime="[^"]+" title="Data time[^"]*">')
CLOCK = re.compile(r'<time class="time time-clock" datetime="[^"]+" title="Clock time[^"]*">')


def render(source: str, **context) -> str:
    return engines["django"].from_string("{% load explorer_format %}" + source).render(context)


@pytest.fixture
def stored(db):
    store_traces([*complete_order("A-100001", customer_id="C-00123").traces, tree_trace(TRACE_ID)])
    call_command("orders", "--refresh", stdout=io.StringIO())


def test_the_tags_say_the_kind_in_the_viewers_zone_and_language():
    moment = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
    with timezone.override("Asia/Yekaterinburg"), translation.override("en"):
        shown = render("{% data_time t %}", t=int(moment.timestamp()) * 10**9)
        assert DATA.search(shown) and 'datetime="2025-03-05T10:00:00+00:00"' in shown
        assert '2025-03-05 15:00:00</time> <small class="time-kind">(data time)</small>' in shown
        assert CLOCK.search(render('{% clock_time t "H:i" %}', t=moment))
        assert render('{% data_time t "H:i" mark=False %}', t="2025-03-05T10:00:00Z").endswith(
            ">15:00</time>"
        )
    assert render("{% data_time t %}|{% clock_time t %}", t=None) == "—|—"
    assert render("{% data_time t as x %}[{{ x }}]", t=0).startswith("[<time")
    with translation.override("ru"):
        assert "(время данных)" in render("{% data_time t %}", t=0)
        assert "(реальное время)" in render('{% time_kind "clock" %}')


def test_the_trace_page_home_and_order_pages_say_data_time(client, login_as, stored):
    login_as("analyst")
    trace = client.get(reverse("web:trace", args=[TRACE_ID])).content.decode()
    assert DATA.search(trace) and "(data time)" in trace
    home = client.get(reverse("web:home")).content.decode()
    note = home[home.index('class="muted snapshot-note"') :][:1500]
    assert CLOCK.search(note) and DATA.search(note)  # computed (clock) from traces up to (data)
    listed = client.get(reverse("web:order_list") + "?status=complete").content.decode()
    assert CLOCK.search(listed) and DATA.search(listed) and "(data time)</small></th>" in listed
    order = client.get(reverse("web:order", args=["A-100001"])).content.decode()
    assert len(DATA.findall(order)) >= 3 and "(data time)</small></th>" in order


def test_the_alerts_page_says_clock_time(client, login_as, db):
    now = timezone.now()
    Alert.objects.create(
        kind="stuck", subject="A-1", order_id="A-1", opened_at=now, last_seen_at=now, facts={}
    )
    login_as("analyst")
    html = client.get("/alerts/", headers={"accept-language": "ru"}).content.decode()
    assert len(CLOCK.findall(html.replace('title="Реальное время', 'title="Clock time'))) == 2
    assert "(реальное время)" in html
