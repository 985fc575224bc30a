"""Optional source features are capability protocols; a source wrapping another (its cache, the
receiver's index) has exactly the capabilities of the source inside plus those it answers
itself, so a cached backend loses none of them and shows nothing beyond the interface."""

from __future__ import annotations

import pytest

from explorer.composition import get_source
from explorer.journeys.assembly import journey_for_order
from explorer.receiver.index import IndexedSource, IndexedTrafficSource
from explorer.sources.base import (
    CAPABILITIES,
    FindsLinkingTraces,
    ListsAttributeValues,
    ReadsStoredLayouts,
    ReadsTracesInBulk,
    SelfChecking,
)
from explorer.sources.cache import CachedSource
from explorer.sources.config import BackendConfig
from explorer.sources.memory import MemorySource
from explorer.sources.wrapper import WrappedSource
from explorer.sources.zipkin import ZipkinSource
from explorer.store.source import StoreSource
from tests.scenario_support import scenario

BUSINESS = ("order.id", "customer.id", "customer.type")


def capabilities(source) -> set[str]:
    return {c.__name__ for c in CAPABILITIES if isinstance(source, c)}


def linked_order() -> MemorySource:
    traces = scenario("trace-with-consumer-without-order")
    return MemorySource(traces, business_keys=BUSINESS)


def test_each_source_declares_what_it_can_do():
    assert capabilities(StoreSource()) == {
        "ListsAttributeValues",
        "ReadsTracesInBulk",
        "FindsLinkingTraces",
        "ReadsStoredLayouts",
        "JudgesClockSkew",
        "KeepsHourlyTraffic",
        "KeepsHourlyOperations",
        "ListsArrivals",
        "FindsJourneyTracesInBulk",
    }
    assert capabilities(MemorySource([])) == {"ListsAttributeValues", "FindsLinkingTraces"}
    zipkin = ZipkinSource(BackendConfig(name="z", kind="zipkin", url="http://127.0.0.1:9/"))
    assert capabilities(zipkin) == {"SelfChecking"}


@pytest.mark.parametrize(
    "inner",
    [
        lambda: StoreSource(),
        lambda: MemorySource([]),
        lambda: ZipkinSource(BackendConfig(name="z", kind="zipkin", url="http://127.0.0.1:9/")),
    ],
)
def test_a_cached_source_passes_on_exactly_the_capabilities_of_its_source(inner):
    source = inner()
    cached = CachedSource(source, timeout=60)
    assert capabilities(cached) == capabilities(source)
    for missing in {c for c in CAPABILITIES if not isinstance(source, c)}:
        with pytest.raises(AttributeError):
            getattr(cached, next(n for n in vars(missing) if not n.startswith("_")))
    with pytest.raises(AttributeError):
        cached.no_such_method  # noqa: B018 - the access is the test


def test_a_cached_source_still_follows_links_and_lists_orders():
    source = linked_order()
    cached = CachedSource(source, timeout=60)
    assert isinstance(cached, FindsLinkingTraces) and isinstance(cached, ListsAttributeValues)
    assert not isinstance(cached, ReadsTracesInBulk | ReadsStoredLayouts | SelfChecking)
    direct = journey_for_order(source, "A-1")
    through_cache = journey_for_order(cached, "A-1")
    assert len(direct.trace_ids) == 3 and through_cache.trace_ids == direct.trace_ids
    assert cached.attribute_values("order.id") == ["A-1"]


class _Backend(ZipkinSource):
    """A remote source with a name of its own besides the interface."""

    def own_helper(self) -> str:
        return "not part of the interface"


def _backend() -> _Backend:
    return _Backend(BackendConfig(name="z", kind="zipkin", url="http://127.0.0.1:9/"))


def _own_capabilities(wrapper_class) -> set[str]:
    """The capabilities a wrapper class implements itself, not through the source inside."""
    own = {name for klass in wrapper_class.__mro__[:-1] for name in vars(klass)}
    own -= set(vars(WrappedSource))
    return {
        c.__name__ for c in CAPABILITIES if all(n in own for n in vars(c) if not n.startswith("_"))
    }


@pytest.mark.parametrize(
    "wrap",
    [lambda s: CachedSource(s, timeout=60), IndexedSource],
    ids=["CachedSource", "IndexedSource"],
)
@pytest.mark.parametrize(
    "inner",
    [lambda: StoreSource(), lambda: MemorySource([]), _backend],
    ids=["StoreSource", "MemorySource", "backend"],
)
def test_every_wrapper_has_the_capabilities_inside_plus_its_own_and_nothing_else(wrap, inner):
    source = inner()
    wrapped = wrap(source)
    assert isinstance(wrapped, WrappedSource)
    assert capabilities(wrapped) == capabilities(source) | _own_capabilities(type(wrapped))
    with pytest.raises(AttributeError):
        wrapped.own_helper  # noqa: B018 - a name of the source inside outside the interface
    with pytest.raises(AttributeError):
        wrapped.no_such_method  # noqa: B018


def test_the_index_answers_four_capabilities_itself():
    assert _own_capabilities(IndexedSource) == {
        "ListsAttributeValues",
        "FindsLinkingTraces",
        "JudgesClockSkew",
        "KeepsHourlyOperations",  # the receiver keeps the operations' hourly figures
    }
    # and the system map's, with EXPLORER_RECEIVER_INDEX_TRAFFIC (explorer.receiver.calls)
    assert _own_capabilities(IndexedTrafficSource) == {
        *_own_capabilities(IndexedSource),
        "KeepsHourlyTraffic",
    }
    assert _own_capabilities(CachedSource) == set()


@pytest.mark.parametrize("mode", ["full", "index"])
def test_the_composition_builds_each_source_and_its_wrappers_from_the_settings(settings, mode):
    settings.EXPLORER_RECEIVER_MODE = mode
    settings.EXPLORER_BACKENDS = {"far": {"kind": "zipkin", "url": "http://127.0.0.1:9/"}}
    assert type(get_source()) is StoreSource  # the embedded store is never wrapped
    far = get_source("far")
    assert isinstance(far, WrappedSource)
    assert type(far) is (IndexedSource if mode == "index" else CachedSource)
    cached = far.source if mode == "index" else far
    assert isinstance(cached, CachedSource) and type(cached.source) is ZipkinSource
