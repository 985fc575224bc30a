"""Issue 26 finding 5: an upload of many traces is stored in linear work and a bounded number
of files, its disk counted in blocks; a single large document or line is refused with a
message instead of being read whole; a failed upload leaves nothing; a broken line does not
stop the others."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest
from django.urls import reverse

from explorer.traces.parsers import iter_file
from explorer.web import upload_store
from explorer.web.upload_store import INDEX, PACK, usage
from tests.test_web_uploads import otlp, upload


@pytest.fixture
def upload_dir(tmp_path, settings):
    settings.EXPLORER_UPLOAD_DIR = str(tmp_path / "uploads")
    return tmp_path / "uploads"


def span_line(n: int, span: int = 1) -> bytes:
    """One OTLP JSON line of one span of trace `n`."""
    start = 1_740_000_000_000_000_000 + n * 10**6
    span_json = {
        "traceId": f"{n:032x}",
        "spanId": f"{span:016x}",
        "name": "GET /line",
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1000),
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "shop-api"}}]}
    document = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span_json]}]}]}
    return json.dumps(document).encode() + b"\n"


class Counts:
    def __init__(self, monkeypatch):
        self.appended = self.read = 0
        append, read = upload_store._PackWriter._append, upload_store._PackWriter._read

        def counted_append(writer, value):
            self.appended += 1
            return append(writer, value)

        def counted_read(writer, piece):
            self.read += 1
            return read(writer, piece)

        monkeypatch.setattr(upload_store._PackWriter, "_append", counted_append)
        monkeypatch.setattr(upload_store._PackWriter, "_read", counted_read)


@pytest.mark.parametrize("traces", [500, 2000])
def test_each_trace_is_written_and_read_a_constant_number_of_times(
    client, login_as, upload_dir, monkeypatch, traces
):
    """Linear work: before, every trace added re-summed all the pieces so far and each trace
    became two files (40,000 lines: 64.7 s; 80,000 left 69,140 files behind a timeout)."""
    user = login_as("support")
    counts = Counts(monkeypatch)
    # Every trace in two pieces, on two lines far apart.
    data = b"".join(span_line(n) for n in range(traces))
    data += b"".join(span_line(n, span=2) for n in range(traces))
    response = upload(client, gzip.compress(data), "many.jsonl.gz")
    assert response.status_code == 302
    assert counts.appended == 2 * traces + traces  # every piece, then every merged trace
    assert counts.read == 2 * traces
    folder = upload_dir / str(user.pk) / response["Location"].split("/")[2]
    assert {p.name for p in folder.iterdir()} == {INDEX, PACK}
    last = f"{traces - 1:032x}"
    page = client.get(reverse("web:upload_trace", args=[folder.name, last]))
    assert page.status_code == 200 and "0000000000000002" in page.content.decode()


def test_disk_is_counted_in_blocks_not_sizes(tmp_path):
    for n in range(20):
        (tmp_path / f"{n}.txt").write_bytes(b"x")
    blocks = sum(p.stat().st_blocks * 512 for p in tmp_path.iterdir())
    assert usage(tmp_path) == blocks > 20
    assert usage(tmp_path / "0.txt") == blocks // 20


def test_the_quota_counts_the_blocks_of_older_uploads(client, login_as, upload_dir, settings):
    """An older upload of many small files takes a block each: it is dropped to make room,
    though the sizes of its files would leave room enough."""
    user = login_as("support")
    older = upload_dir / str(user.pk) / "older"
    older.mkdir(parents=True)
    for n in range(40):
        (older / f"{n}").write_bytes(b"x")
    settings.EXPLORER_UPLOAD_QUOTA_BYTES = usage(older) + 2 * upload_store.BLOCK
    assert upload(client, otlp("12" * 16)).status_code == 302
    assert not older.exists()


class Stop(BaseException):
    """What a worker timeout raises in gunicorn's sync worker (SystemExit), in effect."""


@pytest.mark.parametrize("failure", [RuntimeError("disk on fire"), Stop()])
def test_a_failed_upload_leaves_no_files(client, login_as, upload_dir, monkeypatch, failure):
    login_as("support")
    add = upload_store._PackWriter.add
    seen = []

    def add_then_fail(writer, trace):
        add(writer, trace)
        seen.append(trace)
        if len(seen) == 20:
            raise failure

    monkeypatch.setattr(upload_store._PackWriter, "add", add_then_fail)
    data = b"".join(span_line(n) for n in range(50))
    with pytest.raises(type(failure)):
        upload(client, data, "fails.jsonl")
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]


def test_a_single_document_past_the_limit_is_refused_with_where(
    client, login_as, upload_dir, settings
):
    settings.EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES = 20_000
    login_as("support")
    document = json.loads(otlp(*[f"{n:032x}" for n in range(1, 40)]))
    pretty = json.dumps(document, indent=2).encode()
    assert len(pretty) > 20_000
    for data, name in [
        (pretty, "pretty.json"),
        (gzip.compress(json.dumps(document).encode()), "one-line.json.gz"),
    ]:
        response = upload(client, data, name)
        assert response.status_code == 400
        text = response.content.decode()
        assert f"{name}: one document of more than 20" in text and "JSON lines" in text
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]
    settings.EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES = len(pretty)
    assert upload(client, pretty, "pretty.json").status_code == 302


def test_a_broken_or_oversize_line_does_not_stop_the_others(client, login_as, upload_dir, settings):
    settings.EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES = 5_000
    login_as("support")
    huge = json.dumps(json.loads(otlp(*[f"{n:032x}" for n in range(100, 120)]))).encode()
    data = span_line(1) + b'{"resourceSpans": [\n' + huge + b"\n" + span_line(2)
    response = upload(client, data, "mixed.jsonl")
    assert response.status_code == 302
    listing = client.get(response["Location"]).content.decode()
    assert f"{1:032x}" in listing and f"{2:032x}" in listing
    assert "mixed.jsonl, line 2: truncated JSON" in listing
    assert "mixed.jsonl, line 3: one document of more than 5" in listing


def test_a_long_line_is_skipped_without_being_held(tmp_path):
    """tracemalloc counts the bytes Python allocates: a 20 MB line read with a limit of 1 MB
    never sits in memory."""
    path = tmp_path / "long.jsonl"
    path.write_bytes(span_line(1) + b"x" * (20 << 20) + b"\n" + span_line(2))
    tracemalloc.start()
    try:
        results = list(iter_file(path, max_document=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [len(r.traces) for r in results] == [1, 0, 1]
    assert results[1].errors[0].position == "line 2"
    assert peak < 8 << 20


@pytest.mark.parametrize("first", [b"{", b'{"resourceSpans": [], "pad": "' + b"x" * 900 + b'",'])
def test_the_limit_holds_however_a_document_is_cut_into_lines(tmp_path, first):
    """Lines each under the limit, a document over it: refused, also when the two lines read
    to tell JSON lines from a document already pass it."""
    path = tmp_path / "pretty.json"
    path.write_bytes(first + b'\n "a": "' + b"y" * 600 + b'",\n "b": "' + b"z" * 600 + b'"\n}\n')
    [result] = iter_file(path, max_document=1000)
    assert "one document of more than 1000 bytes" in result.errors[0].message
    [result] = iter_file(path, max_document=3000)
    assert "one document of more" not in str(result.errors)


def test_only_the_listed_traces_are_summarised_and_every_trace_opens(
    client, login_as, upload_dir, monkeypatch
):
    """The index keeps the summaries the list page shows (MAX_LISTED), not one per trace, and
    says how many there are; a trace past them is not read while uploading, and opens."""
    login_as("support")
    monkeypatch.setattr(upload_store, "MAX_LISTED", 5)
    monkeypatch.setattr("explorer.web.uploads.MAX_LISTED", 5)
    counts = Counts(monkeypatch)
    data = b"".join(span_line(n) for n in range(12)) + span_line(11, span=2)
    response = upload(client, data, "twelve.jsonl")
    assert counts.read == 5 + 2  # the listed traces, and the pieces of the one to merge
    key = response["Location"].split("/")[2]
    listing = client.get(response["Location"]).content.decode()
    assert "5 of 12 traces" in listing and f"{4:032x}" in listing
    assert f"{5:032x}" not in listing
    for trace, span in [(7, "0000000000000001"), (11, "0000000000000002")]:
        page = client.get(reverse("web:upload_trace", args=[key, f"{trace:032x}"]))
        assert page.status_code == 200 and span in page.content.decode()


def test_an_upload_of_the_former_layout_counts_as_expired(client, login_as, upload_dir):
    """An upload stored before the pack (an index and one file a trace) is gone, not a 500."""
    user = login_as("support")
    response = upload(client, otlp("34" * 16))
    folder = upload_dir / str(user.pk) / response["Location"].split("/")[2]
    (folder / PACK).unlink()
    page = client.get(response["Location"])
    assert page.status_code == 404 and not folder.exists()


def test_the_upload_page_states_the_document_limit(client, login_as, settings):
    settings.EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES = 8 << 20
    login_as("support")
    page = client.get(reverse("web:upload")).content.decode()
    assert "one JSON line is read up to 8 MB" in page
