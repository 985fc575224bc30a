"""Issue 17: trace text on pages and diagrams has no bidi controls and is length-capped;
downloads keep whole texts."""

import json

import pytest
from django.urls import reverse

from explorer.store.ingest import store_traces
from tests.web_support import tree_trace

TRACE = "cd" * 16
EVIL = "invoice\u202efdp.exe"


@pytest.fixture
def stored(db, settings):
    settings.EXPLORER_MAX_SHOWN_TEXT = 500
    trace = tree_trace(TRACE, fanout=1, depth=1, evil_name=EVIL)
    trace.spans[0].attributes["note"] = "n" * 5000 + "END"
    store_traces([trace])


def test_bidi_controls_never_reach_pages_or_diagrams(client, login_as, stored):
    login_as("support")
    page = client.get(reverse("web:trace", args=[TRACE])).content.decode()
    assert "\u202e" not in page and "invoice\ufffdfdp.exe" in page
    span = client.get(reverse("web:span", args=[TRACE, "s0"])).content.decode()
    assert "\u202e" not in span
    svg = client.get(reverse("web:trace_diagram_svg", args=[TRACE]))
    assert (
        "\u202e" not in b"".join(svg.streaming_content if svg.streaming else [svg.content]).decode()
    )


def test_long_texts_are_cut_on_pages_but_whole_in_downloads(client, login_as, stored):
    login_as("support")
    span = client.get(reverse("web:span", args=[TRACE, "s0"])).content.decode()
    assert "n" * 500 + "…" in span and "n" * 501 not in span and "END" not in span
    download = client.get(reverse("web:trace_json", args=[TRACE]))
    data = json.loads(
        b"".join(download.streaming_content) if download.streaming else download.content
    )
    root = next(s for s in data["spans"] if s.get("span_id", s.get("spanId")) == "s0")
    assert root["attributes"]["note"].endswith("END")


def test_a_trace_id_holding_a_customer_id_is_not_in_the_title(client, login_as, db):
    from accounts.testing import pseudonym_of

    store_traces([tree_trace("order-C-00241-t1", fanout=1, depth=1)])
    login_as("onboarding")
    page = client.get(reverse("web:trace", args=["order-C-00241-t1"])).content.decode()
    title = page[page.index("<title>") : page.index("</title>")]
    heading = page[page.index("<h1>") : page.index("</h1>")]
    assert "C-00241" not in title + heading
    assert pseudonym_of("C-00241") in heading
