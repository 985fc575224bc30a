"""What the scale benchmark's figures rest on (issue 29 item 5, docs/benchmark.md): the
server's warm-up before its first request, and `orders --refresh` judging with the garbage
collector paused. The speed itself is the benchmark's (`BENCH_ONLY=scale`), not a test's."""

import gc

import pytest
from django.template import engines
from django.urls import get_resolver, reverse
from django.utils import translation

from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.journeys.assembly import journey_for_order
from explorer.journeys.bulk import TraceSet
from explorer.journeys.lookups import order_ids
from explorer.journeys.reporting import sampled_journeys
from explorer.orders import snapshot
from explorer.sources.base import TraceQuery
from explorer.store.hourly_figures import Sketch
from explorer.store.ingest import store_traces
from explorer.web import warmup
from tests.scenario_support import scenario


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


def cached_templates() -> set[str]:
    """Names of the templates the cached loader holds; it also keeps misses of earlier tests
    (TemplateDoesNotExist, the class), which are not templates."""
    loader = engines["django"].engine.template_loaders[0]
    cache = loader.get_template_cache.values()
    return {found.origin.template_name for found in cache if hasattr(found, "origin")}


def test_the_warm_up_compiles_every_project_template_and_fills_the_urls(db, unfrozen):
    names = warmup.project_templates()
    assert {"base.html", "web/sla.html", "web/journey.html"} <= set(names)

    done = warmup.warm_up()

    assert done.templates == len(names)
    assert set(names) <= cached_templates()
    assert done.url_patterns > 100
    for code in ("en", "ru"):
        assert code in get_resolver()._reverse_dict  # filled in each language
    with translation.override("ru"):
        assert reverse("web:sla").endswith("/sla/")
    assert done.configured
    assert gc.get_freeze_count() > 0


def test_a_template_that_does_not_compile_is_logged_not_fatal(caplog, tmp_path, settings):
    broken = tmp_path / "broken.html"
    broken.write_text("{% if %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    assert warmup.compile_templates(["broken.html"]) == 0
    assert "broken.html does not compile" in caplog.text


def test_the_refresh_judges_with_the_collector_paused(db, monkeypatch):
    seen = []
    judge = snapshot.judge_snapshot

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return judge(*args, **kwargs)

    monkeypatch.setattr(snapshot, "judge_snapshot", watched)
    snapshot.refresh_snapshot(get_source(), explorer_config())
    assert seen == [False]  # turned back on afterwards: tests/test_gcpause.py


def test_summed_sketches_equal_sketches_merged_one_by_one():
    sketches = [Sketch(), Sketch(), Sketch()]
    for i, durations in enumerate(([1, 5, 5, 10**9], [0, -3, 5, 7 * 10**12], [])):
        for duration in durations:
            sketches[i].add(duration)
    merged = Sketch()
    for sketch in sketches:
        merged.add_encoded(sketch.encode())
    assert Sketch.summed(s.encode() for s in sketches).bins == merged.bins
    assert Sketch.summed([]).bins == {}


# 30 orders over 3 days with lost messages: consumer traces without order.id, reached by links.
SAMPLED = {"orders": 30, "days": 3, "seed": 11}


@pytest.fixture(scope="module")
def simulated_traces(simulation):
    return simulation(**SAMPLED).traces()


def journey_facts(journey) -> tuple:
    return (
        journey.trace_ids,
        [(s.trace_id, s.span_id) for s in journey.spans],
        sorted(journey.shared),
        journey.warnings,
        journey.customer_type,
        [(s.trace_id, s.span_id) for s in journey.steps],
    )


def test_orders_read_in_bulk_assemble_the_journeys_read_one_by_one(db, simulated_traces):
    store_traces(simulated_traces)
    source = get_source()
    simulated_orders = order_ids(source)
    consumer = scenario("trace-with-consumer-without-order")  # reached by its link alone
    store_traces(consumer)
    orders = sorted(set(order_ids(source)) - set(simulated_orders)) + simulated_orders
    assert len(orders) == 31

    # the store's bulk look-ups answer what its single look-ups answer
    ids = [t.trace_id for t in (*simulated_traces, *consumer)]
    singles = {t: source.linking_traces(t) for t in ids}
    assert source.linking_traces_of(ids) == {t: found for t, found in singles.items() if found}
    everything = [s.trace_id for s in source.search(TraceQuery(limit=10**9))]
    assert source.trace_ids() == everything
    some = orders[:7]
    assert source.traces_with_values("order.id", some) == sorted(
        {s.trace_id for o in some for s in source.find_traces("order.id", o)}
    )

    held = TraceSet.read_for_orders(source, some, 3)
    assert len(held) < len(ids)  # only what these orders need
    config = explorer_config()
    one_by_one = [journey_for_order(source, o, container_of=config.container_of) for o in some]
    in_bulk = sampled_journeys(source, some, config.container_of)
    assert [journey_facts(j) for j in in_bulk] == [journey_facts(j) for j in one_by_one]
    by_order_id = set(source.traces_with_values("order.id", some))
    assert {t for j in in_bulk for t in j.trace_ids} - by_order_id  # some reached by links only


def test_arrivals_read_at_once_equal_arrivals_read_in_slices(db, simulated_traces, monkeypatch):
    from explorer.store import source as store_source

    store_traces([*simulated_traces, *scenario("trace-with-consumer-without-order")])
    source = get_source()

    def arrivals() -> list:
        found = source.arrivals_since(None, "order.id")
        return sorted((a.trace_id, sorted(a.values), sorted(a.links)) for a in found)

    monkeypatch.setattr(store_source, "_SCAN_FROM", 10**9)
    in_slices = arrivals()
    monkeypatch.setattr(store_source, "_SCAN_FROM", 0)
    at_once = arrivals()
    assert at_once == in_slices
    assert any(links for _, _, links in at_once) and any(values for _, values, _ in at_once)
