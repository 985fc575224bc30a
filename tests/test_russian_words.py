"""Russian pages say the data's codes in Russian: order statuses, customer types and channels in
the order lists and on the home page, and upload problems wholly in the page's language (the
parsers' English never shows); a value the explorer does not know is shown as it is, escaped."""

import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from explorer.store.ingest import store_traces
from explorer.web.parse_problems import SENTENCES, said
from explorer.web.templatetags.journey_names import channel_name, customer_type_name
from tests.journey_support import DAY, OrderBuilder
from tests.test_web_pages import stored, text  # noqa: F401 - the fixture is used by name
from tests.test_web_uploads import otlp, upload

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


BROKEN = [
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}', "bad-span.json"),
    (b'{"resourceSpans": [', "cut.json"),
    (b'{"hello": "world"}', "other.json"),
    (b"\x00\x01\x02 not traces", "binary.bin"),
    (b"", "empty.json"),
    (b'{"resourceSpans": 3}', "shape.json"),
]


@pytest.mark.parametrize("data, name", BROKEN)
def test_upload_problems_are_wholly_russian(client, login_as, data, name):
    login_as("support")
    client.cookies["django_language"] = "ru"
    page = upload(client, data, name)
    assert page.status_code == 400
    body = text(page)
    problems = re.findall(r"<li>(.*?)</li>", body.split('class="form-error"')[1].split("</ul>")[0])
    assert problems
    for problem in problems:
        # What is left once the file name and the data's own names are taken out: Russian.
        words = re.sub(
            re.escape(name) + r"|\w*\[\d+\]|\b(?:JSON|OTLP|protobuf|Jaeger|Zipkin)\b|"
            r"resourceSpans|spans|scopeSpans|traceId|spanId|name|processes|&#x27;|"
            r"&quot;|gzip",
            " ",
            problem,
        )
        assert not re.search(r"[A-Za-z]{3,}", words), problem
        assert re.search("[а-яё]{3,}", problem), problem


def test_upload_problems_in_english_on_english_pages(client, login_as):
    login_as("support")
    body = text(upload(client, b'{"resourceSpans": [', "cut.json"))
    assert "cut.json, byte" in body and "truncated JSON" in body


def test_a_partly_broken_upload_lists_its_problems_in_the_language_of_each_visit(client, login_as):
    login_as("support")
    lines = otlp("11" * 16) + b"\n" + b'{"resourceSpans": [{"scopeSpans": [{"spans": [{}]}]}]}'
    page = upload(client, lines, "mixed.jsonl")
    assert page.status_code == 302
    english = text(client.get(page.url))
    assert "mixed.jsonl, line 2" in english and "missing field" in english
    client.cookies["django_language"] = "ru"
    russian = text(client.get(page.url))
    assert "mixed.jsonl, строка 2" in russian and "нет поля" in russian
    assert "missing field" not in russian


def test_every_problem_code_has_a_sentence():
    from explorer.traces import problems

    documented = re.findall(r"^    (\w+)  ", problems.__doc__ or "", re.M)
    assert set(documented) <= set(SENTENCES) and "unreadable" in documented
    kept = {"source": "f.json", "position": "", "code": "no-such-code", "params": {}}
    with translation.override("en"):
        assert said(kept) == "f.json: this part cannot be read"
    assert said("an old upload's English text") == "an old upload's English text"
    assert json.dumps(kept)  # kept problems are plain data
