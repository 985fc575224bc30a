"""Conformance with files real backends wrote (../shared/reference/backends; skipped when absent).

The project's own fixtures in test_parsers.py cover the same shapes."""

from __future__ import annotations

import pytest

from explorer.traces.parsers import iter_file, parse_bytes
from tests.conftest import reference_dir

EXPECTED_SPANS = {
    "jaeger-apiv3-FindTraceSummaries.json": 0,  # answers about traces, not spans
    "jaeger-apiv3-FindTraces.json": 1,
    "jaeger-apiv3-GetOperations.json": 0,
    "jaeger-apiv3-GetServices.json": 0,
    "jaeger-apiv3-GetTrace.json": 1,
    "jaeger-ui-format-trace-success.json": 2,
    "jaeger-v1-api-trace-57spans.json": 4,  # the name says 57; the file holds 4
    "otlp-to-jaeger-in.json": 1,  # the same span twice: the identical copy is dropped
    "otlp-to-jaeger-out.json": 1,
    "tempo-otlp-base64-ids.json": 6,
}


def test_the_backend_files_are_those_expected():
    folder = reference_dir("backends")
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPECTED_SPANS)


@pytest.mark.parametrize("name", sorted(EXPECTED_SPANS))
def test_a_backend_file_parses_with_the_expected_span_count(name):
    path = reference_dir("backends") / name
    for result in (parse_bytes(path.read_bytes()), *iter_file(path)):
        assert result.errors == [], (name, result.errors)
        assert result.span_count == EXPECTED_SPANS[name], name


def test_tempo_base64_ids_become_hex_and_link_up():
    folder = reference_dir("backends")
    [trace] = parse_bytes((folder / "tempo-otlp-base64-ids.json").read_bytes()).traces
    assert len(trace.trace_id) == 32 and int(trace.trace_id, 16)
    assert all(len(s.span_id) == 16 and s.span_id == s.span_id.lower() for s in trace.spans)
    assert trace.warnings == []  # every parent id decodes to a span of the trace
    assert len(trace.roots()) == 2


def test_jaeger_api_v3_numeric_kind_and_status():
    from explorer.traces.model import SpanKind, StatusCode

    folder = reference_dir("backends")
    [span] = parse_bytes((folder / "jaeger-apiv3-GetTrace.json").read_bytes()).traces[0].spans
    assert (span.kind, span.status_code, span.name) == (SpanKind.SERVER, StatusCode.ERROR, "foobar")


@pytest.mark.parametrize(
    "field",
    [
        "trace_id",
        "span_id",
        "parent_id",
        "parent_ref",
        "name",
        "kind",
        "start_ns",
        "end_ns",
        "status_code",
        "status_message",
        "attributes",
        "events",
        "links",
        "scope",
        "resource",
    ],
)
def test_otlp_to_jaeger_pair_normalises_to_the_same_spans(field):
    # Jaeger's OTLP->Jaeger conversion adds span.kind (-> kind), otel.library.name (-> scope)
    # and, on some versions, internal.span.format (dropped) and error/otel.status_* (-> status);
    # the Jaeger parser folds those back, see explorer/traces/parsers/jaeger_json.py.
    folder = reference_dir("backends")
    [otlp] = parse_bytes((folder / "otlp-to-jaeger-in.json").read_bytes()).traces
    [jaeger] = parse_bytes((folder / "otlp-to-jaeger-out.json").read_bytes()).traces
    assert otlp.trace_id == jaeger.trace_id
    assert len(otlp.spans) == len(jaeger.spans) == 1
    assert [getattr(s, field) for s in otlp.spans] == [getattr(s, field) for s in jaeger.spans]
