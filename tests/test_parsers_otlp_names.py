"""OTLP JSON in both field-name styles of the protobuf JSON mapping: lowerCamelCase and the
original snake_case names (older Tempo and Grafana output), and the two mixed."""

import orjson

from explorer.traces.model import SpanKind, StatusCode
from explorer.traces.parsers import parse_bytes

TRACE = "5b8efff798038103d269b633813fc60c"


def snake_document():
    return {
        "resource_spans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"string_value": "shop-api"}},
                        {"key": "host.cpus", "value": {"int_value": "4"}},
                    ]
                },
                "scope_spans": [
                    {
                        "scope": {"name": "io.opentelemetry.spring", "version": "2.1"},
                        "spans": [
                            {
                                "trace_id": TRACE,
                                "span_id": "eee19b7ec3c1b174",
                                "parent_span_id": "eee19b7ec3c1b173",
                                "name": "POST /orders",
                                "kind": "SPAN_KIND_SERVER",
                                "start_time_unix_nano": "1700000000000000000",
                                "end_time_unix_nano": "1700000000250000000",
                                "attributes": [
                                    {"key": "order.id", "value": {"string_value": "A-1"}},
                                    {"key": "ok", "value": {"bool_value": True}},
                                    {"key": "ratio", "value": {"double_value": 0.5}},
                                    {
                                        "key": "tags",
                                        "value": {
                                            "array_value": {
                                                "values": [{"string_value": "a"}, {"int_value": 2}]
                                            }
                                        },
                                    },
                                    {
                                        "key": "nested",
                                        "value": {
                                            "kvlist_value": {
                                                "values": [
                                                    {"key": "k", "value": {"string_value": "v"}}
                                                ]
                                            }
                                        },
                                    },
                                ],
                                "events": [
                                    {
                                        "time_unix_nano": "1700000000100000000",
                                        "name": "order.state_changed",
                                        "attributes": [
                                            {
                                                "key": "order.state",
                                                "value": {"string_value": "SUBMITTED"},
                                            }
                                        ],
                                    }
                                ],
                                "links": [{"trace_id": TRACE, "span_id": "eee19b7ec3c1b170"}],
                                "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def check(result):
    assert result.errors == [] and result.format == "otlp-json"
    [trace] = result.traces
    [span] = trace.spans
    assert (span.trace_id, span.span_id, span.parent_id) == (
        TRACE,
        "eee19b7ec3c1b174",
        "eee19b7ec3c1b173",
    )
    assert span.kind == SpanKind.SERVER and span.service == "shop-api"
    assert span.resource.attributes["host.cpus"] == 4
    assert (span.start_ns, span.end_ns) == (1_700_000_000_000_000_000, 1_700_000_000_250_000_000)
    assert span.attributes == {
        "order.id": "A-1",
        "ok": True,
        "ratio": 0.5,
        "tags": ["a", 2],
        "nested": {"k": "v"},
    }
    [event] = span.events
    assert (event.name, event.time_ns, event.attributes) == (
        "order.state_changed",
        1_700_000_000_100_000_000,
        {"order.state": "SUBMITTED"},
    )
    assert span.links[0].span_id == "eee19b7ec3c1b170"
    assert (span.status_code, span.status_message) == (StatusCode.ERROR, "boom")
    assert span.scope.name == "io.opentelemetry.spring"


def test_snake_case_field_names():
    check(parse_bytes(orjson.dumps(snake_document())))
    check(parse_bytes(orjson.dumps(snake_document()), fmt="otlp-json"))


def test_snake_case_inside_a_camel_case_document():
    document = snake_document()
    group = document.pop("resource_spans")[0]
    group["scopeSpans"] = group.pop("scope_spans")
    document["resourceSpans"] = [group]
    span = group["scopeSpans"][0]["spans"][0]
    span["traceId"], span["spanId"] = span.pop("trace_id"), span.pop("span_id")
    span["parentSpanId"] = span.pop("parent_span_id")
    span["startTimeUnixNano"] = span.pop("start_time_unix_nano")
    span["endTimeUnixNano"] = span.pop("end_time_unix_nano")
    check(parse_bytes(orjson.dumps(document)))  # values, events and links still snake_case


def test_snake_case_in_a_tempo_wrapper_and_json_lines():
    line = orjson.dumps({"trace": snake_document()})
    check(parse_bytes(line))
    result = parse_bytes(line + b"\n" + orjson.dumps(snake_document()) + b"\n")
    assert result.format == "jsonl" and result.errors == [] and result.span_count == 1


def test_an_unknown_value_type_is_still_an_error_in_either_style():
    document = snake_document()
    span = document["resource_spans"][0]["scope_spans"][0]["spans"][0]
    span["attributes"] = [{"key": "x", "value": {"strange_value": 1}}]
    result = parse_bytes(orjson.dumps(document))
    assert result.traces == []
    assert "unknown attribute value type" in result.errors[0].message
