"""Which trace source answers, built explicitly: the one place that knows every kind of source
and what wraps it.

get_source(name) builds the source named in settings.EXPLORER_BACKENDS ({name: {"kind": ...,
options...}}), or the default one (settings.EXPLORER_DEFAULT_BACKEND) when no name is given.
The embedded store (kind "store") is always there, named "embedded". A remote backend comes
wrapped in its cache (explorer.sources.cache) and, in the receiver's index mode
(EXPLORER_RECEIVER_MODE "index"), in the index that answers the look-ups it lacks
(explorer.receiver.index). This module sits with the pages and services because it builds
sources from every layer below and the receiver's index beside it; nothing is installed from
an AppConfig.ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings

from explorer.receiver.index import with_index
from explorer.sources.base import SourceError, TraceSource
from explorer.sources.cache import remote_factory
from explorer.sources.config import EMBEDDED
from explorer.sources.jaeger import JaegerSource
from explorer.sources.tempo import TempoSource
from explorer.sources.zipkin import ZipkinSource
from explorer.store.source import StoreSource

log = logging.getLogger("explorer.sources")

# kind -> factory(name, options of that backend from settings).
FACTORIES: dict[str, Callable[[str, dict], TraceSource]] = {
    "store": lambda name, options: StoreSource(name=name),
    "jaeger": remote_factory(JaegerSource),
    "tempo": remote_factory(TempoSource),
    "zipkin": remote_factory(ZipkinSource),
}

# Deprecated source names, still understood (`--source store`): old name -> name.
# "store" named the embedded store until December 2026; it is "embedded" now.
DEPRECATED_NAMES = {"store": EMBEDDED}
_warned: set[str] = set()


def configured() -> dict[str, dict]:
    """The configured sources by name; the embedded store is always there."""
    backends = {EMBEDDED: {"kind": "store"}}
    backends.update(getattr(settings, "EXPLORER_BACKENDS", {}))
    return backends


def get_source(name: str | None = None) -> TraceSource:
    if name is None:
        name = getattr(settings, "EXPLORER_DEFAULT_BACKEND", EMBEDDED)
    backends = configured()
    if name not in backends and name in DEPRECATED_NAMES:
        if name not in _warned:
            _warned.add(name)
            log.warning(
                "the trace source name %r is deprecated: use %r", name, DEPRECATED_NAMES[name]
            )
        name = DEPRECATED_NAMES[name]
    options = backends.get(name)
    if options is None:
        raise SourceError(f"no trace source named {name!r} is configured")
    factory = FACTORIES.get(options.get("kind", ""))
    if factory is None:
        raise SourceError(f"trace source {name!r} has an unknown kind {options.get('kind')!r}")
    return with_index(name, options, factory(name, options))
