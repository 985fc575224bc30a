"""OpenTelemetry SDK plumbing of the simulation: deterministic ids, synchronous batching and an
exporter that writes OTLP JSON lines the way the OpenTelemetry Collector's file exporter does.

Everything here is deterministic: ids come from a seeded generator, batches are cut by count
(never by a timer thread), and JSON keys keep their insertion order.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import orjson
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator

FILE_PREFIX = "alexandrite-day-"
FILE_SUFFIX = ".jsonl"
_DAY_NS = 86400 * 10**9


class SimulationError(RuntimeError):
    """The simulation cannot go on (bad option, unwritable output, failed OTLP export)."""


class SeededIdGenerator(IdGenerator):
    """Trace and span ids drawn from a random.Random seeded with the simulation's seed."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"alexandrite-ids:{seed}")

    def _nonzero(self, bits: int) -> int:
        value = 0
        while value == 0:
            value = self._rng.getrandbits(bits)
        return value

    def generate_span_id(self) -> int:
        return self._nonzero(64)

    def generate_trace_id(self) -> int:
        return self._nonzero(128)


class SyncBatchProcessor(SpanProcessor):
    """Hands ended spans to the exporters in batches of about `batch_size`, on the calling
    thread. A batch is cut only after a root span ends, so a trace (whose spans end before its
    root) stays in one batch, i.e. on one line.

    The SDK's BatchSpanProcessor cuts batches on a timer in a thread, so its files would differ
    from run to run; this one is as cheap and fully deterministic.
    """

    def __init__(
        self,
        exporters: Sequence[tuple[str, SpanExporter]],
        batch_size: int = 512,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._exporters = list(exporters)
        self._batch_size = batch_size
        self._batch: list[ReadableSpan] = []
        self._on_failure = on_failure  # None: a failed export stops the run
        self.exported = 0

    def on_end(self, span: ReadableSpan) -> None:
        self._batch.append(span)
        if span.parent is None and len(self._batch) >= self._batch_size:
            self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        for description, exporter in self._exporters:
            if exporter.export(batch) != SpanExportResult.SUCCESS:
                problem = f"{description} could not export a batch of {len(batch)} spans"
                if self._on_failure is None:
                    raise SimulationError(problem)
                self._on_failure(problem)
                return
        self.exported += len(batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._flush()
        return True

    def shutdown(self) -> None:
        self._flush()
        for _, exporter in self._exporters:
            exporter.shutdown()


class CutOffProcessor(SpanProcessor):
    """Passes on to `inner` only the spans that ended by `until_ns` (every span when None):
    what a collector has received at the simulated "now"; a span still open then is never
    exported. With `after_ns`, only those that ended after it: what a run cut off there did
    not export (the live demo continues from there). `on_end(span, kept)` hears about every
    ended span."""

    def __init__(
        self,
        inner: SpanProcessor,
        until_ns: int | None,
        on_end: Callable[[ReadableSpan, bool], None],
        after_ns: int | None = None,
    ) -> None:
        self._inner = inner
        self._until_ns = until_ns
        self._after_ns = after_ns
        self._on_end = on_end

    def on_end(self, span: ReadableSpan) -> None:
        end = span.end_time or 0
        kept = (self._until_ns is None or end <= self._until_ns) and (
            self._after_ns is None or end > self._after_ns
        )
        if kept:
            self._inner.on_end(span)
        self._on_end(span, kept)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._inner.shutdown()


class HeldUntilDue(SpanProcessor):
    """Passes each ended span on to `inner` once the simulated clock (release()) has reached
    its end, in the order they end. A step makes its spans at once, though some end hours
    later (a seller closing an order by hand in working hours): the live demo exported them at
    once, up to 9 simulated hours ahead of its clock, and the explorer judges stuck and lost
    at its newest span. Spans still held at shutdown have not happened yet: dropped."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner
        self._held: list[tuple[int, int, ReadableSpan]] = []
        self._sequence = 0  # spans ending together go on in the order they ended

    def on_end(self, span: ReadableSpan) -> None:
        self._sequence += 1
        heapq.heappush(self._held, (span.end_time or 0, self._sequence, span))

    def release(self, now_ns: int) -> None:
        """Pass on every span that ended by now_ns."""
        while self._held and self._held[0][0] <= now_ns:
            self._inner.on_end(heapq.heappop(self._held)[2])

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._held.clear()
        self._inner.shutdown()


def _any_value(value: Any) -> dict[str, Any]:
    # Exact types (the SDK has already cleaned the values), and so bool is not taken for int.
    kind = type(value)
    if kind is str:
        return {"stringValue": value}
    if kind is int:
        return {"intValue": str(value)}
    if kind is bool:
        return {"boolValue": value}
    if kind is float:
        return {"doubleValue": value}
    if kind is tuple or kind is list:
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attributes: Any) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attributes or {}).items()]


def span_to_otlp_json(span: ReadableSpan) -> dict[str, Any]:
    """One span as the Collector's JSON marshaller writes it: hex ids, nanosecond strings,
    OTLP enum numbers, empty fields left out."""
    out: dict[str, Any] = {
        "traceId": format(span.context.trace_id, "032x"),
        "spanId": format(span.context.span_id, "016x"),
    }
    if span.parent is not None:
        out["parentSpanId"] = format(span.parent.span_id, "016x")
    out["name"] = span.name
    out["kind"] = span.kind.value + 1  # the API counts from INTERNAL = 0, OTLP from UNSPECIFIED
    out["startTimeUnixNano"] = str(span.start_time)
    out["endTimeUnixNano"] = str(span.end_time)
    if span.attributes:
        out["attributes"] = _attributes(span.attributes)
    if span.events:
        out["events"] = [
            {
                "timeUnixNano": str(e.timestamp),
                "name": e.name,
                **({"attributes": _attributes(e.attributes)} if e.attributes else {}),
            }
            for e in span.events
        ]
    if span.links:
        out["links"] = [
            {
                "traceId": format(link.context.trace_id, "032x"),
                "spanId": format(link.context.span_id, "016x"),
                **({"attributes": _attributes(link.attributes)} if link.attributes else {}),
            }
            for link in span.links
        ]
    status: dict[str, Any] = {}
    if span.status.status_code.value:
        if span.status.description:
            status["message"] = span.status.description
        status["code"] = span.status.status_code.value
    out["status"] = status
    return out


def export_request_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """An ExportTraceServiceRequest in OTLP JSON: spans grouped by resource, then by scope,
    each group in order of first appearance."""
    by_resource: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}
    for span in spans:
        resource = span.resource
        _, scopes = by_resource.setdefault(id(resource), (resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version or "") if scope else ("", "")
        scopes.setdefault(key, []).append(span_to_otlp_json(span))
    resource_spans = []
    for resource, scopes in by_resource.values():
        scope_spans = []
        for (name, version), items in scopes.items():
            scope_json = {"name": name, **({"version": version} if version else {})}
            scope_spans.append({"scope": scope_json, "spans": items})
        entry: dict[str, Any] = {
            "resource": {"attributes": _attributes(resource.attributes)},
            "scopeSpans": scope_spans,
        }
        if resource.schema_url:
            entry["schemaUrl"] = resource.schema_url
        resource_spans.append(entry)
    return {"resourceSpans": resource_spans}


class OtlpJsonLinesExporter(SpanExporter):
    """Writes each batch as ExportTraceServiceRequest JSON lines into one file per simulated day
    (`alexandrite-day-001.jsonl` holds spans that start on the first day after `epoch_ns`).

    Only the file of the latest day stays open; a late span of an earlier day reopens its file
    for appending, so memory stays bounded however many days are simulated.
    """

    def __init__(self, directory: Path, epoch_ns: int) -> None:
        self.directory = Path(directory)
        self._epoch_ns = epoch_ns
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Files of an earlier run would otherwise mix with this one's.
            for old in sorted(self.directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
                old.unlink()
        except OSError as exc:
            raise SimulationError(
                f"{self.directory}: cannot prepare the output directory: {exc.strerror or exc}"
            ) from None
        self._open: dict[int, IO[bytes]] = {}
        self.files: list[Path] = []

    def _file(self, day: int) -> IO[bytes]:
        handle = self._open.get(day)
        if handle is None:
            path = self.directory / f"{FILE_PREFIX}{day + 1:03d}{FILE_SUFFIX}"
            mode = "ab" if path in self.files else "wb"
            if mode == "wb":
                self.files.append(path)
            for other in [d for d in self._open if d < day]:
                self._open.pop(other).close()
            try:
                handle = self._open[day] = path.open(mode)
            except OSError as exc:
                raise SimulationError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return handle

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        by_day: dict[int, list[ReadableSpan]] = {}
        for span in spans:
            day = max(0, ((span.start_time or 0) - self._epoch_ns) // _DAY_NS)
            by_day.setdefault(day, []).append(span)
        for day, items in by_day.items():
            self._file(day).write(orjson.dumps(export_request_json(items)) + b"\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()
        self.files.sort()


def otlp_http_exporter(endpoint: str, token: str | None = None) -> tuple[str, SpanExporter]:
    """The SDK's OTLP/HTTP protobuf exporter and its description; a bare base URL gets the
    standard /v1/traces path; `token` is sent as a bearer token (the explorer's receiver).
    Headers, compression, certificates and the timeout come from the standard
    OTEL_EXPORTER_OTLP_TRACES_* / OTEL_EXPORTER_OTLP_* environment variables."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SimulationError(
            f"--otlp-endpoint {endpoint!r}: expected an http:// or https:// "
            f"URL such as http://127.0.0.1:4318"
        )
    if parts.path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return (
        f"the OTLP/HTTP export to {endpoint}",
        OTLPSpanExporter(endpoint=endpoint, headers=headers),
    )
