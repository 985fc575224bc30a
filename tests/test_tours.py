"""Tours: the file format, references to the model, Markdown sanitising, generation from a
journey, example-order selectors and the `tours` command."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.mapping import DEFAULT_MAPPING, load_mapping
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.checking import check_states
from explorer.journeys.conformance import COMPLETE, LOST
from explorer.journeys.journey import service_container
from explorer.journeys.now import latest_time_ns
from explorer.journeys.state_graph import load_state_graph
from explorer.journeys.story import tell
from explorer.sources.memory import MemorySource
from explorer.tours.examples import SELECTOR_KEYS, find_example_order, order_facts
from explorer.tours.generate import tour_from_journey
from explorer.tours.loading import SHIPPED, shipped_files
from explorer.tours.models import Tour, TourProgress
from explorer.tours.progress import next_tours, record_visit
from explorer.tours.text import plain, render_markdown
from explorer.tours.tourfile import (
    TourFileError,
    check_references,
    export_document,
    parse_document,
    read_file,
)
from tests.tours_support import serve_from_memory, small_demo_traces

MODEL = load_model(DEFAULT_MODEL)
MAPPING = load_mapping(DEFAULT_MAPPING, MODEL)
GRAPH = load_state_graph(DEFAULT_MODEL.parent / "states.json")


def container_of(span):
    return MAPPING.service_element(span.resource) or service_container(span)


# What choosing an example order judges with (explorer.orders.service.JudgingConfig).
CONFIG = SimpleNamespace(graph=GRAPH, container_of=container_of)


def minimal(**step) -> dict:
    return {"slug": "t", "title": "T", "steps": [{"title": "S", "element": "shop_api", **step}]}


# --- the shipped tours -------------------------------------------------------------------


def test_three_shipped_tours_in_english_and_russian():
    tours = [t for path in shipped_files() for t in read_file(path)]
    assert {t.slug for t in tours} == {"retail-order", "partner-order", "stuck-order"}
    for tour in tours:
        assert tour.title and tour.title_ru and tour.example_selector
        for step in tour.steps:
            assert step.title and step.title_ru and step.text and step.text_ru, step.title
    assert any(s.question for t in tours for s in t.steps)


def test_shipped_steps_refer_only_to_elements_of_the_default_model():
    assert not MODEL.warnings
    for path in shipped_files():
        for tour in read_file(path):
            assert check_references(tour, MODEL.elements, GRAPH.names) == []
            used = {s.focus for s in tour.steps}
            assert used <= set(MODEL.elements)


def test_shipped_selectors_pick_orders_of_the_simulated_data():
    source = MemorySource(small_demo_traces())
    now = latest_time_ns(source)
    for path in shipped_files():
        (tour,) = read_file(path)
        order_id = find_example_order(source, tour.example_selector, CONFIG)
        assert order_id is not None, tour.slug
        journey = journey_for_order(source, order_id, container_of=container_of)
        facts = order_facts(journey, check_states(journey, GRAPH, now))
        assert all(facts[k] == v for k, v in tour.example_selector.items())
    stuck = read_file(SHIPPED / "03-stuck-order.json")[0]
    assert stuck.example_selector["status"] == LOST


# --- the file format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], "expected a JSON object"),
        ({"tours": {}}, "'tours' must be a list"),
        ({"slug": "Bad Slug", "title": "T", "steps": [{"title": "S", "element": "x"}]}, "'slug'"),
        ({"slug": "progress", "title": "T", "steps": [{"title": "S", "element": "x"}]}, "reserved"),
        ({"slug": "t", "steps": [{"title": "S", "element": "x"}]}, "'title' is required"),
        ({"slug": "t", "title": "T", "steps": []}, "'steps' must be a non-empty list"),
        (minimal(element=None), "step 1: needs an 'element' or a 'relationship'"),
        (minimal(relationship="shop_api"), "'relationship' must be"),
        (minimal(relationship="->shop_db"), "lacks a source or a target"),
        (minimal(state=3), "'state' must be a state name"),
        (
            minimal(
                question={"text": "Q", "choices": [{"text": "a"}, {"text": "b"}], "correct": 2}
            ),
            "'correct' must be the index",
        ),
        (
            minimal(question={"text": "Q", "choices": [{"text": "a"}], "correct": 0}),
            "'choices' must be a list of 2",
        ),
        ({**minimal(), "example_selector": {"colour": "red"}}, "unknown key(s) colour"),
        ({"tours": [minimal(), minimal()]}, "the slug is used twice"),
    ],
)
def test_malformed_documents_are_refused_with_where_and_what(document, expected):
    with pytest.raises(TourFileError) as caught:
        parse_document(document, "tours.json")
    assert expected in str(caught.value)
    assert all(p.startswith("tours.json: ") for p in caught.value.problems)


def test_every_problem_of_a_document_is_listed():
    document = {"tours": [{"slug": "a", "steps": [{"element": "x"}, "nonsense"]}]}
    with pytest.raises(TourFileError) as caught:
        parse_document(document)
    assert len(caught.value.problems) == 3  # tour title, step 1 title, step 2 not an object


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(TourFileError, match="cannot read"):
        read_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"tours": [', encoding="utf-8")
    with pytest.raises(TourFileError, match="broken.json: not valid JSON"):
        read_file(broken)


def test_references_the_model_lacks_are_named():
    (tour,) = parse_document(
        minimal(
            element="warehouse",
            relationship="shop_api->erp",
            state="TELEPORTED",
            question={
                "text": "Q",
                "correct": 0,
                "choices": [{"text": "a", "element": "shop_db"}, {"text": "b", "element": "moon"}],
            },
        )
    )
    problems = check_references(tour, MODEL.elements, GRAPH.names, "f.json")
    text = "\n".join(problems)
    assert "f.json: tour 't' step 1 ('S'): element 'warehouse' is not in the model" in text
    assert "relationship shop_api->erp: element 'erp'" in text
    assert "state 'TELEPORTED' is not in the state graph" in text
    assert "question choice 2: element 'moon'" in text
    assert len(problems) == 4


def test_export_round_trips():
    tours = [t for path in shipped_files() for t in read_file(path)]
    document = json.loads(json.dumps(export_document(tours)))
    assert parse_document(document) == tours


# --- Markdown ----------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href='#' onclick='alert(1)'>x</a>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "<a href=' javascript:alert(1)'>x</a>",
        "[data](data:text/html;base64,PHNjcmlwdD4=)",
        "<svg onload=alert(1)><circle/></svg>",
        "<iframe src='https://evil.example'></iframe>",
        "<p style='background:url(javascript:alert(1))'>x</p>",
        '**bold** <div onmouseover="alert(1)">hover</div>',
    ],
)
def test_markdown_with_scripts_handlers_or_javascript_links_renders_inert(text):
    html = render_markdown(text)
    for tag, attrs in _tags(html):
        assert tag not in {"script", "img", "svg", "iframe", "style", "div"}, html
        assert not any(name.startswith("on") or name == "style" for name in attrs), html
        href = attrs.get("href") or ""
        assert not href.strip().lower().startswith(("javascript:", "data:")), html
    assert "alert(1)</script" not in html


def test_markdown_keeps_formatting_and_links_to_own_pages():
    html = render_markdown(
        "**Shop API** sets `SUBMITTED`; see [the order](/orders/A-1/), [the map](../map/), "
        "[step 2](#step-2) and [docs](https://example.org/c4).\n\n- one\n- two"
    )
    assert "<strong>Shop API</strong>" in html and "<code>SUBMITTED</code>" in html
    assert 'href="/orders/A-1/"' in html and 'href="../map/"' in html
    assert 'href="#step-2"' in html
    # Issue 26: external links used to stay live; now only the explorer's own pages do.
    assert "example.org" not in html and ">docs</a>" in html
    assert "<li>one</li>" in html


@pytest.mark.parametrize(
    "link",
    [
        "[x](https://evil.example/login)",
        "[x](HTTP://evil.example)",
        "[x](//evil.example/login)",
        "[x](/\\evil.example/login)",
        "<a href='\\\\evil.example'>x</a>",
        "[x](javascript:alert(1))",
        "<a href='java&#x09;script:alert(1)'>x</a>",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](mailto:someone@evil.example)",
        "<https://evil.example/login>",
        "<a href=' /orders/'>x</a>",
    ],
)
def test_markdown_links_off_the_explorer_are_plain_text(link):
    html = render_markdown(f"see {link} now")
    assert "href" not in html, html
    assert html.startswith("<p>see ") and html.endswith(" now</p>")


def test_markdown_shows_control_characters_as_symbols():
    assert render_markdown("a\x1b[2J \u202eb\x07") == "<p>a\u241b[2J \ufffdb\u2407</p>"


# --- generated tours ---------------------------------------------------------------------


def _order_report(source, predicate):
    now = latest_time_ns(source)
    for order_id in source.attribute_values("order.id"):
        journey = journey_for_order(source, order_id, container_of=container_of)
        conformance = check_states(journey, GRAPH, now)
        if predicate(journey, conformance):
            return journey, conformance
    raise AssertionError("no such order in the simulated data")


def test_generated_tour_of_a_stuck_order_stops_at_the_container_where_it_stopped():
    source = MemorySource(small_demo_traces())
    journey, conformance = _order_report(
        source, lambda j, c: c.status == LOST and c.unconsumed[-1].container == "mes_api"
    )
    story = tell(journey, conformance, [])
    names = {"en": MODEL.names("en"), "ru": MODEL.names("ru")}
    tour = tour_from_journey(journey, conformance, story, names, MODEL.elements)
    last = tour.steps[-1]
    assert last.element == "mes_api"  # MES API sent the message CRM never received
    assert last.title == "Stopped at MES API"
    assert last.text == plain(story["en"]) and last.text_ru == plain(story["ru"])
    assert tour.example_order == journey.order_id
    assert check_references(tour, MODEL.elements, GRAPH.names) == []
    entered = [s.state for s in tour.steps if s.state]
    assert entered == [c.state for c in conformance.changes]


def test_generated_tour_of_a_complete_order_has_a_step_per_state_change():
    source = MemorySource(small_demo_traces())
    journey, conformance = _order_report(source, lambda j, c: c.status == COMPLETE)
    tour = tour_from_journey(
        journey, conformance, {"en": "story", "ru": "история"}, elements=MODEL.elements
    )
    states = [s.state for s in tour.steps if s.state]
    assert states[:-1] == [c.state for c in conformance.changes]
    assert tour.steps[-1].state == "CLOSED" and tour.steps[-1].element == "crm_api"
    assert all(s.element in MODEL.elements for s in tour.steps)
    assert len(tour.steps) <= 40
    # no container repeats between two state changes
    since: set[str] = set()
    for step in tour.steps[:-1]:
        if step.state:
            since = {step.element}
            continue
        assert step.element not in since
        since.add(step.element)


def test_trace_text_in_a_generated_tour_renders_as_text():
    source = MemorySource(small_demo_traces())
    journey, conformance = _order_report(source, lambda j, c: True)
    journey.steps[0].operation = "<script>alert(1)</script>`<img src=x onerror=alert(1)>"
    tour = tour_from_journey(journey, conformance, {"en": "", "ru": ""})
    html = render_markdown(tour.steps[0].text)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


# --- example orders ----------------------------------------------------------------------


def test_selectors():
    source = MemorySource(small_demo_traces())
    partner = find_example_order(source, {"source": "partner_api"}, CONFIG)
    journey = journey_for_order(source, partner, container_of=container_of)
    assert journey.steps[0].container == "mes_api" and journey.customer_type == "b2b_partner"
    assert find_example_order(source, {"customer_type": "nobody"}, CONFIG) is None
    assert find_example_order(MemorySource([]), {"status": "lost"}, CONFIG) is None
    with pytest.raises(ValueError, match="unknown selector key"):
        find_example_order(source, {"colour": "red"}, CONFIG)
    assert "lost_from" in SELECTOR_KEYS


# --- the command -------------------------------------------------------------------------


def _write(tmp_path, document, name="tours.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_import_refuses_a_step_bound_to_an_element_the_model_lacks(db, tmp_path, capsys):
    bad = _write(tmp_path, {"tours": [minimal(element="warehouse")]}, "bad.json")
    good = _write(tmp_path, {"tours": [{**minimal(), "slug": "good"}]}, "good.json")
    with pytest.raises(CommandError, match="1 problem"):
        call_command("tours", "import", str(bad), str(good))
    err = capsys.readouterr().err
    assert "bad.json: tour 't' step 1 ('S'): element 'warehouse' is not in the model" in err
    assert list(Tour.objects.values_list("slug", flat=True)) == ["good"]  # the other loaded


def test_import_needs_files(db):
    with pytest.raises(CommandError, match="name tour files"):
        call_command("tours", "import")


def test_import_shipped_chooses_example_orders_and_export_prints_the_shape(db, monkeypatch, capsys):
    serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    out = capsys.readouterr().out
    assert out.count("imported ") == 3
    call_command("tours", "export", "--json")
    exported = json.loads(capsys.readouterr().out)
    assert [t["slug"] for t in exported["tours"]] == [
        "retail-order",
        "partner-order",
        "stuck-order",
    ]
    for tour in exported["tours"]:
        assert {"slug", "title", "example_order", "steps"} <= set(tour)
        assert tour["example_order"] and tour["example_order"].startswith("A-")
        for step in tour["steps"]:
            assert {"title", "element", "relationship", "state"} <= set(step)
    retail = exported["tours"][0]["steps"]
    assert retail[2]["element"] == "shop_api" and retail[2]["state"] == "INITIATED"
    assert retail[2]["relationship"] == "internet_shop->shop_api"


def test_import_without_data_leaves_the_example_for_later(db, monkeypatch, capsys):
    serve_from_memory(monkeypatch, traces=[])
    call_command("tours", "import", "--shipped")
    assert "chosen again when the tour is played" in capsys.readouterr().err
    assert not Tour.objects.exclude(example_order="").exists()


def test_exported_tours_import_again(db, monkeypatch, tmp_path, capsys):
    serve_from_memory(monkeypatch)
    call_command("tours", "import", "--shipped")
    capsys.readouterr()
    call_command("tours", "export", "--json")
    first = capsys.readouterr().out
    path = tmp_path / "export.json"
    path.write_text(first, encoding="utf-8")
    Tour.objects.all().delete()
    call_command("tours", "import", str(path))
    capsys.readouterr()
    call_command("tours", "export", "--json")
    assert json.loads(capsys.readouterr().out) == json.loads(first)


def test_export_of_an_unknown_slug(db):
    with pytest.raises(CommandError, match="no tour with slug nope"):
        call_command("tours", "export", "--slug", "nope")


# --- progress ----------------------------------------------------------------------------


def test_progress_and_what_to_learn_next(db, monkeypatch):
    from accounts.testing import make_user

    serve_from_memory(monkeypatch, traces=[])
    call_command("tours", "import", "--shipped")
    user = make_user("onboarding")
    assert [t.tour.slug for t in next_tours(user)] == [
        "retail-order",
        "partner-order",
        "stuck-order",
    ]
    partner = Tour.objects.get(slug="partner-order")
    record_visit(user, partner, 2, partner.steps.count())
    assert [t.tour.slug for t in next_tours(user)][0] == "partner-order"  # started ones first
    retail = Tour.objects.get(slug="retail-order")
    progress = record_visit(user, retail, retail.steps.count(), retail.steps.count())
    assert progress.finished_at is not None
    assert "retail-order" not in [t.tour.slug for t in next_tours(user)]
    record_visit(user, retail, 1, retail.steps.count())  # revisiting keeps it finished
    progress = TourProgress.objects.get(user=user, tour=retail)
    assert progress.finished_at is not None and progress.last_step == 1
    assert progress.furthest_step == retail.steps.count()


@pytest.mark.slow
def test_shipped_selectors_match_orders_of_the_demo_data(tmp_path):
    """The demo's own arguments (`simulate --orders 500 --days 14 --until-days 14 --seed 7`)."""
    from explorer.simulation import SimulationConfig, simulate
    from explorer.traces.parsers import iter_file

    simulate(SimulationConfig(out=tmp_path, orders=500, days=14, seed=7, until_days=14))
    source = MemorySource(
        [
            trace
            for path in sorted(tmp_path.iterdir())
            for result in iter_file(path)
            for trace in result.traces
        ]
    )
    for path in shipped_files():
        (tour,) = read_file(path)
        assert find_example_order(source, tour.example_selector, CONFIG), tour.slug


def test_trace_text_in_a_generated_tour_renders_as_plain_text():
    """Issue 17 finding 11: a story (trace text) with Markdown or HTML links stays literal."""
    hostile = "[click](http://evil.example/) <a href='http://evil.example/'>x</a> ![i](/x.png)"
    source = MemorySource(small_demo_traces())
    journey, conformance = _order_report(source, lambda j, c: c.status == COMPLETE)
    tour = tour_from_journey(
        journey, conformance, {"en": hostile, "ru": hostile}, elements=MODEL.elements
    )
    for text in [tour.description, *(s.text for s in tour.steps)]:
        html = render_markdown(text)
        assert "<a" not in html and "<img" not in html
    assert render_markdown(tour.steps[-1].text) == (
        "<p>[click](http://evil.example/) &lt;a href='http://evil.example/'&gt;x&lt;/a&gt; "
        "![i](/x.png)</p>"
    )
    assert render_markdown(f"**{plain('SHIPPED](http://e/)')}**") == (
        "<p><strong>SHIPPED](http://e/)</strong></p>"
    )
