"""One colour per service: the mapping's services first and distinct, others stable by name,
and the stylesheet's classes the same palette."""

import re
from pathlib import Path

from explorer.web.service_colours import PALETTE, colour_classes, colour_index, mapped_services

CSS = Path(__file__).resolve().parent.parent / "static" / "web" / "web.css"


def test_the_mappings_services_take_distinct_colours_in_its_order(db):
    mapped = mapped_services()  # Alexandrite's mapping (explorer/alexandrite/mapping.json)
    assert mapped == ["internet-shop", "shop-api", "crm", "crm-api", "mes-api", "mes"]
    classes = colour_classes([*mapped, "unmapped-service"])
    assert [classes[s] for s in mapped] == [f"svc-{n}" for n in range(6)]
    assert classes["unmapped-service"] in {"svc-6", "svc-7", "svc-8"}


def test_other_services_take_a_free_colour_stable_by_name():
    mapped = ["a", "b", "c"]
    first = colour_index("payment-gateway", mapped)
    assert first == colour_index("payment-gateway", mapped)
    assert 3 <= first < len(PALETTE)  # never one of the mapped services' colours
    assert {colour_index(f"svc{n}", mapped) for n in range(200)} == set(range(3, len(PALETTE)))
    # a mapping naming every colour leaves none free: the hash spreads over all of them
    assert 0 <= colour_index("x", [str(n) for n in range(12)]) < len(PALETTE)


def test_the_stylesheet_has_the_same_palette():
    found = dict(re.findall(r"\.svc-(\d+) \{ --svc: (#[0-9a-f]{6}); \}", CSS.read_text()))
    assert [found[str(n)] for n in range(len(PALETTE))] == list(PALETTE)
