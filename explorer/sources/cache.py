"""Caching of fetched traces in the shared "traces" cache (explorer.caching: Redis when
EXPLORER_CACHE_URL is set, else bounded local memory), keyed by backend name and trace id,
values compressed. Also the factories explorer.composition uses for the remote kinds: one
source (so one HTTP session and one circuit breaker) per configured backend, wrapped in the
cache."""

from __future__ import annotations

import logging
import pickle
import threading
import zlib

from django.conf import settings

from explorer.caching import SharedCache, cache_key, on_reset
from explorer.sources.base import TraceSource
from explorer.sources.config import config_for
from explorer.sources.wrapper import WrappedSource
from explorer.traces.model import Trace

log = logging.getLogger("explorer.sources")

# A trace whose compressed form is larger than this is not cached: a few huge traces must not
# push every other one out (the local cache is bounded by entries, not bytes).
MAX_CACHED_BYTES = 2 * 1024 * 1024


def trace_key(backend: str, trace_id: str) -> str:
    return cache_key("trace", backend, trace_id.lower())


class CachedSource(WrappedSource):
    """A TraceSource whose get_trace answers from the cache when it can; with exactly the
    capabilities of the source inside (explorer.sources.wrapper)."""

    def __init__(
        self, source: TraceSource, cache_alias: str = "traces", timeout: int | None = None
    ) -> None:
        super().__init__(source)
        self.cache = SharedCache(
            cache_alias,
            (lambda: settings.EXPLORER_TRACE_CACHE_SECONDS) if timeout is None else timeout,
            max_weight=MAX_CACHED_BYTES,
            weigh=len,
        )

    def get_trace(self, trace_id: str) -> Trace:
        key = trace_key(self.name, trace_id)
        packed = self.cache.get(key)
        if packed is not None:
            try:
                # Our own value from our own cache (Django's cache pickles every value too).
                return pickle.loads(zlib.decompress(packed))  # noqa: S301
            except (zlib.error, pickle.UnpicklingError, EOFError, AttributeError):
                log.warning("%s: dropping an unreadable cache entry for %s", self.name, trace_id)
                self.cache.delete(key)
        trace = self.source.get_trace(trace_id)
        packed = zlib.compress(pickle.dumps(trace, protocol=pickle.HIGHEST_PROTOCOL), 6)
        self.cache.put(key, packed)
        return trace


_instances: dict[tuple, CachedSource] = {}
_lock = threading.Lock()
on_reset(_instances.clear)


def remote_factory(source_class):
    """A factory(name, options) for a remote kind (explorer.composition). Instances are kept
    per name and options, so the circuit breaker and the connection pool outlive one request."""

    def factory(name: str, options: dict) -> CachedSource:
        key = (source_class.__name__, name, repr(sorted(options.items())))
        with _lock:
            source = _instances.get(key)
            if source is None:
                config = config_for(name, options)
                inner = source_class(config, business_keys=settings.EXPLORER_BUSINESS_ATTRIBUTES)
                source = _instances[key] = CachedSource(inner)
            return source

    return factory
