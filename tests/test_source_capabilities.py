"""Optional source features are capability protocols; a cached source has exactly the
capabilities of the source it wraps, so a cached backend loses none of them."""

from __future__ import annotations

import pytest

from explorer.journeys.assembly import journey_for_order
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
