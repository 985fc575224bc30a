"""Which trace source answers: a small table of source kinds and their factories.

get_source(name) builds the source named in settings.EXPLORER_BACKENDS ({name: {"kind": ...,
options...}}), or the default one (settings.EXPLORER_DEFAULT_BACKEND) when no name is given.
The embedded store (kind "store") is always there, named "embedded"; its factory is registered
by the store itself (explorer/store/apps.py), so that sources never import the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings

from explorer.sources.base import SourceError, TraceSource
from explorer.sources.cache import remote_factory
from explorer.sources.config import EMBEDDED
from explorer.sources.jaeger import JaegerSource
from explorer.sources.tempo import TempoSource
from explorer.sources.zipkin import ZipkinSource

log = logging.getLogger("explorer.sources")

# kind -> factory(name, options of that backend from settings); "store" added by the store.
FACTORIES: dict[str, Callable[[str, dict], TraceSource]] = {
    "jaeger": remote_factory(JaegerSource),
    "tempo": remote_factory(TempoSource),
    "zipkin": remote_factory(ZipkinSource),
}

# Deprecated source names, still understood (`--source store`): old name -> name.
# "store" named the embedded store until December 2026; it is "embedded" now.
DEPRECATED_NAMES = {"store": EMBEDDED}
_warned: set[str] = set()


def register_kind(kind: str, factory: Callable[[str, dict], TraceSource]) -> None:
    FACTORIES[kind] = factory


# Wrappers a higher layer installs (the receiver's index mode, explorer.receiver.apps): each
# takes (name, options, source) and gives the source to use instead.
WRAPPERS: list[Callable[[str, dict, TraceSource], TraceSource]] = []


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
    source = factory(name, options)
    for wrap in WRAPPERS:
        source = wrap(name, options, source)
    return source
