import pytest

from explorer.web.formatting import format_count, format_duration, russian_plural


@pytest.mark.parametrize(
    ("ns", "en", "ru"),
    [
        (850_000, "850 µs", "850 мкс"),
        (12_000_000, "12 ms", "12 мс"),
        (3_400_000_000, "3.4 s", "3,4 с"),
        (90 * 60 * 10**9, "1.5 h", "1,5 ч"),
        (2 * 86_400 * 10**9, "2 d", "2 дня"),
        (5 * 86_400 * 10**9, "5 d", "5 дней"),
        (36 * 3600 * 10**9, "1.5 d", "1,5 дня"),
        (21 * 86_400 * 10**9, "21 d", "21 день"),
        (int(5.96 * 86_400 * 10**9), "6 d", "6 дней"),  # the form of the number shown
        (int(1.04 * 86_400 * 10**9), "1 d", "1 день"),
        (-2_000_000, "-2 ms", "-2 мс"),
        (None, "—", "—"),
        (500, "500 ns", "500 нс"),
    ],
)
def test_durations_are_readable_in_both_languages(ns, en, ru):
    assert format_duration(ns, "en") == en
    assert format_duration(ns, "ru") == ru


def test_russian_plural_rules():
    forms = ("день", "дня", "дней")
    assert [russian_plural(n, forms) for n in (1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 111)] == [
        "день",
        "дня",
        "дня",
        "дней",
        "дней",
        "дней",
        "дней",
        "день",
        "дня",
        "дней",
        "дней",
    ]


def test_counts_group_thousands():
    assert format_count(1234567) == "1,234,567"
    assert format_count(1234567, "ru") == "1\u00a0234\u00a0567"
    assert format_count(0.5) == "0.50"
