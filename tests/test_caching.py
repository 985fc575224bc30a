"""explorer.caching: bounds by weight and time, one key builder, invalidation by signal, one
reset; and the configuration loaded once per configuration version."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest
from django.core.cache import caches

from accounts.redaction import DEFAULT_CONFIG, build_policy
from explorer import caching
from explorer.caching import LocalCache, SharedCache, cache_key, configuration_version, reset_caches
from explorer.configuration import explorer_config
from explorer.traces.model import Resource


def test_a_local_cache_is_bounded_by_weight_oldest_use_out_first():
    local: LocalCache[str] = LocalCache("test", max_weight=10, weigh=len)
    local.put("a", "x" * 4)
    local.put("b", "y" * 4)
    assert local.get("a") == "xxxx"  # now "b" is the least recently used
    local.put("c", "z" * 4)
    assert local.get("b") is None and local.get("a") == "xxxx" and local.get("c") == "zzzz"


def test_a_local_cache_keeps_one_entry_heavier_than_its_bound():
    local: LocalCache[str] = LocalCache("test", max_weight=3, weigh=len)
    local.put("a", "ab")
    local.put("big", "x" * 100)
    assert local.get("big") == "x" * 100 and local.get("a") is None and len(local) == 1


def test_a_local_cache_forgets_after_its_time(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(caching.time, "monotonic", lambda: clock[0])
    local: LocalCache[int] = LocalCache("test", max_weight=10, seconds=5)
    local.put("a", 1)
    clock[0] = 104.9
    assert local.get("a") == 1
    clock[0] = 105.1
    assert local.get("a") is None and len(local) == 0


def test_a_shared_cache_does_not_keep_values_over_its_weight():
    shared = SharedCache("default", 60, max_weight=4, weigh=len)
    shared.put("explorer:test:small", b"1234")
    shared.put("explorer:test:big", b"12345")
    assert shared.get("explorer:test:small") == b"1234"
    assert shared.get("explorer:test:big") is None


def test_keys_differ_by_redaction_policy_and_language_and_are_hashed():
    masked = build_policy(DEFAULT_CONFIG, show_identifiers=False)
    shown = build_policy(DEFAULT_CONFIG, show_identifiers=True)
    other_keys = build_policy({**DEFAULT_CONFIG, "identifier_keys": ["x"]}, False)
    keys = {
        cache_key("journey", "store", "A-1", policy=p, language=lang)
        for p in (masked, shown, other_keys)
        for lang in ("en", "ru")
    }
    assert len(keys) == 6
    assert cache_key("journey", "store", "A-1", policy=masked, language="en") in keys
    assert all(k.startswith("explorer:journey:") and "A-1" not in k for k in keys)
    with pytest.raises(ValueError, match="cache kind"):
        cache_key("map:<script>")


@pytest.mark.django_db
def test_an_edited_mapping_rule_changes_the_version_and_the_configuration():
    from explorer.c4.models import MappingRule

    before, config = configuration_version(), explorer_config()
    key = cache_key("journey", "A-1")
    assert explorer_config() is config  # loaded once per version
    MappingRule.objects.create(
        section="services", position=0, element="shop_api", match={"service.name": "renamed-shop"}
    )
    assert configuration_version() != before and cache_key("journey", "A-1") != key
    changed = explorer_config()
    assert changed is not config and changed.mapping_problem is None
    assert changed.mapping.service_element(Resource("renamed-shop")) == "shop_api"
    assert config.mapping.service_element(Resource("renamed-shop")) is None
    version = configuration_version()
    MappingRule.objects.all().delete()
    assert configuration_version() != version


@pytest.mark.django_db
def test_a_changed_tour_changes_the_version():
    from explorer.tours.models import Tour

    before = configuration_version()
    tour = Tour.objects.create(slug="t", title="T")
    assert configuration_version() != before
    between = configuration_version()
    tour.delete()
    assert configuration_version() != between


@pytest.mark.django_db
def test_a_broken_mapping_in_the_admin_is_logged_and_kept_as_a_problem(caplog):
    from explorer.c4.models import MappingRule

    MappingRule.objects.create(
        section="services",
        position=0,
        element="no_such_element",
        match={"service.name": "shop-api"},
    )
    with caplog.at_level(logging.ERROR, logger="explorer.c4"):
        config = explorer_config()
    assert config.mapping_problem and "no_such_element" in config.mapping_problem
    assert config.mapping.services  # the file's mapping serves meanwhile
    record = next(r for r in caplog.records if r.name == "explorer.c4")
    assert record.exc_info is not None  # with its traceback


def test_reset_caches_empties_local_and_shared_caches_and_registered_state():
    local: LocalCache[int] = LocalCache("test", max_weight=10)
    local.put("a", 1)
    caches["default"].set("explorer:test", 1)
    caches["traces"].set("explorer:test", 1)
    state = {"kept": 1}
    caching.on_reset(state.clear)
    try:
        reset_caches()
    finally:
        caching._resets.remove(state.clear)
    assert local.get("a") is None and state == {}
    assert caches["default"].get("explorer:test") is None
    assert caches["traces"].get("explorer:test") is None


def test_the_architect_sees_a_broken_mapping_in_the_admin(client, login_as):
    from django.urls import reverse

    from explorer.c4.models import MappingRule

    MappingRule.objects.create(
        section="services",
        position=0,
        element="no_such_element",
        match={"service.name": "shop-api"},
    )
    login_as("architect")
    body = client.get(reverse("admin:c4_mappingrule_changelist")).content.decode()
    assert "The mapping rules below are broken" in body and "no_such_element" in body
    MappingRule.objects.all().delete()
    body = client.get(reverse("admin:c4_mappingrule_changelist")).content.decode()
    assert "The mapping rules below are broken" not in body


def test_redaction_policies_are_built_once_kept_bounded_and_emptied_by_reset(settings):
    from django.contrib.auth.models import AnonymousUser

    from accounts import redaction

    viewer = AnonymousUser()
    first = redaction.policy_for_user(viewer)
    assert redaction.policy_for_user(viewer) is first  # built once per settings
    reset_caches()
    assert redaction.policy_for_user(viewer) is not first
    for n in range(20):
        settings.EXPLORER_REDACTION = {**DEFAULT_CONFIG, "identifier_keys": [f"key-{n}"]}
        assert f"key-{n}" in redaction.policy_for_user(viewer).identifier_keys
    assert len(redaction._policies) <= 8


def test_a_count_is_per_kind_and_parts_outlives_an_edit_and_ends_with_reset():
    counts = SharedCache("default", 60)
    assert [counts.count("tries", 1) for _ in range(3)] == [1, 2, 3]
    assert counts.count("tries", 2) == 1 and counts.count("other", 1) == 1
    caching.configuration_changed()  # an edited tour does not start a count again
    assert counts.count("tries", 1) == 4
    reset_caches()
    assert counts.count("tries", 1) == 1


def test_a_count_starts_again_after_its_window(monkeypatch):
    counts = SharedCache("default", 60)
    counts.count("tries", 1)
    counts.backend.delete(caching.counter_key("tries", 1))  # as the window's end does
    assert counts.count("tries", 1) == 1


def test_the_receiver_keeps_its_settings_until_reset(settings):
    from explorer.receiver import storing

    settings.EXPLORER_RECEIVER_MODE = "full"
    assert storing._config().mode == "full"
    settings.EXPLORER_RECEIVER_MODE = "index"
    assert storing._config().mode == "full"  # read once: settings do not change at run time
    reset_caches()
    assert storing._config().mode == "index"


ROOT = Path(__file__).resolve().parent.parent


def _functools_memos() -> dict[str, tuple[ast.FunctionDef, ast.expr]]:
    """Every function of explorer/ and accounts/ decorated with a functools cache, by
    qualified name, with its decorator."""
    found = {}
    root = ROOT
    for path in sorted([*root.glob("explorer/**/*.py"), *root.glob("accounts/**/*.py")]):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                called = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = ast.unparse(called)
                if name in ("cache", "lru_cache", "functools.cache", "functools.lru_cache"):
                    found[f"{module}.{node.name}"] = (node, decorator)
    return found


def test_every_functools_memo_is_one_the_architecture_names_and_is_bounded():
    docs = (ROOT / "docs" / "architecture.md").read_text()
    line = next(line for line in docs.splitlines() if line.startswith("Allowed functools memos:"))
    named = set(re.findall(r"`([\w.]+)`", line))
    memos = _functools_memos()
    assert set(memos) == named
    for name, (function, decorator) in memos.items():
        if isinstance(decorator, ast.Call):  # lru_cache(maxsize=...): a number, not None
            sizes = [k.value for k in decorator.keywords if k.arg == "maxsize"]
            sizes += decorator.args[:1]
            assert sizes and isinstance(sizes[0], ast.Constant), name
            assert isinstance(sizes[0].value, int), name
        else:  # functools.cache: only of no argument, so it holds one value
            assert not function.args.args, name


@pytest.mark.django_db
def test_the_mapping_the_store_reads_follows_the_configuration_version():
    from explorer.c4.configured import current_mapping
    from explorer.c4.models import MappingRule

    kept = current_mapping()
    assert current_mapping() is kept  # loaded once per version
    assert kept.service_element(Resource("renamed-shop")) is None
    MappingRule.objects.create(
        section="services", position=0, element="shop_api", match={"service.name": "renamed-shop"}
    )
    assert current_mapping().service_element(Resource("renamed-shop")) == "shop_api"
    assert explorer_config().mapping.rules == current_mapping().rules
