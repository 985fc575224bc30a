"""Zipkin v2 read as Zipkin merges and cleans spans: its own data cases (Zipkin's Trace.merge and
Zipkin Lens's span-cleaner, span-node and clock-skew tests), rebuilt on data written here."""

import orjson

from explorer.traces.model import SpanKind
from explorer.traces.parsers import parse_bytes
from explorer.traces.parsers.zipkin_json import shared_server_id

TRACE = "463ac35c9f6413ad48485a3953bb6124"
T = 1_700_000_000_000_000  # µs


def z(
    span_id, *, parent=None, kind=None, service="frontend", ip="10.0.0.1", ts=T, dur=1000, **extra
):
    span = {"traceId": TRACE, "id": span_id, "name": f"op-{span_id}"}
    if parent:
        span["parentId"] = parent
    if kind:
        span["kind"] = kind
    if ts is not None:
        span["timestamp"] = ts
    if dur is not None:
        span["duration"] = dur
    if service is not None:
        span["localEndpoint"] = {"serviceName": service, "ipv4": ip}
    span.update(extra)
    return span


def read(*spans):
    result = parse_bytes(orjson.dumps(list(spans)))
    assert result.format == "zipkin-json"
    return result


def only_trace(result):
    [trace] = result.traces
    return trace


def roots(trace):
    ids = {s.span_id for s in trace.spans}
    return [s.span_id for s in trace.spans if s.parent_id is None or s.parent_id not in ids]


def parent_of(trace):
    return {s.span_id: s.parent_id for s in trace.spans}


def test_a_fragment_without_timestamp_merges_into_its_client_span():
    fragment = z(
        "000000000000000b",
        parent="000000000000000a",
        ts=None,
        dur=None,
        tags={"http.status_code": "200"},
        annotations=[{"timestamp": T + 900, "value": "flush"}],
    )
    client = z("000000000000000b", parent="000000000000000a", kind="CLIENT", ts=T + 100, dur=800)
    root = z("000000000000000a", kind="SERVER", dur=1000)
    result = read(fragment, root, client)  # the fragment first: the client still wins
    trace = only_trace(result)
    assert result.errors == [] and result.warnings == []
    assert len(trace.spans) == 2
    [merged] = [s for s in trace.spans if s.span_id == "000000000000000b"]
    assert merged.kind == SpanKind.CLIENT
    assert (merged.start_ns, merged.end_ns) == ((T + 100) * 1000, (T + 900) * 1000)
    assert merged.attributes["http.status_code"] == "200"
    assert [e.name for e in merged.events] == ["flush"]
    assert min(s.start_ns for s in trace.spans) == T * 1000  # not 1970


def test_a_fragment_without_local_endpoint_merges_too():
    trace = only_trace(
        read(
            z("000000000000000a", kind="CLIENT"),
            z("000000000000000a", service=None, ts=None, dur=None, tags={"late": "yes"}),
        )
    )
    [span] = trace.spans
    assert span.kind == SpanKind.CLIENT and span.attributes == {"late": "yes"}


def test_duplicates_are_deduplicated():
    trace = only_trace(read(*[z("000000000000000a")] * 3))
    assert len(trace.spans) == 1


def test_an_untimed_span_that_cannot_merge_is_placed_at_its_ancestor_and_reported():
    result = read(
        z("000000000000000a", kind="SERVER", ts=T + 5000),
        z(
            "000000000000000b",
            parent="000000000000000a",
            service="worker",
            ip="10.0.0.7",
            ts=None,
            dur=None,
        ),
    )
    trace = only_trace(result)
    [untimed] = [s for s in trace.spans if s.span_id == "000000000000000b"]
    assert untimed.start_ns == untimed.end_ns == (T + 5000) * 1000
    assert any("000000000000000b has no timestamp" in w.message for w in result.warnings)


def test_a_trace_without_any_timestamp_is_rejected_never_placed_at_epoch_zero():
    result = read(z("000000000000000a", ts=None, dur=None))
    assert result.traces == []
    assert "has no timestamp" in result.errors[0].message


def test_a_server_per_host_sharing_the_client_id_stays_separate():
    client = z("000000000000000c", parent="000000000000000a", kind="CLIENT")
    root = z("000000000000000a", kind="SERVER")
    h1 = z(
        "000000000000000c",
        parent="000000000000000a",
        kind="SERVER",
        service="consumer",
        ip="10.0.1.1",
        shared=True,
    )
    h2 = z(
        "000000000000000c",
        parent="000000000000000a",
        kind="SERVER",
        service="consumer",
        ip="10.0.1.2",
        shared=True,
    )
    child1 = z("00000000000000d1", parent="000000000000000c", service="consumer", ip="10.0.1.1")
    child2 = z("00000000000000d2", parent="000000000000000c", service="consumer", ip="10.0.1.2")
    result = read(root, client, h1, h2, child1, child2)
    trace = only_trace(result)
    assert result.errors == []
    assert len(trace.spans) == 6 and len({s.span_id for s in trace.spans}) == 6
    servers = [s for s in trace.spans if s.kind == SpanKind.SERVER and s.service == "consumer"]
    assert len(servers) == 2
    assert all(s.parent_id == "000000000000000c" for s in servers)
    parents = parent_of(trace)
    assert parents["00000000000000d1"] != parents["00000000000000d2"]
    assert {parents["00000000000000d1"], parents["00000000000000d2"]} == {
        s.span_id for s in servers
    }
    assert roots(trace) == ["000000000000000a"]


def test_non_shared_spans_of_one_id_on_two_hosts_are_two_spans():
    trace = only_trace(
        read(
            z("000000000000000c", kind="SERVER", service="consumer", ip="10.0.1.1"),
            z("000000000000000c", kind="SERVER", service="consumer", ip="10.0.1.2", ts=T + 10),
        )
    )
    assert len(trace.spans) == 2
    assert len({s.span_id for s in trace.spans}) == 2


def test_a_shared_server_without_its_client_stays_in_one_tree():
    # Zipkin Lens shows: root -> shared server -> its children, one tree
    result = read(
        z("000000000000000a", kind="SERVER"),
        z(
            "000000000000000b",
            parent="000000000000000a",
            kind="SERVER",
            service="backend",
            ip="10.0.0.2",
            shared=True,
            ts=T + 10,
            dur=500,
        ),
        z(
            "00000000000000b1",
            parent="000000000000000b",
            kind="CLIENT",
            service="backend",
            ip="10.0.0.2",
            ts=T + 20,
            dur=100,
        ),
        z(
            "00000000000000b2",
            parent="000000000000000b",
            service="backend",
            ip="10.0.0.2",
            ts=T + 200,
            dur=100,
        ),
    )
    trace = only_trace(result)
    assert len(trace.spans) == 4 and roots(trace) == ["000000000000000a"]
    parents = parent_of(trace)
    [server] = [s for s in trace.spans if s.service == "backend" and s.kind == SpanKind.SERVER]
    assert parents[server.span_id] == "000000000000000a"
    assert parents["00000000000000b1"] == parents["00000000000000b2"] == server.span_id
    assert not any("absent" in w for w in trace.warnings)


def test_a_shared_root_without_client_or_parent_is_an_ordinary_root():
    trace = only_trace(
        read(
            z("000000000000000b", kind="SERVER", shared=True),
            z("00000000000000b1", parent="000000000000000b", ts=T + 10, dur=10),
        )
    )
    assert parent_of(trace) == {"000000000000000b": None, "00000000000000b1": "000000000000000b"}


def test_a_missing_shared_flag_is_backfilled_after_a_client():
    trace = only_trace(
        read(
            z("000000000000000a", kind="CLIENT"),
            z("000000000000000a", kind="SERVER", service="backend", ip="10.0.0.2"),
        )
    )
    client, server = trace.spans
    assert client.span_id == "000000000000000a"
    assert server.span_id == shared_server_id(TRACE, "000000000000000a")
    assert server.parent_id == client.span_id


def test_a_span_naming_itself_as_parent_is_a_root():
    trace = only_trace(read(z("000000000000000b", parent="000000000000000b")))
    assert trace.spans[0].parent_id is None


def test_the_tree_comes_from_parentage_not_input_order():
    spans = [
        z("000000000000000a"),
        z("000000000000000b", parent="000000000000000a"),
        z("000000000000000c", parent="000000000000000b"),
        z("000000000000000d", parent="000000000000000c"),
    ]
    trace = only_trace(read(*reversed(spans)))
    assert roots(trace) == ["000000000000000a"]
    assert parent_of(trace)["000000000000000d"] == "000000000000000c"


def test_clock_skew_of_a_server_before_its_client_is_corrected_on_its_host():
    # client 100..200 on 10.0.0.1; its server 50..110 on 10.0.0.2 appears to start first;
    # latency (100 - 60) / 2 = 20, so the server host's clock is 70 µs behind: 120..180
    result = read(
        z("000000000000000a", kind="SERVER", ts=T, dur=300),
        z("000000000000000b", parent="000000000000000a", kind="CLIENT", ts=T + 100, dur=100),
        z(
            "000000000000000b",
            parent="000000000000000a",
            kind="SERVER",
            service="backend",
            ip="10.0.0.2",
            shared=True,
            ts=T + 50,
            dur=60,
        ),
        z(
            "00000000000000b1",
            parent="000000000000000b",
            service="backend",
            ip="10.0.0.2",
            ts=T + 55,
            dur=10,
        ),
    )
    trace = only_trace(result)
    starts = {s.span_id: s.start_ns // 1000 - T for s in trace.spans}
    server = shared_server_id(TRACE, "000000000000000b")
    assert starts[server] == 120 and starts["00000000000000b1"] == 125
    assert starts["000000000000000b"] == 100
    assert any("clock skew" in w.message for w in result.warnings)


def test_a_single_span_object_is_read():
    result = parse_bytes(orjson.dumps(z("000000000000000a", kind="SERVER")))
    assert result.format == "zipkin-json" and result.errors == []
    assert [s.span_id for s in only_trace(result).spans] == ["000000000000000a"]
    named = parse_bytes(orjson.dumps(z("000000000000000a")), fmt="zipkin-json")
    assert named.span_count == 1
    bad = parse_bytes(b'{"traceId": "463ac35c9f6413ad48485a3953bb6124", "id": 5}')
    assert bad.traces == [] and "id must be a non-empty string" in bad.errors[0].message


def test_mixed_length_trace_ids_are_one_trace_under_the_128_bit_id():
    low = "2222222222222222"
    trace = only_trace(
        read(
            {**z("000000000000000a"), "traceId": "1111111111111111" + low},
            {**z("000000000000000b", parent="000000000000000a"), "traceId": "0" * 16 + low},
            {**z("000000000000000c", parent="000000000000000b"), "traceId": low},
        )
    )
    assert trace.trace_id == "1111111111111111" + low
    assert roots(trace) == ["000000000000000a"] and len(trace.spans) == 3


def test_two_128_bit_traces_sharing_low_bits_stay_apart():
    low = "2222222222222222"
    result = read(
        {**z("000000000000000a"), "traceId": "1" * 16 + low},
        {**z("000000000000000b"), "traceId": "3" * 16 + low},
        {**z("000000000000000c"), "traceId": low},
    )
    assert len(result.traces) == 3


def test_pieces_without_endpoints_merge_into_the_first_span_of_the_id():
    # Zipkin Lens: "should merge when missing endpoints" and "should not merge shared spans on
    # different IPs": one client (timestamp and duration from two pieces), two servers
    trace = only_trace(
        read(
            z("000000000000000a", kind="SERVER", service="frontend"),
            z(
                "000000000000000b",
                parent="000000000000000a",
                kind="CLIENT",
                service="frontend",
                ts=T + 1,
                dur=None,
            ),
            z(
                "000000000000000b",
                parent="000000000000000a",
                kind="SERVER",
                service="backend",
                ip="1.2.3.4",
                shared=True,
                ts=T + 2,
                dur=5,
            ),
            z(
                "000000000000000b",
                parent="000000000000000a",
                kind="SERVER",
                service="backend",
                ip="1.2.3.5",
                shared=True,
                ts=T + 3,
                dur=5,
            ),
            z("000000000000000b", parent="000000000000000a", service=None, ts=None, dur=10),
        )
    )
    assert len(trace.spans) == 4 and roots(trace) == ["000000000000000a"]
    [client] = [s for s in trace.spans if s.kind == SpanKind.CLIENT]
    assert (client.span_id, client.duration_ns) == ("000000000000000b", 10_000)
    servers = [s for s in trace.spans if s.service == "backend"]
    assert len({s.span_id for s in servers}) == 2
    assert all(s.parent_id == "000000000000000b" for s in servers)
