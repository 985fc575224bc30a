"""The checks of the page suite (tests/pages_support.py, tests/pages_checks.js) see what they
look for, and nothing else, on pages made for the purpose."""

import pytest

from tests.pages_support import Vocabulary, chrome_words, page_findings, po_entries

FAULTY = """<!doctype html><html lang="ru"><body style="margin:0">
<p>p95 88…</p><p>слишком длинный текст без цифр…</p><p>S3.GetObject, S3.HeadObj…</p>
<p>anomaly: POST 5.0 s (u… (+1)</p><p>всего 17 мс · макс. 5,4 …</p>
<div style="width:2000px">широкий</div>
<p><input placeholder="A-100042, 4bf92f35…"></p>
<p>Карта: System map</p><p lang="en">English</p><code>shop-api POST /api/orders</code>
<svg width="400" height="200" viewBox="0 0 400 200">
  <g class="node"><text x="100" y="100" font-size="12">всего 537 мс</text></g>
  <g class="edge"><path fill="none" stroke="black" d="M80,96 L260,96"/>
    <text x="150" y="150" font-size="12">своя подпись</text></g>
  <g class="edge"><path fill="none" stroke="black" d="M170,130 L170,195"/>
    <text x="160" y="185" font-size="12">own label</text></g>
</svg></body></html>"""

CLEAN = """<!doctype html><html lang="ru"><body style="margin:0">
<p>p95 88 мс</p><p>Загрузка…</p><p>Числа с … по …: 5</p><p>S3.PutObj…</p>
<p>UPSERT orders ×2, SELECT price_r…</p>
<svg width="400" height="200" viewBox="0 0 400 200">
  <g class="node"><text x="100" y="100" font-size="12">всего 537 мс</text></g>
  <g class="edge"><path fill="none" stroke="black" d="M80,140 L260,140"/>
    <text x="150" y="130" font-size="12">своя подпись</text></g>
</svg></body></html>"""


def vocabulary() -> Vocabulary:
    chrome = frozenset({"system", "map", "order", "progress"})
    return Vocabulary(chrome, ["Shop API"], frozenset({"order_items"}))


def test_english_words_leave_out_data():
    words = vocabulary().english_words
    assert words("Карта: System map") == ["System", "map"]
    assert words("Shop API · A-100042 · CLOSED · order_items · ord…") == []
    assert words("in_progress") == ["progress"]
    assert words("1.0/h · 0.0% err · p95 2 ms") == ["err", "h", "1.0", "0.0"]
    assert words("+4.7 d · 5.0 s · 09.03 21:40:37 · 1,0/ч · 5,0 с · S3.PutObject") == [
        "d",
        "s",
        "4.7",
        "5.0",
    ]


def test_chrome_words_are_the_translated_msgids_words():
    entries = [("System map", "Карта системы"), ("SLA", "SLA"), ("p95 of %(name)s", "p95 %(name)s")]
    assert chrome_words(entries) == frozenset({"system", "map", "of"})


def test_the_shipped_translations_give_chrome_words():
    words = chrome_words(po_entries())
    assert {"order", "map", "calls"} <= words
    assert not {"sla", "json", "csv"} & words  # the Russian keeps them
    assert {"legend", "person"} <= chrome_words()  # the diagrams' own words


@pytest.mark.browser
def test_the_checks_find_each_fault(page):
    page.set_viewport_size({"width": 420, "height": 900})
    page.set_content(FAULTY)
    found = page_findings(page, ("test", "view"), vocabulary(), "ru")
    by_check: dict[str, list[str]] = {}
    for finding in found:
        by_check.setdefault(finding.check, []).append(finding.what)
    assert len(by_check["scroll"]) == 1 and "широкий" in by_check["scroll"][0]
    assert [w.rsplit(" (", 1)[0] for w in by_check["cut"]] == [
        "p95 88…",
        "anomaly: POST 5.0 s (u… (+1)",
        "всего 17 мс · макс. 5,4 …",
    ]
    crossings = by_check["crossing"]
    assert any('crosses text "всего 537 мс"' in c for c in crossings)  # a node's text
    assert any('crosses text "своя подпись"' in c for c in crossings)  # another edge's label
    assert not any('crosses text "own label"' in c for c in crossings)  # its own label
    assert len(crossings) == 2
    assert [w.split(" in ")[0] for w in by_check["english"]] == ["'s 5.0'", "'System map'"]


@pytest.mark.browser
def test_the_checks_pass_a_clean_page(page):
    page.set_viewport_size({"width": 420, "height": 900})
    page.set_content(CLEAN)
    assert page_findings(page, ("test", "view"), vocabulary(), "ru") == []


@pytest.mark.browser
def test_a_data_name_late_in_a_long_text_is_data(page):
    page.set_content(f"<html lang='ru'><p>{'я ' * 40}Shop: receive orders.submitted</p></html>")
    words = Vocabulary(frozenset({"orders"}), ["receive orders.submitted"])
    assert page_findings(page, ("test", "view"), words, "ru") == []
