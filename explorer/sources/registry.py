"""Which trace source answers: a small table of source kinds and their factories.

get_source(name) builds the source named in settings.EXPLORER_BACKENDS ({name: {"kind": ...,
options...}}), or the default one (settings.EXPLORER_DEFAULT_BACKEND) when no name is given.
With nothing configured, the only source is the embedded store, named "store".
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from explorer.sources.base import SourceError, TraceSource
from explorer.sources.cache import remote_factory
from explorer.sources.jaeger import JaegerSource
from explorer.sources.tempo import TempoSource
from explorer.sources.zipkin import ZipkinSource
from explorer.store.source import StoreSource


def _store(name: str, options: dict) -> TraceSource:
    return StoreSource(name=name)


# kind -> factory(name, options of that backend from settings)
FACTORIES: dict[str, Callable[[str, dict], TraceSource]] = {
    "store": _store,
    "jaeger": remote_factory(JaegerSource),
    "tempo": remote_factory(TempoSource),
    "zipkin": remote_factory(ZipkinSource),
}


# Wrappers a higher layer installs (the receiver's index mode, explorer.receiver.apps): each
# takes (name, options, source) and gives the source to use instead.
WRAPPERS: list[Callable[[str, dict, TraceSource], TraceSource]] = []


def configured() -> dict[str, dict]:
    """The configured sources by name; the embedded store is always there."""
    backends = {"store": {"kind": "store"}}
    backends.update(getattr(settings, "EXPLORER_BACKENDS", {}))
    return backends


def get_source(name: str | None = None) -> TraceSource:
    if name is None:
        name = getattr(settings, "EXPLORER_DEFAULT_BACKEND", "store")
    options = configured().get(name)
    if options is None:
        raise SourceError(f"no trace source named {name!r} is configured")
    factory = FACTORIES.get(options.get("kind", ""))
    if factory is None:
        raise SourceError(f"trace source {name!r} has an unknown kind {options.get('kind')!r}")
    source = factory(name, options)
    for wrap in WRAPPERS:
        source = wrap(name, options, source)
    return source
