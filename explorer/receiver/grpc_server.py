"""OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

The request arrives as raw bytes (no deserialiser) so the project's parser reads it; gRPC
itself inflates gzip and refuses messages over EXPLORER_RECEIVER_MAX_BYTES. Refusals map to
the codes the OTLP spec names: RESOURCE_EXHAUSTED with RetryInfo when the writer is behind or
the database's disk is full (retryable only with RetryInfo), UNAVAILABLE when the database
did not take the spans otherwise (down, restarting).
"""

from __future__ import annotations

from concurrent import futures

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from explorer.receiver.service import Receiver, Request

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
# Concurrent exports served; up to PENDING more wait in gRPC's own queue (each holding its
# message), past that gRPC answers RESOURCE_EXHAUSTED at once: memory stays bounded.
WORKERS = 8
PENDING = 32
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}


def _peer_address(peer: str) -> str:
    """'ipv4:127.0.0.1:5000' / 'ipv6:[::1]:5000' -> the address."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return ""


def _export(receiver: Receiver):
    def export(body: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata())
        outcome = receiver.export(
            Request(
                read_body=lambda: body,
                size=len(body),
                content_type=None,
                content_encoding=None,
                authorization=metadata.get("authorization"),
                peer=_peer_address(context.peer()),
            ),
            fmt="otlp-proto",
        )
        if outcome.status != 200:
            if outcome.retry_after_s:
                retry = error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(seconds=outcome.retry_after_s)
                )
                context.set_trailing_metadata(
                    (("google.rpc.retryinfo-bin", retry.SerializeToString()),)
                )
            code = _CODES.get(outcome.status, grpc.StatusCode.INTERNAL)
            if outcome.storage_full:
                code = grpc.StatusCode.RESOURCE_EXHAUSTED
            context.abort(code, outcome.message)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if outcome.rejected or outcome.message:
            response.partial_success.rejected_spans = outcome.rejected
            response.partial_success.error_message = outcome.message
        return response.SerializeToString()

    return export


def grpc_server(
    receiver: Receiver, host: str, port: int, reuse_port: bool = False
) -> tuple[grpc.Server, int]:
    """A started-later server listening on host:port (port 0: a free one, returned);
    `reuse_port` as for http_server (gRPC would share a port by default: not by accident)."""
    limit = receiver.config.max_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="receiver-grpc"),
        maximum_concurrent_rpcs=WORKERS + PENDING,
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", 1 << 20),
            ("grpc.so_reuseport", int(reuse_port)),
        ],
    )
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(_export(receiver)),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    config = receiver.config
    if config.tls:
        with open(config.tls_key, "rb") as key, open(config.tls_cert, "rb") as cert:
            credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    return server, bound
