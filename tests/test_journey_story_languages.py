"""Texts written in English and Russian at once (an order's story, a generated tour, an alert's
e-mail and webhook) name each container in the language of the half they are in: the model's
Russian name in the Russian half, its own (English) one in the English half and wherever the
model has no Russian name."""

from __future__ import annotations

import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from explorer.alerts.delivery import email_text, payload
from explorer.alerts.models import Alert, AlertRule
from explorer.c4.models import ModelText
from explorer.configuration import explorer_config
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.checking import check_states
from explorer.journeys.story import tell
from explorer.orders.service import judge_order
from explorer.sources.memory import MemorySource
from explorer.store.ingest import store_traces
from explorer.tours.generate import tour_from_journey
from tests.journey_support import GRAPH, HOUR, T0, OrderBuilder, S
from tests.test_web_pages import stored, text  # noqa: F401 - the fixture is used by name

BUSINESS = ["order.id", "customer.id", "customer.type"]


def shop_order() -> OrderBuilder:
    """An order the Internet Shop (Russian name in the shipped model) started, then Shop API
    (no Russian name: a proper name) moved on."""
    b = OrderBuilder("A-1", "C-9", "vip")
    b.state("internet-shop", "POST /checkout", 0, "INITIATED", None)
    b.state("shop-api", "PUT /api/orders/{id}/model", 60, "FILE_UPLOADED", "INITIATED")
    return b


@pytest.mark.django_db
def test_story_of_an_order_names_containers_in_each_halfs_language():
    source = MemorySource(shop_order().traces, business_keys=BUSINESS)
    story = judge_order(source, "A-1", explorer_config(), use_stored_reference=False).summary
    assert "Internet Shop set it to INITIATED." in story["en"]
    assert "Система Интернет-магазин перевела его в состояние INITIATED." in story["ru"]
    assert "Internet Shop" not in story["ru"] and "Интернет" not in story["en"]
    # no Russian name in the model: the model's own in both halves
    assert "1 min later Shop API moved it to FILE_UPLOADED." in story["en"]
    assert "система Shop API перевела его в состояние FILE_UPLOADED" in story["ru"]


def test_story_falls_back_to_the_english_name_without_a_russian_one():
    journey = journey_for_order(MemorySource(shop_order().traces, business_keys=BUSINESS), "A-1")
    conformance = check_states(journey, GRAPH, T0 + HOUR * S)
    english = {"internet_shop": "Web shop", "shop_api": "Shop API"}
    for names in (
        {"en": english},
        {"en": english, "ru": {"shop_api": "API магазина"}},
    ):
        story = tell(journey, conformance, [], names=names)
        assert "Система Web shop перевела его в состояние INITIATED." in story["ru"]
    assert "система API магазина перевела его" in story["ru"]
    assert "Shop API moved it to FILE_UPLOADED" in story["en"]
    # no names at all: readable ids, as before
    assert "Internet Shop set it to INITIATED" in tell(journey, conformance, [])["en"]


@pytest.mark.django_db
def test_generated_tour_names_containers_in_each_language():
    source = MemorySource(shop_order().traces, business_keys=BUSINESS)
    config = explorer_config()
    journey = journey_for_order(source, "A-1", container_of=config.container_of)
    conformance = check_states(journey, config.graph, T0 + HOUR * S)
    names = config.names_by_language
    story = tell(journey, conformance, [], names=names)
    tour = tour_from_journey(journey, conformance, story, names, config.model.elements)
    first = tour.steps[0]
    assert (first.title, first.title_ru) == (
        "Internet Shop: INITIATED",
        "Интернет-магазин: INITIATED",
    )
    assert "**Internet Shop** handled" in first.text
    assert "Система **Интернет\\-магазин** выполнила" in first.text_ru  # Markdown-escaped
    assert tour.steps[-1].title_ru == "Остановка: Shop API"  # no Russian name: the model's own


def test_order_page_tells_the_story_with_the_pages_names(client, login_as, stored):  # noqa: F811
    ModelText.objects.create(subject="shop_api", language="ru", name="API магазина")
    login_as("analyst")
    client.cookies["django_language"] = "ru"
    body = text(client.get(reverse("web:order", args=["A-100001"])))
    assert "Система API магазина перевела его в состояние INITIATED." in body
    client.cookies["django_language"] = "en"
    body = text(client.get(reverse("web:order", args=["A-100001"])))
    assert "Shop API set it to INITIATED." in body and "магазина" not in body


def lost_alert(**values) -> Alert:
    return Alert.objects.create(
        kind="lost_message",
        subject="A-300001",
        opened_at=timezone.now(),
        last_seen_at=timezone.now(),
        order_id="A-300001",
        container="internet_shop",
        operation="POST /checkout",
        facts={
            "messages": [
                {
                    "destination": "orders.new",
                    "producer": "internet_shop",
                    "at_ns": 1741170000 * 10**9,
                    "trace_id": "t1",
                    "consumers": ["mes_api"],
                }
            ]
        },
        **values,
    )


@pytest.mark.django_db
def test_alert_texts_name_containers_in_each_language():
    alert = lost_alert()
    names = explorer_config().names
    with override("ru"):  # whatever the language of the cycle that sends it
        body = email_text(alert, names)
        sent = payload(alert, names, customer_ids=False)
    english, russian = body.split("\n—\n")
    assert "Internet Shop" in english and "Интернет-магазин" not in english
    assert "Интернет-магазин" in russian and "Internet Shop" not in russian
    assert "MES API" in russian  # no Russian name: the model's own
    assert "Интернет-магазин" in sent["summary"]["ru"]
    assert "Internet Shop" in sent["summary"]["en"] and "Интернет" not in sent["text"]
    assert sent["alert"]["endpoint"] == "Internet Shop: POST /checkout"


@pytest.mark.django_db
def test_alert_cycle_sends_russian_names_in_the_russian_text(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    AlertRule.objects.update(recipient_roles="", recipient_emails="oncall@alexandrite.example")
    ModelText.objects.create(subject="shop_api", language="ru", name="API магазина")
    lost = OrderBuilder("A-200002", "C-00778", "retail")
    lost.state("shop-api", "POST /api/orders", 0, "INITIATED", None)
    lost.produce("shop-api", 120)
    late = OrderBuilder("A-200003")  # moves "now" past the message's limit
    late.state("shop-api", "POST /api/orders", 5 * 24 * 3600, "INITIATED", None)
    store_traces([*lost.traces, *late.traces])
    call_command("watch", "--once", stdout=io.StringIO())
    [message] = [m for m in mail.outbox if "A-200002" in m.subject]
    english, russian = message.body.split("\n—\n")
    assert "Shop API" in english and "API магазина" not in english
    assert "API магазина" in russian
    assert "API магазина" not in message.subject
