"""The simulated services' OpenTelemetry instrumentation: one TracerProvider per service and an
Action, a user action or background job that runs on the simulated clock and records its spans
with explicit timestamps, semantic-convention attributes and real W3C context propagation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from explorer.traces.vocabulary import NEW_STATE_KEY, PREVIOUS_STATE_KEY, STATE_EVENT

ENVIRONMENT = "production"
SHOP_HOST = "shop.alexandrite.example"
CRM_API_HOST = "crm-api.alexandrite.internal"
MES_API_HOST = "mes-api.alexandrite.internal"
PARTNER_HOST = "partners.alexandrite.example"
S3_HOST = "s3.alexandrite.internal"
S3_BUCKET = "order-models"
RABBITMQ_HOST = "rabbitmq.alexandrite.internal"
DB_HOSTS = {"shop": "shop-db.alexandrite.internal", "mes": "mes-db.alexandrite.internal"}

# Per service: its version and the instrumentation scope of each kind of span it records,
# named like the instrumentation libraries of its technology (the DOMAIN's C4 table).
SERVICES: dict[str, tuple[str, dict[str, str]]] = {
    "internet-shop": (
        "3.8.0",
        {
            "ui": "@opentelemetry/instrumentation-user-interaction",
            "http-client": "@opentelemetry/instrumentation-fetch",
        },
    ),
    "shop-api": (
        "2.14.1",
        {
            "http-server": "io.opentelemetry.spring-webmvc-6.0",
            "http-client": "io.opentelemetry.java-http-client",
            "db": "io.opentelemetry.jdbc",
            "s3": "io.opentelemetry.aws-sdk-2.2",
        },
    ),
    "crm": (
        "1.22.0",
        {
            "ui": "@opentelemetry/instrumentation-user-interaction",
            "http-client": "@opentelemetry/instrumentation-fetch",
        },
    ),
    "crm-api": (
        "1.31.4",
        {
            "http-server": "io.opentelemetry.spring-webmvc-6.0",
            "db": "io.opentelemetry.jdbc",
            "messaging": "io.opentelemetry.spring-rabbit-1.0",
            "app": "com.alexandrite.crm",
        },
    ),
    "mes-api": (
        "4.2.0",
        {
            "http-server": "Microsoft.AspNetCore",
            "db": "Npgsql",
            "messaging": "RabbitMQ.Client",
            "s3": "AWSSDK.S3",
            "app": "Alexandrite.Mes",
        },
    ),
    "mes": (
        "2.5.3",
        {
            "ui": "@opentelemetry/instrumentation-user-interaction",
            "http-client": "@opentelemetry/instrumentation-fetch",
        },
    ),
}
_PROPAGATOR = TraceContextTextMapPropagator()
_MS = 1_000_000


class Instrumentation:
    """One TracerProvider per simulated service, all sharing the seeded ids and the processor."""

    def __init__(self, id_generator: IdGenerator, processor: SpanProcessor) -> None:
        self._tracers: dict[tuple[str, str], trace.Tracer] = {}
        for service, (version, scopes) in SERVICES.items():
            resource = Resource(
                {
                    "service.name": service,
                    "service.namespace": "alexandrite",
                    "service.version": version,
                    "service.instance.id": f"{service}-1",
                    "deployment.environment.name": ENVIRONMENT,
                }
            )
            # Explicit sampler and limits: the environment's OTEL_* variables must not change
            # what a seed produces.
            provider = TracerProvider(
                sampler=ALWAYS_ON,
                resource=resource,
                shutdown_on_exit=False,
                id_generator=id_generator,
                span_limits=SpanLimits(
                    max_attributes=128,
                    max_events=128,
                    max_links=128,
                    max_event_attributes=128,
                    max_link_attributes=128,
                    max_attribute_length=SpanLimits.UNSET,
                ),
            )
            provider.add_span_processor(processor)
            for role, scope in scopes.items():
                self._tracers[service, role] = provider.get_tracer(scope)

    def tracer(self, service: str, role: str) -> trace.Tracer:
        return self._tracers[service, role]


@dataclass(slots=True)
class AmqpMessage:
    """An AMQP message in flight: its headers carry the producer's traceparent."""

    id: str
    topic: str
    headers: dict[str, str]
    sent_ns: int


def _ctx(parent: Span | Context | None) -> Context:
    if parent is None:
        return Context()  # a new trace, whatever the ambient context
    if isinstance(parent, Context):
        return parent
    return trace.set_span_in_context(parent)


class Action:
    """One unit of work on the simulated clock (`now`, in ns since the Unix epoch).

    Spans run one after the other: a span starts at `now`, its children advance `now`, and it
    ends when they are done plus a little of its own time. `business` attributes (order and
    customer) are put on every span the action records.
    """

    def __init__(
        self,
        instrumentation: Instrumentation,
        now_ns: int,
        rng: random.Random,
        business: dict[str, str],
    ) -> None:
        self._instrumentation = instrumentation
        self.now = now_ns
        self.rng = rng
        self.business = business

    def wait_ms(self, low: float, high: float) -> None:
        self.now += int(self.rng.uniform(low, high) * _MS)

    @contextmanager
    def span(
        self,
        service: str,
        role: str,
        name: str,
        parent: Span | Context | None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: dict[str, Any] | None = None,
        links: list[Link] | None = None,
        own_ms: tuple[float, float] = (0.05, 0.4),
    ) -> Iterator[Span]:
        span = self._instrumentation.tracer(service, role).start_span(
            name,
            context=_ctx(parent),
            kind=kind,
            attributes={**(attributes or {}), **self.business},
            links=links,
            start_time=self.now,
        )
        self.wait_ms(*own_ms)
        yield span
        self.wait_ms(*own_ms)
        span.end(end_time=self.now)

    def state_changed(self, span: Span, previous: str | None, new: str) -> None:
        attributes = {NEW_STATE_KEY: new}
        if previous is not None:
            attributes = {PREVIOUS_STATE_KEY: previous, **attributes}
        span.add_event(STATE_EVENT, attributes, timestamp=self.now)
        self.wait_ms(0.01, 0.05)

    def fail(
        self, span: Span, error_type: str, message: str, exception_type: str | None = None
    ) -> None:
        span.set_attribute("error.type", error_type)
        if exception_type:
            span.add_event(
                "exception",
                {"exception.type": exception_type, "exception.message": message},
                timestamp=self.now,
            )
        span.set_status(Status(StatusCode.ERROR, message))

    # --- HTTP ---------------------------------------------------------------------------

    @contextmanager
    def http(
        self,
        client: str,
        server: str,
        method: str,
        route: str,
        path: str,
        parent: Span | Context | None,
        host: str,
        *,
        status: int = 200,
        resend_count: int = 0,
    ) -> Iterator[Span]:
        """A client span in `client`, the request carrying its traceparent, and the SERVER span
        in `server` that continues the trace; yields the server span."""
        client_attrs: dict[str, Any] = {
            "http.request.method": method,
            "url.full": f"https://{host}{path}",
            "server.address": host,
            "server.port": 443,
        }
        if resend_count:
            client_attrs["http.request.resend_count"] = resend_count
        with self.span(
            client, "http-client", method, parent, SpanKind.CLIENT, client_attrs
        ) as client_span:
            headers: dict[str, str] = {}
            _PROPAGATOR.inject(headers, context=trace.set_span_in_context(client_span))
            self.wait_ms(0.5, 4)  # the network
            with self.server(
                server, method, route, path, _PROPAGATOR.extract(headers), host, status=status
            ) as server_span:
                yield server_span
            self.wait_ms(0.5, 4)
            client_span.set_attribute("http.response.status_code", status)
            if status >= 400:
                self.fail(client_span, str(status), f"HTTP {status}")

    @contextmanager
    def server(
        self,
        service: str,
        method: str,
        route: str,
        path: str,
        parent: Context | None,
        host: str,
        *,
        status: int = 200,
        user_agent: str | None = None,
    ) -> Iterator[Span]:
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": "https",
            "http.route": route,
            "server.address": host,
            "server.port": 443,
        }
        if user_agent:
            attributes["user_agent.original"] = user_agent
        with self.span(
            service,
            "http-server",
            f"{method} {route}",
            parent,
            SpanKind.SERVER,
            attributes,
            own_ms=(0.2, 1.5),
        ) as span:
            yield span
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                self.fail(span, str(status), f"HTTP {status}")

    # --- PostgreSQL, S3 ---------------------------------------------------------------------

    def db(
        self,
        service: str,
        namespace: str,
        operation: str,
        table: str,
        query: str,
        parent: Span,
        *,
        ms: tuple[float, float] = (0.4, 6),
        timeout_ms: float | None = None,
    ) -> None:
        """A PostgreSQL client span; with `timeout_ms` the statement times out (error status)."""
        attributes = {
            "db.system.name": "postgresql",
            "db.namespace": namespace,
            "db.operation.name": operation,
            "db.collection.name": table,
            "db.query.text": query,
            "server.address": DB_HOSTS[namespace],
            "server.port": 5432,
        }
        with self.span(
            service,
            "db",
            f"{operation} {table}",
            parent,
            SpanKind.CLIENT,
            attributes,
            own_ms=(0.01, 0.05),
        ) as span:
            if timeout_ms is None:
                self.wait_ms(*ms)
                return
            self.wait_ms(timeout_ms, timeout_ms * 1.01)
            span.set_attribute("db.response.status_code", "57014")
            exception = (
                "Npgsql.PostgresException"
                if service == "mes-api"
                else "org.postgresql.util.PSQLException"
            )
            self.fail(span, "57014", "canceling statement due to statement timeout", exception)

    def s3(self, service: str, operation: str, key: str, parent: Span) -> None:
        """An S3 call to the 3D files storage, as the AWS SDK instrumentations record it."""
        method = {"PutObject": "PUT", "GetObject": "GET", "HeadObject": "HEAD"}[operation]
        attributes = {
            "rpc.system": "aws-api",
            "rpc.service": "S3",
            "rpc.method": operation,
            "aws.s3.bucket": S3_BUCKET,
            "aws.s3.key": key,
            "http.request.method": method,
            "url.full": f"https://{S3_HOST}:9000/{S3_BUCKET}/{key}",
            "server.address": S3_HOST,
            "server.port": 9000,
        }
        with self.span(
            service, "s3", f"S3.{operation}", parent, SpanKind.CLIENT, attributes
        ) as span:
            self.wait_ms(*{"PUT": (120, 900), "GET": (40, 300), "HEAD": (3, 15)}[method])
            span.set_attribute("http.response.status_code", 200)

    # --- RabbitMQ -------------------------------------------------------------------------

    def publish(self, service: str, topic: str, parent: Span) -> AmqpMessage:
        """A PRODUCER span; the returned message's headers carry its traceparent."""
        message_id = "%08x-%04x-4%03x-%04x-%012x" % (  # noqa: UP031 - a UUID from the order's rng
            self.rng.getrandbits(32),
            self.rng.getrandbits(16),
            self.rng.getrandbits(12),
            0x8000 | self.rng.getrandbits(14),
            self.rng.getrandbits(48),
        )
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "publish",
            "messaging.operation.name": "publish",
            "messaging.destination.name": topic,
            "messaging.rabbitmq.destination.routing_key": topic,
            "messaging.message.id": message_id,
            "server.address": RABBITMQ_HOST,
            "server.port": 5672,
        }
        with self.span(
            service, "messaging", f"publish {topic}", parent, SpanKind.PRODUCER, attributes
        ) as span:
            headers: dict[str, str] = {}
            _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))
            self.wait_ms(0.3, 2)
        return AmqpMessage(message_id, topic, headers, self.now)

    @contextmanager
    def consume(self, service: str, message: AmqpMessage) -> Iterator[Span]:
        """The CONSUMER span that handles `message`: a new trace linked to the producer span.
        The Java agent reports processing ("process"), the .NET library delivery ("receive")."""
        operation = "receive" if service == "mes-api" else "process"
        producer = trace.get_current_span(_PROPAGATOR.extract(message.headers))
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": operation,
            "messaging.operation.name": operation,
            "messaging.destination.name": message.topic,
            "messaging.rabbitmq.destination.routing_key": message.topic,
            "messaging.message.id": message.id,
            "server.address": RABBITMQ_HOST,
            "server.port": 5672,
        }
        with self.span(
            service,
            "messaging",
            f"{operation} {message.topic}",
            None,
            SpanKind.CONSUMER,
            attributes,
            links=[Link(producer.get_span_context())],
        ) as span:
            yield span
