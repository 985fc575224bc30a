"""`backends check`, `fetch-trace` and the trace cache, against replaying servers."""

import base64
import json
from io import StringIO

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.test import override_settings

from explorer.sources.cache import CachedSource
from explorer.sources.cache import trace_key as cache_key
from explorer.sources.config import BackendConfig
from explorer.sources.zipkin import ZipkinSource
from tests.backends_support import ReplayServer, Reply, free_port
from tests.test_backends_sources import TRACE_ID, fixture, tempo, zipkin
from tests.trace_support import make_span


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_backends_check_reports_each_backend_and_fails_on_any():
    with ReplayServer(tempo(protobuf=True)) as tempo_server, ReplayServer(zipkin) as zipkin_server:
        backends = {
            "tempo": {"kind": "tempo", "url": tempo_server.url},
            "zipkin": {"kind": "zipkin", "url": zipkin_server.url},
            "gone": {"kind": "jaeger", "url": f"http://127.0.0.1:{free_port()}/", "retries": 0},
        }
        with override_settings(EXPLORER_BACKENDS=backends, EXPLORER_DEFAULT_BACKEND="tempo"):
            out = StringIO()
            with pytest.raises(CommandError, match="1 backend\\(s\\) failed: gone"):
                call_command("backends", "check", stdout=out)
            del backends["gone"]
            assert "ok   zipkin" in run("backends", "check")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ok   tempo (default): tempo http://127.0.0.1:")
    assert lines[0].endswith("version 2.6.1, API v2, 3 searchable tags")
    assert lines[1].endswith(": version 3.4.2, 2 services")
    assert lines[2].startswith("FAIL gone: jaeger") and "connection refused" in lines[2]


def test_fetch_trace_json():
    with ReplayServer(zipkin) as server:
        backends = {"zipkin": {"kind": "zipkin", "url": server.url}}
        with override_settings(EXPLORER_BACKENDS=backends):
            data = json.loads(run("fetch-trace", TRACE_ID, "--backend", "zipkin", "--json"))
            outline = run("fetch-trace", TRACE_ID, "--backend", "zipkin")
    assert data["trace_id"] == TRACE_ID
    first = data["spans"][0]
    assert set(first) == {
        "span_id",
        "parent_id",
        "name",
        "service",
        "kind",
        "start_ns",
        "end_ns",
        "status",
        "attributes",
    }
    assert (first["span_id"], first["parent_id"], first["kind"], first["status"]) == (
        "eee19b7ec3c1b174",
        None,
        "server",
        "unset",
    )
    assert first["attributes"]["order.id"] == "A-100042"
    assert data["spans"][-1]["status"] == "error"
    assert "    mes-api: orders process (80.0 ms) [error]" in outline


def test_fetch_trace_bytes_attributes_are_base64():
    from explorer.traces.model import Trace

    module = __import__("explorer.management.commands.fetch-trace", fromlist=["trace_as_json"])
    span = make_span(
        "01",
        trace_id="ab",
        name="n",
        start_ns=1,
        end_ns=2,
        attributes={"raw": b"\x00\xff", "list": [b"\x01"]},
    )
    data = module.trace_as_json(Trace("ab", [span]))
    assert data["spans"][0]["attributes"] == {
        "raw": base64.b64encode(b"\x00\xff").decode(),
        "list": ["AQ=="],
    }
    assert data["spans"][0]["kind"] == "internal"


def test_fetch_trace_failure_is_a_clear_error():
    backends = {"down": {"kind": "zipkin", "url": f"http://127.0.0.1:{free_port()}/", "retries": 0}}
    with override_settings(EXPLORER_BACKENDS=backends):
        with pytest.raises(CommandError, match="GET /api/v2/trace/.*connection refused"):
            run("fetch-trace", TRACE_ID, "--backend", "down")
        with pytest.raises(CommandError, match="no trace source named 'nope'"):
            run("fetch-trace", TRACE_ID, "--backend", "nope")


def source_for(server, name="z"):
    return ZipkinSource(BackendConfig(name=name, kind="zipkin", url=server.url, retries=0))


def test_cache_serves_a_trace_once_fetched():
    with ReplayServer(zipkin) as server:
        cached = CachedSource(source_for(server), timeout=60)
        first = cached.get_trace(TRACE_ID)
        second = cached.get_trace(TRACE_ID.upper())
        assert len(server.seen) == 1
        CachedSource(source_for(server, "other"), timeout=60).get_trace(TRACE_ID)
        assert len(server.seen) == 2  # keyed by backend too
    assert [s.span_id for s in second.spans] == [s.span_id for s in first.spans]
    packed = caches["traces"].get(cache_key("z", TRACE_ID))
    assert isinstance(packed, bytes) and len(packed) < len(fixture("zipkin-trace.json"))


def test_cache_drops_an_unreadable_entry():
    with ReplayServer(zipkin) as server:
        caches["traces"].set(cache_key("z", TRACE_ID), b"not zlib", 60)
        trace = CachedSource(source_for(server), timeout=60).get_trace(TRACE_ID)
    assert len(trace.spans) == 4 and len(server.seen) == 1


def test_errors_are_not_cached():
    answers = iter([Reply(status=500), Reply(body=fixture("zipkin-trace.json"))])
    with ReplayServer(lambda seen: next(answers)) as server:
        cached = CachedSource(source_for(server), timeout=60)
        with pytest.raises(Exception, match="HTTP 500"):
            cached.get_trace(TRACE_ID)
        assert len(cached.get_trace(TRACE_ID).spans) == 4
