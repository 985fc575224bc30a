"""The caches of the explorer, in one place (the few pure memos allowed elsewhere are named in
docs/architecture.md, and tests/test_caching.py holds the code to that list).

Two kinds of cache, one key builder, one reset:

- LocalCache: in this process, for objects that are expensive to rebuild and cheap to keep
  (prepared traces, rendered SVGs, the loaded configuration, remote source instances).
  Bounded by weight (entries, spans, characters: whatever `weigh` returns) and by time.
- SharedCache: Django's cache framework (Redis when EXPLORER_CACHE_URL is set, so that the
  worker processes share it; else bounded local memory), for picklable results worth sharing
  (page contexts, fetched traces, PNGs). Values heavier than `max_weight` bytes are not kept.
- cache_key(kind, *parts, policy=..., language=...): every key of a result a page shows. It
  includes the configuration version (bumped when a mapping rule or a tour changes, by signal)
  and, when the result is redacted, the viewer's redaction policy, so two viewers never share
  a redacted result and an edit is seen at once. counter_key: the same without the version,
  for SharedCache.count (events per window).
- reset_caches(): empties every cache (tests call it before each test).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

from django.core.cache import caches

V = TypeVar("V")

# Where the configuration version is shared between processes (with a shared cache).
VERSION_KEY = "explorer:configuration-version"
# How long a process trusts a configuration it loaded (explorer.configuration,
# explorer.c4.configured): other worker processes see an edit within this time even without a
# shared cache to tell them of the new version.
CONFIGURATION_SECONDS = 30
_KIND = re.compile(r"[a-z0-9-]{1,40}")


class LocalCache(Generic[V]):
    """An in-process LRU bounded by total weight and by the age of each entry."""

    def __init__(
        self,
        name: str,
        max_weight: int,
        seconds: float | None = None,
        weigh: Callable[[V], int] = lambda value: 1,
    ) -> None:
        self.name = name
        self.max_weight = max_weight
        self.seconds = seconds
        self.weigh = weigh
        self._entries: OrderedDict[Hashable, tuple[float, int, V]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        _local_caches.add(self)

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, _, value = found
            if expires < time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> V:
        weight = self.weigh(value)
        expires = time.monotonic() + self.seconds if self.seconds is not None else float("inf")
        with self._lock:
            self._drop(key)
            self._entries[key] = (expires, weight, value)
            self._weight += weight
            # The newest entry always stays, however heavy: the caller is about to use it.
            while len(self._entries) > 1 and self._weight > self.max_weight:
                self._drop(next(iter(self._entries)))
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        found = self.get(key)
        return found if found is not None else self.put(key, compute())

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: Hashable) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._weight -= found[1]


class SharedCache:
    """A Django cache alias with a default lifetime; values weighing (bytes, through
    `weigh`) more than max_weight are not kept, so a few huge ones never push out the rest."""

    def __init__(
        self,
        alias: str,
        seconds: int | Callable[[], int],
        max_weight: int | None = None,
        weigh: Callable[[Any], int] | None = None,
    ) -> None:
        self.alias = alias
        self._seconds = seconds
        self.max_weight = max_weight
        self.weigh = weigh

    @property
    def backend(self) -> Any:
        return caches[self.alias]

    @property
    def seconds(self) -> int:
        return self._seconds() if callable(self._seconds) else self._seconds

    def get(self, key: str) -> Any:
        return self.backend.get(key)

    def put(self, key: str, value: Any, seconds: int | None = None) -> Any:
        if self.max_weight is None or self.weigh is None or self.weigh(value) <= self.max_weight:
            self.backend.set(key, value, self.seconds if seconds is None else seconds)
        return value

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        found = self.get(key)
        return found if found is not None else self.put(key, compute())

    def delete(self, key: str) -> None:
        self.backend.delete(key)

    def count(self, kind: str, *parts: object) -> int:
        """Count one more event of `kind` for `parts` (say, a viewer) and return the events
        counted since the first of the window (`seconds` long, from that first one). The key
        is counter_key(kind, *parts): without the configuration version, so an edit of a
        mapping rule or a tour does not start the count again."""
        key = counter_key(kind, *parts)
        self.backend.add(key, 0, self.seconds)
        try:
            return self.backend.incr(key)
        except ValueError:  # expired between add and incr
            self.backend.set(key, 1, self.seconds)
            return 1


class HasCacheToken(Protocol):
    """A redaction policy (accounts.redaction.RedactionPolicy): what it masks, as text."""

    @property
    def cache_token(self) -> str: ...


_local_caches: weakref.WeakSet[LocalCache[Any]] = weakref.WeakSet()
_resets: list[Callable[[], None]] = []
_generation = 0
_generation_lock = threading.Lock()


def configuration_version() -> str:
    """Changes whenever a mapping rule or a tour changes (in this process at once; in the
    others too when the shared cache is Redis)."""
    return f"{_generation}.{caches['default'].get(VERSION_KEY) or 0}"


def configuration_changed(*args: object, **kwargs: object) -> None:
    """The receiver of the mapping-rule and tour signals (connected in explorer/c4/apps.py and
    explorer/tours/apps.py): results computed with the old configuration are not served
    again."""
    global _generation
    with _generation_lock:
        _generation += 1
    caches["default"].set(VERSION_KEY, uuid.uuid4().hex, None)


def cache_key(
    kind: str, *parts: object, policy: HasCacheToken | None = None, language: str | None = None
) -> str:
    """The key of a cached result: its kind, what it is of, the configuration version, and
    the redaction policy and language when it was redacted or translated for a viewer.
    Hashed: parts come from URLs and traces; the kind is a fixed word of the caller's."""
    return _hashed_key(
        kind,
        configuration_version(),
        *parts,
        policy.cache_token if policy is not None else "-",
        language or "-",
    )


def counter_key(kind: str, *parts: object) -> str:
    """The key of a count (SharedCache.count): like cache_key without the configuration
    version, since a count is of events, not a result computed with the configuration."""
    return _hashed_key(kind, "count", *parts)


def _hashed_key(kind: str, *parts: object) -> str:
    if not _KIND.fullmatch(kind):
        raise ValueError(f"cache kind {kind!r}: use lower-case letters, digits and '-'")
    text = "\0".join(map(str, parts))
    return f"explorer:{kind}:{hashlib.sha256(text.encode()).hexdigest()}"


def on_reset(reset: Callable[[], None]) -> Callable[[], None]:
    """Register what else reset_caches() must empty (kept state such as source instances)."""
    _resets.append(reset)
    return reset


def reset_caches() -> None:
    """Empty every cache: the local ones, the Django caches, registered state."""
    for local in _local_caches:
        local.clear()
    for alias in ("default", "traces"):
        caches[alias].clear()
    for reset in _resets:
        reset()
