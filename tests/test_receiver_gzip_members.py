"""Issue 26 finding 1 through the real receiver: a `Content-Encoding: gzip` body of several
members whose first inflates past 1 MiB is read whole (protobuf messages concatenated are one
message), a bad one is refused at once, and the next request is served. Before, the writer
processes spun on such a body and every later request went unanswered."""

from __future__ import annotations

import gzip

import pytest
from google.rpc import status_pb2

from tests.receiver_support import migrate, receiver_env, start_receiver, stored_spans
from tests.test_receiver import assert_still_serving, post, request_body, trace_id

pytestmark = pytest.mark.slow
FIRST = range(100, 160)  # 60 traces of 250 spans: about 1.3 MB of protobuf


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    env = receiver_env(tmp_path_factory.mktemp("receiver"))
    migrate(env)
    running = start_receiver(env)
    yield running
    running.stop()


def first_member() -> bytes:
    data = b"".join(request_body(t, spans=250) for t in FIRST)
    assert len(data) > 1 << 20
    return gzip.compress(data)


def test_a_body_of_two_gzip_members_is_stored_whole(receiver):
    body = first_member() + gzip.compress(request_body(161)) + gzip.compress(b"")
    answer = post(receiver, body, **{"Content-Encoding": "gzip"})  # requests: 30 s timeout
    assert answer.status_code == 200, answer.content
    spans = stored_spans(receiver.data_dir)
    assert all(spans[trace_id(t)] == 250 for t in FIRST)
    assert spans[trace_id(161)] == 2
    assert_still_serving(receiver, 162)


def test_a_bad_second_member_is_refused_and_the_next_request_served(receiver):
    truncated = first_member() + gzip.compress(request_body(163))[:-12]
    answer = post(receiver, truncated, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 400
    assert "not valid gzip data" in status_pb2.Status.FromString(answer.content).message
    bomb = first_member() + gzip.compress(b"\0" * (64 << 20))  # past the 8 MiB limit
    answer = post(receiver, bomb, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 413
    assert "inflates past" in status_pb2.Status.FromString(answer.content).message
    assert_still_serving(receiver, 164)
