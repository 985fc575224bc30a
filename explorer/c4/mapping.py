"""Telemetry -> C4 elements: which container a span runs in and what a span calls.

The mapping file (explorer/alexandrite/mapping.json):
  {"services": [{"element": "shop_api", "match": {"service.name": "shop-api"}}, ...],
   "peers":    [{"element": "shop_db", "match": {"db.system.name": "postgresql",
                                                  "db.namespace": "shop"}}, ...]}
"services" rules match resource attributes; "peers" rules match the attributes of a
CLIENT/PRODUCER/CONSUMER span, with its resource as a fallback. A match value is an exact
string or {"regex": "..."} (full match). Rules are tried in order; the first match wins.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from explorer.c4.model import Model
from explorer.traces.model import Resource, Span, SpanKind, Trace

SECTIONS = ("services", "peers")
# Older semantic-convention keys accepted for the current ones.
ALIASES = {
    "db.system.name": ("db.system",),
    "db.namespace": ("db.name",),
    "server.address": ("net.peer.name",),
    "messaging.destination.name": ("messaging.destination",),
}
DEFAULT_MAPPING = Path(__file__).resolve().parent.parent / "alexandrite" / "mapping.json"


class MappingError(ValueError):
    """The mapping file is malformed or names elements the model lacks; says where."""


@dataclass(frozen=True, slots=True)
class Rule:
    section: str
    element: str
    match: tuple[tuple[str, str | re.Pattern], ...]

    def matches(self, lookup) -> bool:
        for key, expected in self.match:
            value = lookup(key)
            if value is None:
                return False
            value = str(value)
            if isinstance(expected, re.Pattern):
                if not expected.fullmatch(value):
                    return False
            elif value != expected:
                return False
        return True

    def to_dict(self) -> dict:
        return {
            "element": self.element,
            "match": {
                k: {"regex": v.pattern} if isinstance(v, re.Pattern) else v for k, v in self.match
            },
        }


def _attribute(key: str, *sources: dict) -> object | None:
    for attrs in sources:
        for name in (key, *ALIASES.get(key, ())):
            if name in attrs:
                return attrs[name]
        if key == "url.host":
            url = attrs.get("url.full") or attrs.get("http.url")
            if isinstance(url, str):
                try:
                    return urlsplit(url).hostname
                except ValueError:
                    return None
    return None


@dataclass
class Mapping:
    services: list[Rule] = field(default_factory=list)
    peers: list[Rule] = field(default_factory=list)
    _by_resource: dict[Resource, str | None] = field(
        default_factory=dict, repr=False, compare=False
    )
    _by_peer: dict[tuple, str | None] = field(default_factory=dict, repr=False, compare=False)
    _peer_keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    # The last resource asked about and its element: the spans of a trace share a few resource
    # objects, and comparing equal resources (attribute dicts) costs more than this check.
    _last: tuple[Resource | None, str | None] = field(
        default=(None, None), repr=False, compare=False
    )

    @property
    def rules(self) -> list[Rule]:
        return [*self.services, *self.peers]

    def service_element(self, resource: Resource) -> str | None:
        """The element a span runs in, from its resource."""
        last, element = self._last  # one read: another thread may replace it meanwhile
        if last is resource:
            return element
        try:
            element = self._by_resource[resource]
            self._last = (resource, element)
            return element
        except KeyError:
            pass
        attrs = {"service.name": resource.service_name, **resource.attributes}
        element = next(
            (r.element for r in self.services if r.matches(lambda k: _attribute(k, attrs))), None
        )
        self._by_resource[resource] = element
        return element

    def peer_keys(self) -> tuple[str, ...]:
        """The span attributes the peer rules can look at (a decoder that reads a span's
        attributes only when it must reads them when one of these is there)."""
        if self._peer_keys is None:
            keys = {
                name
                for r in self.peers
                for key, _ in r.match
                for name in (key, *ALIASES.get(key, ()))
            }
            if "url.host" in keys:
                keys |= {"url.full", "http.url"}
            self._peer_keys = tuple(sorted(keys))
        return self._peer_keys

    def peer_element(self, span: Span) -> str | None:
        """What a CLIENT/PRODUCER span calls or a CONSUMER span receives from, by the rules."""
        attrs = span.attributes
        # Spans repeat the same few peers: cache on the values the rules can look at.
        key = (span.resource, *map(attrs.get, self._peer_keys or self.peer_keys()))
        try:
            return self._by_peer[key]
        except (KeyError, TypeError):  # TypeError: an unhashable (list) attribute value
            pass
        resource = span.resource.attributes
        element = next(
            (r.element for r in self.peers if r.matches(lambda k: _attribute(k, attrs, resource))),
            None,
        )
        if len(self._by_peer) > 50_000:  # high-cardinality attributes (full URLs): stay bounded
            self._by_peer.clear()
        with contextlib.suppress(TypeError):
            self._by_peer[key] = element
        return element

    def to_dict(self) -> dict:
        return {section: [r.to_dict() for r in getattr(self, section)] for section in SECTIONS}


def rules_from_dict(data: object, source: str = "mapping") -> list[Rule]:
    """Validate the mapping document; raises MappingError naming the rule and the problem."""
    if not isinstance(data, dict):
        raise MappingError(f"{source}: expected a JSON object with 'services' and 'peers'")
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise MappingError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    rules = []
    for section in SECTIONS:
        items = data.get(section, [])
        if not isinstance(items, list):
            raise MappingError(f"{source}: {section!r} must be a list")
        for n, item in enumerate(items):
            where = f"{source}: {section}[{n}]"
            if not isinstance(item, dict) or not isinstance(item.get("element"), str):
                raise MappingError(f'{where}: expected {{"element": ..., "match": {{...}}}}')
            match = item.get("match")
            if not isinstance(match, dict) or not match:
                raise MappingError(f"{where}: 'match' must be a non-empty object")
            rules.append(
                Rule(
                    section,
                    item["element"],
                    tuple(
                        (str(k), _expected(v, f"{where}: match {k!r}")) for k, v in match.items()
                    ),
                )
            )
    return rules


def _expected(value: object, where: str) -> str | re.Pattern:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"regex"} and isinstance(value["regex"], str):
        try:
            return re.compile(value["regex"])
        except re.error as exc:
            raise MappingError(f"{where}: bad regex: {exc}") from None
    raise MappingError(f'{where}: expected a string or {{"regex": "..."}}')


def build_mapping(
    rules: list[Rule], model: Model | None = None, source: str = "mapping"
) -> Mapping:
    """A Mapping from rules of any origin (file or database), checked against the model."""
    if model is not None:
        for rule in rules:
            if rule.element not in model.elements:
                raise MappingError(
                    f"{source}: {rule.section} rule for {dict(rule.match)!r} "
                    f"names element {rule.element!r}, which the model lacks"
                )
    return Mapping(
        services=[r for r in rules if r.section == "services"],
        peers=[r for r in rules if r.section == "peers"],
    )


def load_mapping(path: str | Path, model: Model | None = None) -> Mapping:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MappingError(f"{path}: not valid JSON: {exc}") from None
    return build_mapping(rules_from_dict(data, str(path)), model, str(path))


@dataclass(slots=True)
class Interaction:
    """One observed element -> element call or message, shown by `span`."""

    source: str
    target: str
    span: Span


def element_calls(traces: Iterable[Trace], mapping: Mapping) -> set[tuple[str, str]]:
    """The (source, target) element pairs of every interaction these traces show."""
    return {(i.source, i.target) for trace in traces for i in interactions(trace, mapping)}


def interactions(trace: Trace, mapping: Mapping) -> list[Interaction]:
    """The element-to-element interactions a trace shows, one per call or message.

    A CLIENT/PRODUCER span in A calls the peer its rules name or, failing that, the service of
    its SERVER/CONSUMER child; a CONSUMER span in C receives from its peer (the queue) or from
    its producer's element; a SERVER span in B whose parent ran in A (not as a client span,
    which already counts) is a call from A.
    """
    by_id: dict[str | None, Span] = {s.span_id: s for s in trace.spans}
    children: dict[str | None, list[Span]] | None = None  # built when first needed
    out: list[Interaction] = []
    for s in trace.spans:
        own = mapping.service_element(s.resource)
        if own is None:
            continue
        kind = s.kind
        if kind == SpanKind.CLIENT or kind == SpanKind.PRODUCER:
            peer = mapping.peer_element(s)
            if peer is None:
                if children is None:
                    children = defaultdict(list)
                    for c in trace.spans:
                        children[c.parent_id].append(c)
                peer = next(
                    (
                        e
                        for c in children.get(s.span_id, ())
                        if c.kind in (SpanKind.SERVER, SpanKind.CONSUMER)
                        and c.resource != s.resource
                        and (e := mapping.service_element(c.resource))
                    ),
                    None,
                )
            if peer and peer != own:
                out.append(Interaction(own, peer, s))
        elif kind == SpanKind.CONSUMER:
            peer = mapping.peer_element(s)
            if peer is None:
                parents = [by_id.get(s.parent_id)] + [by_id.get(link.span_id) for link in s.links]
                peer = next(
                    (
                        e
                        for p in parents
                        if p is not None
                        and p.kind == SpanKind.PRODUCER
                        and (e := mapping.service_element(p.resource))
                    ),
                    None,
                )
            if peer and peer != own:
                out.append(Interaction(peer, own, s))
        elif kind == SpanKind.SERVER:
            parent = by_id.get(s.parent_id)
            if parent is None or parent.kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
                continue
            caller = mapping.service_element(parent.resource)
            if caller and caller != own:
                out.append(Interaction(caller, own, s))
    return out


def _words(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.lower()).strip()


def suggest_elements(service: str, model: Model, limit: int = 3, cutoff: float = 0.6) -> list[dict]:
    """Elements whose name or id looks like a service name ("shop-api" ~ "Shop API")."""
    wanted = _words(service)
    scored: list[dict] = []
    for e in model.elements.values():
        if e.kind in ("person", "boundary"):
            continue
        score = max(
            difflib.SequenceMatcher(None, wanted, _words(text)).ratio() for text in (e.name, e.id)
        )
        if score >= cutoff:
            scored.append({"element": e.id, "name": e.name, "score": round(score, 2)})
    scored.sort(key=lambda s: (-s["score"], s["element"]))
    return scored[:limit]
