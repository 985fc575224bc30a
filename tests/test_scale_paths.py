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
from explorer.orders import snapshot
from explorer.web import warmup


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


def cached_templates() -> set[str]:
    loader = engines["django"].engine.template_loaders[0]
    return {template.origin.template_name for template in loader.get_template_cache.values()}


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


def test_the_refresh_judges_with_the_collector_paused_and_restores_it(db, monkeypatch):
    seen = []
    judge = snapshot.judge_snapshot

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return judge(*args, **kwargs)

    monkeypatch.setattr(snapshot, "judge_snapshot", watched)
    snapshot.refresh_snapshot(get_source(), explorer_config())
    assert seen == [False]
    assert gc.isenabled()


def test_the_collector_is_restored_when_judging_fails():
    with pytest.raises(RuntimeError), snapshot.collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("judging failed")
    assert gc.isenabled()


def test_summed_sketches_equal_sketches_merged_one_by_one():
    from explorer.store.hourly_figures import Sketch

    sketches = [Sketch(), Sketch(), Sketch()]
    for i, durations in enumerate(([1, 5, 5, 10**9], [0, -3, 5, 7 * 10**12], [])):
        for duration in durations:
            sketches[i].add(duration)
    merged = Sketch()
    for sketch in sketches:
        merged.add_encoded(sketch.encode())
    assert Sketch.summed(s.encode() for s in sketches).bins == merged.bins
    assert Sketch.summed([]).bins == {}
