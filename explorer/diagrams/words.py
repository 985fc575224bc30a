"""The fixed words of a diagram in English and Russian (framework-free: the renderer and the
`c4 diagram --lang` command have no Django translation machinery to lean on)."""

from __future__ import annotations

from explorer.journeys.story import russian_plural

LANGUAGES = ("en", "ru")

_RU = {
    "Person": "Человек",
    "Software System": "Программная система",
    "Container": "Контейнер",
    "Component": "Компонент",
    "External": "Внешний",
    "Boundary": "Граница",
    "Legend": "Легенда",
    "person": "человек",
    "software system": "программная система",
    "container (database: cylinder, queue: pipe)": "контейнер (БД: цилиндр, очередь: труба)",
    "component": "компонент",
    "external element": "внешний элемент",
    "relationship in the model": "связь из модели",
    "calls of this order: count, total, slowest": "вызовы заказа: число, всего, самый долгий",
    "undocumented call (not in the model)": "вызов, которого нет в модели",
    "undocumented call": "вызов не из модели",
    "state change": "смена состояния",
    "error": "ошибка",
    "SLA breach": "нарушение SLA",
    "anomaly": "аномалия",
    "where the order is now": "где заказ сейчас",
    "total": "всего",
    "max": "макс.",
    "ms": "мс",
    "s": "с",
    "error: %s": "ошибка: %s",
    "SLA: %s": "SLA: %s",
    "violation: %s": "нарушение: %s",
    "anomaly: %s": "аномалия: %s",
    "+%d more": "ещё %d",
    "Order %s": "Заказ %s",
    "System map": "Карта системы",
    "min": "мин",
    "h": "ч",
    "err": "ош.",
    # the system map's legend: what its figures and lines mean
    "calls in the window: rate · errors · p95": "вызовы за период: частота · ошибки · p95",
    "call seen in traces, not in the model": "вызов из трасс, которого нет в модели",
    "selected element": "выбранный элемент",
    # the kinds of violations of the state graph (explorer.journeys.conformance)
    "transition not allowed": "недопустимый переход",
    "state skipped": "пропущено состояние",
    "state repeated": "повтор состояния",
    "set by the wrong system": "установлено не той системой",
    "transition backwards": "переход назад",
    "systems disagree": "системы расходятся",
    "ok": "успешно",
    # a single trace's legend
    "calls of this trace: count, total, slowest": "вызовы трассы: число, всего, самый долгий",
}

_RU_PLURAL = {
    "call": ("вызов", "вызова", "вызовов"),
    "error": ("ошибка", "ошибки", "ошибок"),
    "state": ("состояние", "состояния", "состояний"),
}


def language(code: str | None) -> str:
    """The diagram language of a page's language code ('ru-ru' -> 'ru'; else English)."""
    return "ru" if (code or "en").lower().startswith("ru") else "en"


def word(text: str, lang: str) -> str:
    """`text` in `lang` (English is the key; unknown words stay English)."""
    return _RU.get(text, text) if lang == "ru" else text


VIOLATIONS = {
    "transition_not_allowed": "transition not allowed",
    "state_skipped": "state skipped",
    "state_repeated": "state repeated",
    "wrong_system": "set by the wrong system",
    "transition_backwards": "transition backwards",
    "systems_disagree": "systems disagree",
}


def violation(kind: str, lang: str) -> str:
    """A kind of violation in words ('state_skipped' -> 'state skipped', 'пропущено состояние')."""
    return word(VIOLATIONS.get(kind, kind.replace("_", " ")), lang)


def outcome(text: str, lang: str) -> str:
    """A call's outcome: 'ok', 'error 503' or 'HTTP 201', the words in `lang`."""
    head, _, rest = text.partition(" ")
    return " ".join(filter(None, [word(head, lang) if head in ("ok", "error") else head, rest]))


def count(n: int, noun: str, lang: str) -> str:
    """'1 call', '3 calls'; '1 вызов', '3 вызова', '5 вызовов'."""
    if lang == "ru":
        return f"{n} {russian_plural(n, _RU_PLURAL[noun])}"
    return f"{n} {noun}{'' if n == 1 else 's'}"


def decimal(value: float, digits: int, lang: str) -> str:
    """A number with `digits` decimals: '5.0', in Russian '5,0'."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "ru" else text


def milliseconds(duration_ns: int, lang: str) -> str:
    """A step's duration: '0.8 ms', '45 ms', '2.3 s' (Russian: '0,8 мс')."""
    ms = duration_ns / 1e6
    if ms >= 1000:
        text, unit = decimal(ms / 1000, 1, lang), "s"
    else:
        text, unit = decimal(ms, 0 if ms >= 10 else 1, lang), "ms"
    return f"{text} {word(unit, lang)}"
