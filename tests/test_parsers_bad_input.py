"""Bad input, one test per case of issue 2: a clear message or a repaired result, never a
traceback or a hang, and the good traces of the same batch are kept."""

from __future__ import annotations

import random

import orjson

from explorer.traces.parsers import iter_file, parse_bytes
from explorer.traces.parsers.common import MAX_VALUE_DEPTH
from tests.test_parsers import START, TRACE_ID, jaeger_span, jaeger_trace, otlp_bytes, otlp_span

GOOD = otlp_span("b7ad6b7169203331")


def test_truncated_json():
    data = otlp_bytes([GOOD])
    result = parse_bytes(data[:-7], source="cut.json")
    assert result.traces == []
    [error] = result.errors
    assert error.source == "cut.json" and error.position.startswith("byte ")
    assert "truncated JSON" in error.message


def test_invalid_json_names_the_byte():
    result = parse_bytes(b'{"resourceSpans": [}]}')
    [error] = result.errors
    assert error.position == "byte 19" and "invalid JSON" in error.message


def test_wrong_time_type_rejects_that_span_only():
    bad = otlp_span("00f067aa0ba902b7", start="abc")
    result = parse_bytes(otlp_bytes([GOOD, bad]))
    assert [s.span_id for s in result.traces[0].spans] == ["b7ad6b7169203331"]
    [error] = result.errors
    assert "resourceSpans[0].scopeSpans[0].spans[1]" in error.message
    assert "startTimeUnixNano" in error.message and "'abc'" in error.message


def test_attributes_not_a_list():
    bad = otlp_span("00f067aa0ba902b7", attributes={"order.id": "A-1"})
    result = parse_bytes(otlp_bytes([GOOD, bad]))
    assert result.span_count == 1
    assert "attributes must be a list" in result.errors[0].message


def test_wrong_attribute_value_types():
    for value, expected in [
        ({"intValue": "12x"}, "intValue must be an integer"),
        ({"boolValue": "yes"}, "boolValue must be true or false"),
        ({"bytesValue": "%%%"}, "bytesValue must be base64"),
        ({"weirdValue": 1}, "unknown attribute value type"),
        ("plain", "attribute value must be an object"),
    ]:
        bad = otlp_span("00f067aa0ba902b7", attributes=[{"key": "k", "value": value}])
        result = parse_bytes(otlp_bytes([GOOD, bad]))
        assert result.span_count == 1, value
        assert expected in result.errors[0].message, (value, result.errors)


def test_wrong_kind_status_and_structure_types():
    cases = [
        otlp_span("00f067aa0ba902b7", kind="SIDEWAYS"),
        otlp_span("00f067aa0ba902b7", status={"code": 9}),
        otlp_span("00f067aa0ba902b7", name=["list"]),
        otlp_span("00f067aa0ba902b7", events="soon"),
        "not a span",
    ]
    for bad in cases:
        result = parse_bytes(otlp_bytes([GOOD, bad]))
        assert result.span_count == 1 and len(result.errors) == 1, bad
    not_lists = parse_bytes(b'{"resourceSpans": {"scopeSpans": 1}}')
    assert not_lists.traces == [] and "must be a list" in not_lists.errors[0].message


def test_jaeger_wrong_types():
    spans = [
        jaeger_span("00000000000000a1"),
        jaeger_span("00000000000000a2", start_us="yesterday"),
        jaeger_span("00000000000000a3", tags=[{"key": "n", "type": "int64", "value": "x"}]),
        jaeger_span("00000000000000a4", process_id="p9"),
    ]
    result = parse_bytes(orjson.dumps({"data": [jaeger_trace(spans)]}))
    assert result.span_count == 1
    messages = [e.message for e in result.errors]
    assert "startTime must be a number of microseconds" in messages[0]
    assert "int64" in messages[1] and "processID 'p9'" in messages[2]


def test_missing_and_malformed_ids():
    missing = {k: v for k, v in otlp_span("00f067aa0ba902b7").items() if k != "spanId"}
    cases = [
        (missing, "missing field 'spanId'"),
        (otlp_span(""), "spanId must be a non-empty string"),
        (otlp_span(17), "spanId must be a non-empty string, got 17"),
        (otlp_span("00f067aa0ba902b7", trace_id=""), "traceId must be a non-empty string"),
        (otlp_span("00f067aa0ba902b7", trace_id=["x"]), "traceId must be a non-empty"),
    ]
    for bad, expected in cases:
        result = parse_bytes(otlp_bytes([GOOD, bad]))
        assert [s.span_id for s in result.traces[0].spans] == ["b7ad6b7169203331"]
        [error] = result.errors
        assert "spans[1]" in error.message and expected in error.message, error


def test_parent_absent_keeps_the_id_and_warns():
    orphan = otlp_span("00f067aa0ba902b7", parent="aaaaaaaaaaaaaaaa")
    result = parse_bytes(otlp_bytes([GOOD, orphan]))
    [trace] = result.traces
    assert trace.spans[1].parent_id == "aaaaaaaaaaaaaaaa"
    assert [s.span_id for s in trace.roots()] == ["b7ad6b7169203331", "00f067aa0ba902b7"]
    assert "parent aaaaaaaaaaaaaaaa absent" in trace.warnings[0]
    assert result.errors == [] and "parent aaaaaaaaaaaaaaaa absent" in result.warnings[0].message


def test_cycle_of_parent_links_is_broken():
    spans = [
        otlp_span("000000000000000a", parent="000000000000000c", start=START + 5),
        otlp_span("000000000000000b", parent="000000000000000a", start=START + 1),
        otlp_span("000000000000000c", parent="000000000000000b", start=START + 3),
        otlp_span("000000000000000d", parent="000000000000000d"),
        otlp_span("000000000000000e", parent="000000000000000b"),
    ]
    [trace] = parse_bytes(otlp_bytes(spans)).traces
    parents = {s.span_id: s.parent_id for s in trace.spans}
    assert parents["000000000000000b"] is None  # the earliest span of the cycle
    assert parents["000000000000000d"] is None
    assert parents["000000000000000a"] == "000000000000000c"
    assert sorted(s.span_id for s in trace.roots()) == ["000000000000000b", "000000000000000d"]
    assert sum("cycle of parent links" in w for w in trace.warnings) == 2


def test_duplicate_span_ids():
    twin = otlp_span("b7ad6b7169203331")
    impostor = otlp_span("b7ad6b7169203331", name="other")
    identical = parse_bytes(otlp_bytes([GOOD, twin]))
    assert identical.span_count == 1 and identical.warnings == []
    different = parse_bytes(otlp_bytes([GOOD, impostor]))
    [trace] = different.traces
    assert [s.name for s in trace.spans] == ["op"]
    assert "used by two different spans" in trace.warnings[0]


def test_end_before_start():
    backwards = otlp_span("00f067aa0ba902b7", start=START + 100, end=START + 40)
    [trace] = parse_bytes(otlp_bytes([GOOD, backwards])).traces
    span = trace.spans[1]
    assert span.end_ns == span.start_ns == START + 100
    assert "ends before it starts" in trace.warnings[0]


def test_unknown_format():
    for data, expected in [
        (b'{"hello": "world"}', "unknown format: a JSON object with keys"),
        (b"[1, 2]", "unknown format: a JSON list"),
        (b'"text"', "unknown format"),
        (b"timestamp,service\n1,shop-api\n", "text that is not JSON"),
    ]:
        result = parse_bytes(data)
        assert result.traces == [] and expected in result.errors[0].message, result.errors
    named = parse_bytes(otlp_bytes([GOOD]), fmt="yaml")
    assert "unknown format name 'yaml'" in named.errors[0].message


def test_empty_file(tmp_path):
    for content in (b"", b"  \n\n "):
        path = tmp_path / "empty.json"
        path.write_bytes(content)
        [result] = iter_file(path)
        assert result.traces == [] and "empty" in result.errors[0].message
    assert "empty" in parse_bytes(b"").errors[0].message


def test_binary_file(tmp_path):
    noise = random.Random(7).randbytes(4096)
    for content in (noise, b"\x89PNG\r\n\x1a\n" + noise, b"\x00" * 64):
        path = tmp_path / "blob.bin"
        path.write_bytes(content)
        [result] = iter_file(path)
        assert result.traces == [], content[:8]
        assert "binary data" in result.errors[0].message or "not OTLP" in result.errors[0].message
    broken_gzip = parse_bytes(b"\x1f\x8b" + noise)
    assert "broken gzip data" in broken_gzip.errors[0].message


def test_deep_nesting_never_crashes():
    """A value nested up to MAX_VALUE_DEPTH arrays is read; a deeper one (300: within orjson's
    nesting limit, past the store's JSON encoder's) rejects its span alone, with a message."""

    def doc_with(depth: int) -> bytes:
        value = b'{"arrayValue": {"values": [' * depth + b'{"stringValue": "leaf"}'
        value += b"]}}" * depth
        marker = b'"attributes": "MARK"'
        good = otlp_span("00f067aa0ba902b6")
        bad = otlp_span("00f067aa0ba902b7", attributes="MARK")
        return otlp_bytes([good, bad]).replace(
            marker.replace(b" ", b""), b'"attributes": [{"key": "k", "value": ' + value + b"}]"
        )

    result = parse_bytes(doc_with(MAX_VALUE_DEPTH))
    assert result.span_count == 2 and result.errors == []
    [nested] = [s.attributes["k"] for s in result.traces[0].spans if "k" in s.attributes]
    for _ in range(MAX_VALUE_DEPTH):
        nested = nested[0]
    assert nested == "leaf"
    for depth in (MAX_VALUE_DEPTH + 1, 300):
        result = parse_bytes(doc_with(depth))
        assert result.span_count == 1
        [error] = result.errors
        assert (
            f"spans[1]: attribute value nests arrays or lists more than {MAX_VALUE_DEPTH} deep"
            in str(error)
        )
    too_deep = parse_bytes(b"[" * 5000 + b"]" * 5000)
    assert too_deep.traces == [] and too_deep.errors


def test_a_bad_file_in_a_batch_keeps_the_good_ones(tmp_path):
    (tmp_path / "a.json").write_bytes(otlp_bytes([GOOD]))
    (tmp_path / "b.json").write_bytes(b'{"resourceSpans": [{"scopeSpans": [')
    (tmp_path / "c.bin").write_bytes(b"\x00\x01\x02")
    (tmp_path / "d.jsonl").write_bytes(
        otlp_bytes([otlp_span("00f067aa0ba902b7", trace_id="e" * 32)])
        + b"\n{oops}\n"
        + otlp_bytes([otlp_span("00f067aa0ba902b8", trace_id="d" * 32)])
        + b"\n"
    )
    results = [r for path in sorted(tmp_path.iterdir()) for r in iter_file(path)]
    traces = sorted(t.trace_id for r in results for t in r.traces)
    assert traces == [TRACE_ID, "d" * 32, "e" * 32]
    errors = [(e.source.rsplit("/", 1)[-1], e.position) for r in results for e in r.errors]
    assert [name for name, _ in errors] == ["b.json", "c.bin", "d.jsonl"]
    assert errors[2][1] == "line 2"


def test_a_wrapper_without_resource_spans_is_reported_not_silent():
    result = parse_bytes(b'{"trace": {"spans": []}, "source": "x"}')
    assert result.traces == []
    assert any("no resourceSpans" in w.message for w in result.warnings + result.errors)
