"""`ingest` and `manage.py ingest`: files, folders, globs; streaming, idempotent, merging."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from explorer.store.ingest import ingest
from explorer.store.models import StoredTrace, TraceAttribute, TraceChunk
from explorer.store.source import StoreSource
from tests.test_store import order_trace
from tests.trace_support import otlp_json as otlp_document

ROOT = Path(__file__).resolve().parent.parent


def hex_trace(n, order, customer, **options):
    """order_trace with OTLP-valid hex ids."""
    trace = order_trace(f"{n:032x}", order, customer, **options)
    for s in trace.spans:
        s.span_id = f"{n:08x}{s.span_id.encode().hex():>08}"
        if s.parent_id:
            s.parent_id = f"{n:08x}{s.parent_id.encode().hex():>08}"
    return trace


def write_json(path, traces):
    path.write_bytes(orjson.dumps(otlp_document(traces)))
    return path


def write_lines(path, lines):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def stored_counts():
    return (
        StoredTrace.objects.count(),
        sum(StoredTrace.objects.values_list("span_count", flat=True)),
        TraceChunk.objects.count(),
        TraceAttribute.objects.count(),
    )


@pytest.mark.django_db
def test_ingest_files_folders_and_globs(tmp_path):
    folder = tmp_path / "exports" / "day1"
    folder.mkdir(parents=True)
    write_json(folder / "a.json", [hex_trace(1, "A-1", "C-1")])
    write_json(tmp_path / "exports" / "b.json", [hex_trace(2, "A-2", "C-2")])
    write_json(
        tmp_path / "c.json", [hex_trace(3, "A-3", "C-3"), hex_trace(4, "A-3", "C-3", start_ms=5)]
    )
    report = ingest([tmp_path / "exports", str(tmp_path / "c*.json")])
    assert (report.files, report.traces, report.spans, report.rejected) == (3, 4, 12, [])
    assert [s.trace_id for s in StoreSource().find_traces("order.id", "A-3")] == [
        f"{4:032x}",
        f"{3:032x}",
    ]


@pytest.mark.django_db
def test_the_same_file_twice_is_stored_once(tmp_path):
    path = write_json(tmp_path / "a.json", [hex_trace(1, "A-1", "C-1"), hex_trace(2, "A-2", "C-2")])
    first = ingest([path])
    counts = stored_counts()
    assert counts == (2, 6, 2, 4)
    second = ingest([path])
    assert stored_counts() == counts
    assert (second.files, second.traces, second.spans) == (first.files, first.traces, first.spans)


@pytest.mark.django_db
def test_a_trace_split_over_two_files_and_two_runs_is_merged(tmp_path):
    whole = hex_trace(7, "A-7", "C-7")
    head = type(whole)(whole.trace_id, whole.spans[:1])
    tail = type(whole)(whole.trace_id, whole.spans[1:])
    write_json(tmp_path / "1.json", [head])
    write_json(tmp_path / "2.json", [tail])
    report = ingest([tmp_path / "1.json", tmp_path / "2.json"])  # one batch
    assert report.traces == 1
    assert StoreSource().get_trace(whole.trace_id).spans == whole.spans

    other = hex_trace(8, "A-8", "C-8")
    ingest([write_json(tmp_path / "3.json", [type(other)(other.trace_id, other.spans[:2])])])
    ingest([write_json(tmp_path / "4.json", [type(other)(other.trace_id, other.spans[1:])])])
    stored = StoreSource().get_trace(other.trace_id)
    assert [s.span_id for s in stored.spans] == [s.span_id for s in other.spans]
    assert [s.trace_id for s in StoreSource().find_traces("customer.id", "C-8")] == [other.trace_id]


@pytest.mark.django_db
def test_spans_of_one_trace_on_many_json_lines_across_batches(tmp_path, monkeypatch):
    monkeypatch.setattr("explorer.store.ingest.BATCH_SPANS", 2)
    whole = hex_trace(9, "A-9", "C-9")
    lines = [orjson.dumps(otlp_document([type(whole)(whole.trace_id, [s])])) for s in whole.spans]
    path = write_lines(tmp_path / "spans.jsonl", lines + lines)
    report = ingest([path])
    assert report.spans == 6 and report.rejected == []
    assert StoreSource().get_trace(whole.trace_id).spans == whole.spans
    assert stored_counts()[:3] == (1, 3, 1)


@pytest.mark.django_db
def test_bad_file_and_bad_line_do_not_stop_the_good_traces(tmp_path):
    write_json(tmp_path / "good.json", [hex_trace(1, "A-1", "C-1")])
    (tmp_path / "truncated.json").write_bytes(
        orjson.dumps(otlp_document([hex_trace(2, "A-2", "C-2")]))[:-9]
    )
    good_line = orjson.dumps(otlp_document([hex_trace(3, "A-3", "C-3")]))
    other_line = orjson.dumps(otlp_document([hex_trace(4, "A-4", "C-4")]))
    write_lines(tmp_path / "mixed.jsonl", [good_line, b'{"resourceSpans": [', other_line])
    (tmp_path / "empty.json").write_bytes(b"")
    report = ingest([tmp_path, tmp_path / "missing.json"])
    stored = set(StoredTrace.objects.values_list("trace_id", flat=True))
    assert stored == {f"{n:032x}" for n in (1, 3, 4)}
    assert report.files == 4
    where = {(Path(r.source).name, r.position) for r in report.rejected}
    assert ("mixed.jsonl", "line 2") in where
    assert any(name == "truncated.json" for name, _ in where)
    assert ("missing.json", "") in where
    assert ("empty.json", "") in where
    assert all(r.message for r in report.rejected)


def stored_traces():
    source = StoreSource()
    ids = StoredTrace.objects.order_by("trace_id").values_list("trace_id", flat=True)
    return {tid: source.get_trace(tid).spans for tid in ids}


@pytest.mark.django_db(transaction=True)
def test_worker_processes_share_a_json_lines_file_by_line_ranges(tmp_path, monkeypatch):
    # Every line a trace, the last trace split over two distant lines; line 30 is broken.
    traces = [hex_trace(n, f"A-{n}", "C-1", start_ms=n) for n in range(1, 60)]
    lines = [orjson.dumps(otlp_document([t])) for t in traces[:-1]]
    last = traces[-1]
    lines.insert(0, orjson.dumps(otlp_document([type(last)(last.trace_id, last.spans[:1])])))
    lines.append(orjson.dumps(otlp_document([type(last)(last.trace_id, last.spans[1:])])))
    lines[29] = b'{"resourceSpans": [{"resource": '
    path = write_lines(tmp_path / "big.jsonl", lines)
    other = write_json(tmp_path / "other.json", [hex_trace(100, "A-100", "C-2")])
    monkeypatch.setattr("explorer.store.ingest.PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("explorer.store.ingest.MIN_RANGE_BYTES", path.stat().st_size // 5)
    parallel = ingest([path, other], workers=2)
    assert [(r.source, r.position) for r in parallel.rejected] == [(str(path), "line 30")]
    in_parallel = stored_traces()
    StoredTrace.objects.all().delete()
    in_process = ingest([path, other], workers=0)
    assert (parallel.files, parallel.traces, parallel.spans) == (
        in_process.files,
        in_process.traces,
        in_process.spans,
    )
    assert in_process.rejected == parallel.rejected
    assert stored_traces() == in_parallel
    assert len(in_parallel) == 59  # 58 good lines + the other file (one line broken)
    assert in_parallel[last.trace_id] == last.spans


def test_no_match_and_empty_folder_are_rejected(tmp_path):
    (tmp_path / "empty").mkdir()
    report = ingest([str(tmp_path / "*.nothing"), tmp_path / "empty"])
    assert report.files == 0
    assert [r.message for r in report.rejected] == [
        "no file matches this pattern",
        "the folder holds no files",
    ]


@pytest.mark.django_db
def test_command_prints_summary_and_rejections(tmp_path, capsys):
    good = write_json(tmp_path / "good.json", [hex_trace(1, "A-1", "C-1")])
    call_command("ingest", str(good))
    assert "files: 1, traces: 1, spans: 3, rejected: 0" in capsys.readouterr().out

    bad = write_lines(tmp_path / "bad.jsonl", [b"{}", b"not json"])
    with pytest.raises(CommandError) as raised:
        call_command("ingest", str(good), str(bad))
    assert raised.value.returncode == 1
    captured = capsys.readouterr()
    assert "rejected: 1" in captured.out or "rejected: 2" in captured.out
    assert f"{bad}, line 2" in captured.err


def test_command_exit_status_in_a_real_process(tmp_path):
    env = {"EXPLORER_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0", "--skip-checks"], env=env, check=True, cwd=ROOT)
    good = write_json(tmp_path / "good.json", [hex_trace(1, "A-1", "C-1")])
    ok = subprocess.run([*manage, "ingest", str(good)], env=env, cwd=ROOT, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    assert b"rejected: 0" in ok.stdout
    assert b"\r" not in ok.stderr  # no progress bar when stderr is not a terminal
    (tmp_path / "binary.dat").write_bytes(bytes(range(256)) * 4)
    bad = subprocess.run(
        [*manage, "ingest", str(good), str(tmp_path / "binary.dat")],
        env=env,
        cwd=ROOT,
        capture_output=True,
    )
    assert bad.returncode == 1
    assert b"binary.dat" in bad.stderr
    assert b"Traceback" not in bad.stderr
