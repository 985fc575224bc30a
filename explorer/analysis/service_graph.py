"""The service graph with Grafana Tempo's service-graph rules (metrics-generator, servicegraphs).

Tempo keeps a store of half-built edges:
- a CLIENT span opens or completes the edge keyed by (trace id, its span id); a PRODUCER span
  does the same with connection type "messaging_system";
- a SERVER span opens or completes the edge keyed by (trace id, its parent span id); a CONSUMER
  span does the same with connection type "messaging_system";
- a client span that names a database (the first of DATABASE_NAME_ATTRIBUTES found, resource
  attributes before span attributes) completes its edge at once, connection type "database",
  the server named by peer.service, else server.address, else network.peer.address[:port], else
  that database name;
- an edge is failed when the client or the server span has the error status;
- an edge still half-built when the store expires it becomes a virtual node edge: a server root
  span (no parent) gets the client named by its peer attribute, or "user"; a client span with a
  peer attribute (the first of PEER_ATTRIBUTES on the span) gets the server named by it; other
  half edges are dropped.
Spans without a service name are ignored, as Tempo ignores resources without one. Edges are
keyed by trace id, so building the graph one trace at a time and expiring what is left after
each trace gives the counts Tempo gives for the same spans. (Tempo's cap on pending edges,
10,000, and its span multiplier are not modelled: every span counts once.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from explorer.traces.gcpause import gc_paused
from explorer.traces.model import AttributeValue, Span, SpanKind, StatusCode, Trace

PLAIN = ""
MESSAGING_SYSTEM = "messaging_system"
DATABASE = "database"
VIRTUAL_NODE = "virtual_node"

# Tempo's defaults. db.system became db.system.name and db.name became db.namespace in the
# semantic conventions; Tempo consults the older keys first so existing graphs keep their names.
PEER_ATTRIBUTES = ("peer.service", "db.name", "db.system", "db.system.name")
DATABASE_NAME_ATTRIBUTES = ("db.namespace", "db.name", "db.system", "db.system.name")

_CLIENT_KINDS = (SpanKind.CLIENT, SpanKind.PRODUCER)
_SERVER_KINDS = (SpanKind.SERVER, SpanKind.CONSUMER)
_MESSAGING_KINDS = (SpanKind.PRODUCER, SpanKind.CONSUMER)
_ERROR = StatusCode.ERROR
_ROOT_KEY = ""  # Tempo's key of a server span without a parent: the trace id and nothing more
_MISSING = object()


@dataclass(slots=True, frozen=True)
class Edge:
    client: str
    server: str
    connection_type: str  # PLAIN, MESSAGING_SYSTEM, DATABASE or VIRTUAL_NODE
    total: int
    failed: int


# A half-built edge, as a list for speed:
# [client, server, connection type, failed, attributes of each of its spans]
CLIENT, SERVER, CONNECTION_TYPE, FAILED, SPAN_ATTRIBUTES = range(5)


class ServiceGraph:
    """Edges aggregated over any number of traces: add_trace() each, then edges()."""

    def __init__(
        self,
        peer_attributes: Iterable[str] = PEER_ATTRIBUTES,
        database_name_attributes: Iterable[str] = DATABASE_NAME_ATTRIBUTES,
    ) -> None:
        self.peer_attributes = tuple(peer_attributes)
        self.database_name_attributes = tuple(database_name_attributes)
        self._counts: dict[tuple[str, str, str], list[int]] = {}

    @gc_paused()
    def add_trace(self, trace: Trace) -> None:
        pending: dict[str, list] = {}
        database_names = self.database_name_attributes
        count = self._count
        for span in trace.spans:
            kind = span.kind
            if kind in _CLIENT_KINDS:
                client_side = True
                key = span.span_id
            elif kind in _SERVER_KINDS:
                client_side = False
                key = span.parent_id or _ROOT_KEY
            else:
                continue
            service = span.resource.service_name
            if not service:
                continue
            edge = pending.pop(key, None) or ["", "", PLAIN, False, []]
            edge[CONNECTION_TYPE] = MESSAGING_SYSTEM if kind in _MESSAGING_KINDS else PLAIN
            if span.status_code == _ERROR:
                edge[FAILED] = True
            attributes = span.attributes
            # the peer is only read if the edge stays half-built, most are not: keep the
            # attributes and look later
            edge[SPAN_ATTRIBUTES].append(attributes)
            if client_side:
                edge[CLIENT] = service
                if not (
                    attributes.keys().isdisjoint(database_names)
                    and span.resource.attributes.keys().isdisjoint(database_names)
                ):
                    self._note_database(edge, span)
            else:
                edge[SERVER] = service
            if edge[CLIENT] and edge[SERVER]:
                count(edge)
            else:
                pending[key] = edge
        for key, edge in pending.items():
            self._expire(key, edge)

    def edges(self) -> list[Edge]:
        return [
            Edge(client, server, connection_type, total, failed)
            for (client, server, connection_type), (total, failed) in sorted(self._counts.items())
        ]

    def _count(self, edge: list) -> None:
        counts = self._counts.get((edge[CLIENT], edge[SERVER], edge[CONNECTION_TYPE]))
        if counts is None:
            counts = self._counts[edge[CLIENT], edge[SERVER], edge[CONNECTION_TYPE]] = [0, 0]
        counts[0] += 1
        counts[1] += edge[FAILED]

    def _expire(self, key: str, edge: list) -> None:
        edge[CONNECTION_TYPE] = VIRTUAL_NODE
        if not edge[CLIENT]:
            if key == _ROOT_KEY:  # a request from outside: a browser, a partner, curl
                edge[CLIENT] = self._peer(edge) or "user"
                self._count(edge)
        elif not edge[SERVER]:
            peer = self._peer(edge)
            if peer:  # a call to something that sends no spans
                edge[SERVER] = peer
                self._count(edge)

    def _peer(self, edge: list) -> str:
        """The first peer attribute of the last span of the edge that has one (Tempo updates
        the peer with every span of the edge that names one)."""
        for attributes in reversed(edge[SPAN_ATTRIBUTES]):
            for name in self.peer_attributes:
                if name in attributes:
                    return attribute_text(attributes[name])
        return ""

    def _note_database(self, edge: list, span: Span) -> None:
        resource = span.resource.attributes
        attributes = span.attributes
        for key in self.database_name_attributes:
            if key in resource:
                name = attribute_text(resource[key])
                break
            if key in attributes:
                name = attribute_text(attributes[key])
                break
        else:
            return
        edge[CONNECTION_TYPE] = DATABASE
        server = _lookup(span, "peer.service")
        if server is None:
            server = _lookup(span, "server.address")
        if server is None:
            server = _lookup(span, "network.peer.address")
            port = _lookup(span, "network.peer.port") if server is not None else None
            if port is not None:
                server = f"{server}:{port}"
        if server is None:
            server = name
        if server:
            edge[SERVER] = server


def service_graph(traces: Iterable[Trace]) -> list[Edge]:
    graph = ServiceGraph()
    for trace in traces:
        graph.add_trace(trace)
    return graph.edges()


def _lookup(span: Span, key: str) -> str | None:
    """An attribute as text, from the resource first, then the span (Tempo's order)."""
    value = span.resource.attributes.get(key, _MISSING)
    if value is _MISSING:
        value = span.attributes.get(key, _MISSING)
        if value is _MISSING:
            return None
    return attribute_text(value)


def attribute_text(value: AttributeValue) -> str:
    """An attribute value as a label, as Tempo prints OTLP values."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
