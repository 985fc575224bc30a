"""The journey of an order told in plain English and Russian, from templates (no language model).

Written for new staff: who ordered through which channel, which system set each state and how
long after the previous one, what was slow or failed, and where and why the order stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from explorer.journeys.anomalies import Anomaly
from explorer.journeys.conformance import COMPLETE, LOST, STUCK, Conformance, StateChange, Violation
from explorer.journeys.journey import Journey

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# (unit in ns, English singular, English plural, Russian accusative forms for 1 / 2-4 / 5+);
# "через 1 минуту", "через 2 минуты", "уже 5 минут"; a fraction takes the 2-4 form ("1,5 часа").
_UNITS = [
    (86_400 * NS_PER_S, "day", "days", ("день", "дня", "дней")),
    (3_600 * NS_PER_S, "h", "h", ("час", "часа", "часов")),
    (60 * NS_PER_S, "min", "min", ("минуту", "минуты", "минут")),
    (NS_PER_S, "s", "s", ("секунду", "секунды", "секунд")),
    (NS_PER_MS, "ms", "ms", ("миллисекунду", "миллисекунды", "миллисекунд")),
]

# Containers through which orders enter, and how the story names the channel.
DEFAULT_CHANNELS = {
    "internet_shop": ("the Internet Shop", "интернет-магазин"),
    "shop_api": ("the Internet Shop", "интернет-магазин"),
    "mes_api": ("the partner API", "партнёрский API"),
}
CUSTOMER_TYPES = {
    "retail": ("a retail customer", "розничного покупателя"),
    "b2b_partner": ("a B2B partner", "B2B-партнёра"),
    "vip": ("a VIP customer", "VIP-клиента"),
}
_MAX_SENTENCES_PER_KIND = 3


def russian_plural(n: int, forms: tuple[str, str, str]) -> str:
    """Russian plural form for n: 1 день, 2 дня, 5 дней, 11 дней, 21 день."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def duration_words(ns: float, language: str) -> str:
    """'2 s', '1.5 h', '3 days' in English; '2 секунды', '1,5 часа', '3 дня' in Russian."""
    ns = max(ns, 0)
    for unit_ns, singular, plural, russian in _UNITS:
        if ns >= unit_ns or unit_ns == NS_PER_MS:
            value = ns / unit_ns
            value = round(value, 1) if value < 10 else round(value)
            whole = value == int(value)
            text = f"{int(value)}" if whole else f"{value:.1f}"
            if language == "ru":
                form = russian_plural(int(value), russian) if whole else russian[1]
                return f"{text.replace('.', ',')} {form}"
            return f"{text} {singular if value == 1 else plural}"
    raise AssertionError("unreachable: the last unit always matches")


def container_name(element: str, names: Mapping[str, str]) -> str:
    """The C4 name of a container, or a readable form of its id ('mes_api' -> 'MES API')."""
    if element in names:
        return names[element]
    return " ".join(w.upper() if len(w) <= 3 else w.capitalize() for w in element.split("_"))


# Element id -> name, per language ("en", "ru"): the story's halves name each container in
# their own language (the English names where a language has none).
NamesByLanguage = Mapping[str, Mapping[str, str]]


class Named(NamedTuple):
    """A container's name in each half of the story."""

    en: str
    ru: str


def name_in_languages(element: str, names: NamesByLanguage) -> Named:
    """A container's name in English and in Russian (the English one where Russian has none)."""
    english = container_name(element, names.get("en", {}))
    return Named(english, names.get("ru", {}).get(element, english))


@dataclass(slots=True)
class _Teller:
    names: NamesByLanguage

    def name(self, element: str) -> Named:
        return name_in_languages(element, self.names)

    def violation(self, v: Violation) -> tuple[str, str]:
        who = self.name(v.container)
        if v.kind == "state_repeated":
            return (
                f"{who.en} set {v.state} again although the order was already in it.",
                f"Система {who.ru} повторно установила состояние {v.state}, хотя заказ уже "
                f"был в нём.",
            )
        if v.kind == "state_skipped":
            return (
                f"{who.en} moved the order from {v.previous} to {v.state}, skipping {v.other}.",
                f"Система {who.ru} перевела заказ из {v.previous} в {v.state}, "
                f"пропустив {v.other}.",
            )
        if v.kind == "transition_backwards":
            return (
                f"{who.en} moved the order back from {v.previous} to {v.state}.",
                f"Система {who.ru} вернула заказ из {v.previous} назад в {v.state}.",
            )
        if v.kind == "wrong_system":
            setters = [self.name(o) for o in (v.other or "").split(", ") if o]
            allowed = Named(", ".join(n.en for n in setters), ", ".join(n.ru for n in setters))
            return (
                f"{v.state} was set by {who.en}, but only {allowed.en} may set it.",
                f"Состояние {v.state} установила система {who.ru}, хотя это может делать "
                f"только {allowed.ru}.",
            )
        if v.kind == "systems_disagree":
            return (
                f"{who.en} believed the order was in {v.other} when it moved it to {v.state}, "
                f"but it was in {v.previous}: the systems disagree about the state.",
                f"Система {who.ru} считала, что заказ в состоянии {v.other}, и перевела его в "
                f"{v.state}, но он был в {v.previous}: системы расходятся в состоянии.",
            )
        return (
            f"{who.en} moved the order from {v.previous} to {v.state}, which the state graph "
            f"does not allow.",
            f"Система {who.ru} перевела заказ из {v.previous} в {v.state}, а граф "
            f"состояний такого перехода не допускает.",
        )

    def anomaly(self, a: Anomaly) -> tuple[str, str]:
        who = self.name(a.container)
        times = a.duration_ns / a.median_ns if a.median_ns > 0 else 0
        factor_en = (
            f", {times:.0f} times the usual {duration_words(a.median_ns, 'en')}"
            if times >= 2
            else f", usually {duration_words(a.median_ns, 'en')}"
        )
        factor_ru = f", обычно {duration_words(a.median_ns, 'ru')}"
        return (
            f"'{a.operation}' in {who.en} took {duration_words(a.duration_ns, 'en')}"
            f"{factor_en}: atypically slow.",
            f"«{a.operation}» в системе {who.ru} заняла {duration_words(a.duration_ns, 'ru')}"
            f"{factor_ru}: нетипично долго.",
        )


def violation_said(v: Violation, names: NamesByLanguage | None = None) -> dict[str, str]:
    """One violation of the state graph said as the story says it: {"en": ..., "ru": ...}."""
    english, russian = _Teller(names or {}).violation(v)
    return {"en": english, "ru": russian}


def tell(
    journey: Journey,
    conformance: Conformance,
    anomalies: list[Anomaly],
    channels: Mapping[str, tuple[str, str]] = DEFAULT_CHANNELS,
    names: NamesByLanguage | None = None,
) -> dict[str, str]:
    """The story of one journey: {"en": ..., "ru": ...}, each half naming the containers in its
    own language (`names`: {"en": {id: name}, "ru": {id: name}})."""
    teller = _Teller(names or {})
    opening = _opening(journey, channels, teller)
    if opening is None:
        sentences = [
            (
                f"Order {journey.order_id}: no trace of it was found.",
                f"Заказ {journey.order_id}: ни одной трассы о нём не найдено.",
            )
        ]
    else:
        sentences = [
            opening,
            *_state_sentences(conformance.changes, teller),
            *_trouble_sentences(journey, conformance, anomalies, teller),
            _ending(journey, conformance, teller),
        ]
    return {"en": " ".join(en for en, _ in sentences), "ru": " ".join(ru for _, ru in sentences)}


def _opening(
    journey: Journey, channels: Mapping[str, tuple[str, str]], teller: _Teller
) -> tuple[str, str] | None:
    """Who ordered and through which channel; None when the journey has no step at all."""
    customer_en, customer_ru = CUSTOMER_TYPES.get(
        journey.customer_type or "",
        (f"a customer of type {journey.customer_type}", f"клиента типа {journey.customer_type}")
        if journey.customer_type
        else ("an unknown customer", "неизвестного клиента"),
    )
    who_en = f" ({journey.customer_id})" if journey.customer_id else ""
    entry = journey.steps[0].container if journey.steps else None
    channel = channels.get(entry or "") or (tuple(teller.name(entry)) if entry else None)
    if channel is None:
        return None
    return (
        f"Order {journey.order_id} from {customer_en}{who_en}, submitted through {channel[0]}.",
        f"Заказ {journey.order_id} от {customer_ru}{who_en}, оформлен через {channel[1]}.",
    )


def _state_sentences(changes: list[StateChange], teller: _Teller) -> list[tuple[str, str]]:
    """Each state change, with the time since the one before."""
    if not changes:
        return [
            (
                "No state change of the order was recorded.",
                "Ни одной смены состояния заказа не записано.",
            )
        ]
    first = teller.name(changes[0].container)
    sentences = [
        (
            f"{first.en} set it to {changes[0].state}.",
            f"Система {first.ru} перевела его в состояние {changes[0].state}.",
        )
    ]
    for before, change in pairwise(changes):
        who = teller.name(change.container)
        gap = change.at_ns - before.at_ns
        sentences.append(
            (
                f"{duration_words(gap, 'en').capitalize()} later {who.en} moved it to "
                f"{change.state}.",
                f"Через {duration_words(gap, 'ru')} система {who.ru} перевела его в состояние "
                f"{change.state}.",
            )
        )
    return sentences


def _trouble_sentences(
    journey: Journey, conformance: Conformance, anomalies: list[Anomaly], teller: _Teller
) -> list[tuple[str, str]]:
    """The violations, the errors and the atypical steps, a few of each kind."""
    sentences = [teller.violation(v) for v in conformance.violations[: _MAX_SENTENCES_PER_KIND * 2]]
    errors = [s for s in journey.steps if s.outcome == "error"]
    for step in errors[:_MAX_SENTENCES_PER_KIND]:
        who = teller.name(step.container)
        sentences.append(
            (
                f"{who.en} reported an error in '{step.operation}'.",
                f"Система {who.ru} сообщила об ошибке в «{step.operation}».",
            )
        )
    sentences.extend(teller.anomaly(a) for a in anomalies[:_MAX_SENTENCES_PER_KIND])
    return sentences


def _ending(journey: Journey, conformance: Conformance, teller: _Teller) -> tuple[str, str]:
    if not conformance.changes:
        return ("Its state is unknown.", "Его состояние неизвестно.")
    last = conformance.dwells[-1]
    if conformance.status == COMPLETE:
        total = last.start_ns - conformance.changes[0].at_ns
        return (
            f"The order reached its final state {last.state} "
            f"{duration_words(total, 'en')} after it began.",
            f"Заказ дошёл до конечного состояния {last.state} за {duration_words(total, 'ru')}.",
        )
    waiting_en = (
        f"the order has been waiting in {last.state} for {duration_words(last.duration_ns, 'en')}"
    )
    waiting_ru = f"заказ ждёт в состоянии {last.state} уже {duration_words(last.duration_ns, 'ru')}"
    if last.limit_ns is not None:
        if last.over_limit:
            waiting_en += f", over its limit of {duration_words(last.limit_ns, 'en')}"
            waiting_ru += f", дольше лимита в {duration_words(last.limit_ns, 'ru')}"
        else:
            waiting_en += f", within its limit of {duration_words(last.limit_ns, 'en')}"
            waiting_ru += f", в пределах лимита в {duration_words(last.limit_ns, 'ru')}"
    if conformance.status == LOST:
        message = conformance.unconsumed[-1]
        sender = teller.name(message.container)
        return (
            f"The message to '{message.destination}' sent by {sender.en} was never consumed; "
            f"{waiting_en}.",
            f"Сообщение в «{message.destination}» от системы {sender.ru} так и не было получено; "
            f"{waiting_ru}.",
        )
    if conformance.status == STUCK:
        return (f"The order is stuck: {waiting_en}.", f"Заказ застрял: {waiting_ru}.")
    return (f"The order is in progress: {waiting_en}.", f"Заказ в работе: {waiting_ru}.")
