"""Russian pages say the data's codes in Russian: order statuses, customer types and channels in
the order lists and on the home page; a value the explorer does not know is shown as it is,
escaped."""

import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from explorer.store.ingest import store_traces
from explorer.web.templatetags.journey_names import channel_name, customer_type_name
from tests.journey_support import DAY, OrderBuilder
from tests.test_web_pages import stored, text  # noqa: F401 - the fixture is used by name

CODES = ("in_progress", "b2b_partner", "retail", "partner_api", ">shop<", "complete", "stuck")


def _visible(body: str) -> str:
    """The page's text as a reader sees it: no tags, attributes, scripts or styles."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", "><", body)


@pytest.fixture
def many_kinds(db):
    """Orders of every kind the lists show, of each customer type and channel."""
    traces = []
    for n, (ctype, service) in enumerate(
        [("retail", "shop-api"), ("b2b_partner", "mes-api"), ("vip", "shop-api")]
    ):
        order = OrderBuilder(f"A-2000{n}", f"C-0{n}", customer_type=ctype)
        order.state(service, "POST /api/orders", n * DAY, "INITIATED", None)
        traces += order.traces
    late = OrderBuilder("A-20009", "C-09")
    late.state("shop-api", "POST /api/orders", 9 * DAY, "INITIATED", None)
    store_traces([*traces, *late.traces])
    call_command("orders", "--refresh", verbosity=0)


def test_russian_order_lists_say_status_type_and_channel_in_russian(client, login_as, many_kinds):
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    for kind in ("stuck", "in_progress", "complete", "lost", "anomalous"):
        body = _visible(text(client.get(reverse("web:order_list"), {"status": kind})))
        for code in CODES:
            assert code not in body, (kind, code)
    stuck = text(client.get(reverse("web:order_list"), {"status": "stuck"}))
    assert "розничный" in stuck and "интернет-магазин" in stuck and "партнёрский API" in stuck
    home = _visible(text(client.get(reverse("web:home"))))
    for code in CODES:
        assert code not in home, code
    assert "B2B-партнёр" in home


def test_unknown_values_are_shown_as_they_are_and_escaped():
    assert customer_type_name("<b>gold</b>") == "<b>gold</b>"  # the template escapes it
    assert channel_name("kiosk") == "kiosk"
    assert customer_type_name("") == "—"


def test_the_home_search_offers_customer_types_in_russian(client, login_as, stored):  # noqa: F811
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:home")))
    select = body[body.index('id="f-ctype"') : body.index("</select>", body.index('id="f-ctype"'))]
    assert ">розничный<" in select and 'value="b2b_partner"' in select
    assert ">retail<" not in select and ">b2b_partner<" not in select
