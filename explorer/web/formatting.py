"""Readable numbers and durations for pages, in English and Russian. Framework-free."""

from __future__ import annotations

from explorer.journeys.story import russian_plural

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# (unit length in ns, English unit, Russian forms for 1 / 2-4 / 5+)
_UNITS = [
    (86_400 * NS_PER_S, "d", ("день", "дня", "дней")),
    (3_600 * NS_PER_S, "h", ("ч", "ч", "ч")),
    (60 * NS_PER_S, "min", ("мин", "мин", "мин")),
    (NS_PER_S, "s", ("с", "с", "с")),
    (NS_PER_MS, "ms", ("мс", "мс", "мс")),
    (1_000, "µs", ("мкс", "мкс", "мкс")),
]


def _number(value: float, language: str) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"
    return text.replace(".", ",") if language == "ru" else text


def format_duration(ns: int | float | None, language: str = "en") -> str:
    """A duration in the largest unit that keeps it readable: '850 µs', '12 ms', '3.4 s', '2 d'."""
    if ns is None:
        return "—"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    for unit_ns, english, russian in _UNITS:
        if ns >= unit_ns:
            value = ns / unit_ns
            number = _number(value, language)
            if language == "ru":
                if "," in number:
                    # Fractions take the genitive singular: "1,5 дня".
                    return f"{sign}{number} {russian[1]}"
                # The form agrees with the number shown: 5.96 days is "6 дней".
                return f"{sign}{number} {russian_plural(int(number), russian)}"
            return f"{sign}{number} {english}"
    return f"{sign}{int(ns)} ns" if language != "ru" else f"{sign}{int(ns)} нс"


def format_count(n: int | float, language: str = "en") -> str:
    """Thousands grouped: 1,234,567 in English, 1 234 567 in Russian."""
    text = f"{n:,.0f}" if isinstance(n, int) or float(n).is_integer() else f"{n:,.2f}"
    if language == "ru":
        return text.replace(",", "\u00a0").replace(".", ",")
    return text
