"""`manage.py analyze`: the project's own fixtures, bad input, and conformance with the peer
reference data (Jaeger UI's critical-path cases, Grafana Tempo's service-graph cases)."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import reference_cases, reference_dir

FIXTURES = Path(__file__).parent / "fixtures" / "analysis"
ORDER = FIXTURES / "order-otlp.json"  # OTLP JSON: shop -> shop-api -> db, queue, S3; a failure
APPROVAL = FIXTURES / "approval-jaeger.json"  # Jaeger JSON: FOLLOWS_FROM, overflowing children
T0 = 1_700_000_000_000_000


def analyze(*args):
    """Run the command; (parsed stdout or text, stderr, CommandError or None)."""
    out, err = io.StringIO(), io.StringIO()
    error = None
    try:
        call_command("analyze", *map(str, args), stdout=out, stderr=err)
    except CommandError as exc:
        error = exc
    text = out.getvalue()
    return (json.loads(text) if "--json" in args else text), err.getvalue(), error


def sections(document, trace_id):
    (trace,) = [t for t in document["traces"] if t["trace_id"] == trace_id]
    return [
        (s["span_id"][-1], s["start_us"] - T0, s["end_us"] - T0) for s in trace["critical_path"]
    ]


def test_critical_path_json_of_an_otlp_trace():
    document, err, error = analyze(ORDER, "--critical-path", "--json")
    assert error is None and err == ""
    assert set(document) == {"traces"}
    assert sections(document, "0af7651916cd43dd8448eb211c80319c") == [
        ("1", 900, 1000),
        ("2", 890, 900),
        ("3", 850, 890),
        ("7", 120, 850),
        ("3", 100, 120),
        ("4", 30, 100),
        ("3", 28, 30),
        ("8", 25, 28),
        ("3", 20, 25),
        ("2", 10, 20),
        ("1", 0, 10),
    ]


def test_critical_path_of_a_jaeger_trace_with_follows_from_and_overflowing_children():
    # Jaeger UI (2026) keeps FOLLOWS_FROM children (4 and its child 5) on the path
    document, _, error = analyze(APPROVAL, "--critical-path", "--json")
    assert error is None
    assert sections(document, "1f2e3d4c5b6a79881f2e3d4c5b6a7988") == [
        ("3", 50, 100),
        ("1", 48, 50),
        ("4", 47, 48),
        ("5", 43, 47),
        ("4", 42, 43),
        ("1", 40, 42),
        ("2", 0, 40),
    ]


def jaeger_trace(trace_id, *spans):
    """A Jaeger /api/traces trace of (span id's last digit, parent's last digit or None,
    start, end) in µs after T0; a parent id given as a whole string is used as it is."""

    def sid(digit):
        return digit if len(digit) == 16 else "000000000000000" + digit

    return {
        "traceID": trace_id,
        "processes": {"p1": {"serviceName": "svc"}},
        "spans": [
            {
                "traceID": trace_id,
                "spanID": sid(span),
                "operationName": f"op {span}",
                "processID": "p1",
                "startTime": T0 + start,
                "duration": end - start,
                "references": []
                if parent is None
                else [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": sid(parent)}],
            }
            for span, parent, start, end in spans
        ],
    }


def test_orphans_are_shown_but_not_followed_and_broken_cycles_are(tmp_path):
    # Jaeger UI follows the spans without a parent reference: not orphans (their parent is
    # absent), however many and whatever they overlap; a trace of orphans only has no path.
    # A cycle of parent links, a span naming itself too, is broken when traces are read: one
    # span loses its parent reference and is followed, as Jaeger UI breaks such cycles.
    gone = "00000000deadbeef"
    traces = [
        jaeger_trace(
            "a" * 32,
            ("1", None, 10, 100),
            ("2", "1", 20, 60),
            ("3", gone, 0, 300),  # starts before and ends after the true root
            ("4", gone, 50, 250),
            ("5", "4", 60, 240),
        ),
        jaeger_trace("b" * 32, ("1", gone, 0, 100), ("2", "00000000feedface", 50, 150)),
        jaeger_trace("c" * 32, ("1", "2", 0, 100), ("2", "1", 10, 90), ("3", "3", 200, 210)),
    ]
    path = tmp_path / "orphans.json"
    path.write_text(json.dumps({"data": traces}))
    document, err, error = analyze(path, "--critical-path", "--json")
    assert error is None
    assert f"parent {gone} absent" in err and "cycle of parent links" in err
    assert sections(document, "a" * 32) == [("1", 60, 100), ("2", 20, 60), ("1", 10, 20)]
    assert sections(document, "b" * 32) == []
    assert sections(document, "c" * 32) == [
        ("1", 90, 100),
        ("2", 10, 90),
        ("1", 0, 10),
        ("3", 200, 210),
    ]


def test_service_graph_json():
    document, _, error = analyze(ORDER, "--service-graph", "--json")
    assert error is None
    assert document == {
        "edges": [
            {
                "client": "internet-shop",
                "server": "shop-api",
                "connection_type": "",
                "total": 1,
                "failed": 1,
            },
            {
                "client": "shop-api",
                "server": "files-storage",
                "connection_type": "virtual_node",
                "total": 1,
                "failed": 0,
            },
            {
                "client": "shop-api",
                "server": "mes-api",
                "connection_type": "messaging_system",
                "total": 1,
                "failed": 0,
            },
            {
                "client": "shop-api",
                "server": "shop",
                "connection_type": "database",
                "total": 1,
                "failed": 0,
            },
            {
                "client": "user",
                "server": "internet-shop",
                "connection_type": "virtual_node",
                "total": 1,
                "failed": 0,
            },
        ]
    }


def test_stats_json():
    document, _, error = analyze(ORDER, "--stats", "--json")
    assert error is None
    rows = {(o["service"], o["operation"]): o for o in document["operations"]}
    assert rows[("shop-api", "POST /api/orders")] == {
        "service": "shop-api",
        "operation": "POST /api/orders",
        "count": 1,
        "total_us": 870.0,
        "self_us": 47.0,
        "min_us": 870.0,
        "mean_us": 870.0,
        "max_us": 870.0,
        "errors": 1,
    }
    assert len(rows) == 8


def test_a_folder_gives_all_analyses_over_all_its_files():
    document, _, error = analyze(FIXTURES, "--json")
    assert error is None
    assert set(document) == {"traces", "edges", "operations"}
    assert len(document["traces"]) == 2
    assert {
        "client": "user",
        "server": "crm-api",
        "connection_type": "virtual_node",
        "total": 1,
        "failed": 0,
    } in document["edges"]


def test_glob_pattern():
    document, _, error = analyze(FIXTURES / "*-jaeger.json", "--critical-path", "--json")
    assert error is None
    assert [t["trace_id"] for t in document["traces"]] == ["1f2e3d4c5b6a79881f2e3d4c5b6a7988"]


def test_spans_of_one_trace_in_two_files_are_analysed_together(tmp_path):
    order = json.loads(ORDER.read_text())
    resources = order["resourceSpans"]
    (tmp_path / "a.json").write_text(json.dumps({"resourceSpans": resources[:1]}))
    (tmp_path / "b.json").write_text(json.dumps({"resourceSpans": resources[1:]}))
    split, _, _ = analyze(tmp_path, "--json")
    whole, _, _ = analyze(ORDER, "--json")
    assert split == whole


def test_text_tables():
    text, _, error = analyze(ORDER)
    assert error is None
    assert "Critical path of trace 0af7651916cd43dd8448eb211c80319c (11 sections" in text
    assert "Service graph" in text and "Operations (times in ms)" in text
    assert any(
        line.split() == ["internet-shop", "shop-api", "-", "1", "1"] for line in text.splitlines()
    )


def test_names_from_traces_cannot_drive_the_terminal(tmp_path):
    order = json.loads(ORDER.read_text())
    order["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] = "evil\x1b[2J\x07"
    (tmp_path / "evil.json").write_text(json.dumps(order))
    text, _, error = analyze(tmp_path / "evil.json", "--stats")
    assert error is None
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b[2J\\x07" in text


def test_bad_files_are_reported_and_the_good_traces_still_analysed(tmp_path):
    (tmp_path / "truncated.json").write_bytes(ORDER.read_bytes()[:700])
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)))
    document, err, error = analyze(
        tmp_path / "truncated.json",
        tmp_path / "binary.bin",
        tmp_path / "absent.json",
        ORDER,
        "--service-graph",
        "--json",
    )
    assert error is not None and error.returncode == 1
    assert len(document["edges"]) == 5
    assert f"{tmp_path / 'truncated.json'}, byte" in err
    assert "truncated" in err
    assert str(tmp_path / "binary.bin") in err
    assert f"{tmp_path / 'absent.json'}: no such file or folder" in err


def test_a_pattern_matching_nothing_is_an_error():
    document, err, error = analyze(FIXTURES / "*.nothing", "--json")
    assert error is not None and "no file matches this pattern" in err
    assert document == {"traces": [], "edges": [], "operations": []}


# --- conformance with the peer reference data ----------------------------------------------


@pytest.mark.parametrize("case", reference_cases("critical-path", "*.json"))
def test_critical_path_conformance_with_jaeger_ui(case, tmp_path):
    reference = json.loads((reference_dir("critical-path") / case).read_text())
    trace_file = tmp_path / case
    trace_file.write_text(json.dumps(reference["trace"]))
    document, err, error = analyze(trace_file, "--critical-path", "--json")
    assert error is None, (case, err)
    (trace,) = document["traces"]
    got = [
        {"spanID": s["span_id"], "sectionStart": s["start_us"], "sectionEnd": s["end_us"]}
        for s in trace["critical_path"]
    ]
    assert got == reference["criticalPathSections"], case


@pytest.mark.parametrize("case", reference_cases("servicegraph", "*.expected.json"))
def test_service_graph_conformance_with_tempo(case):
    folder = reference_dir("servicegraph")
    expected = json.loads((folder / case).read_text())
    document, err, error = analyze(folder / expected["trace_file"], "--service-graph", "--json")
    assert error is None, (case, err)
    got = {
        (e["client"], e["server"], e["connection_type"]): (e["total"], e["failed"])
        for e in document["edges"]
    }
    for edge in expected["expected_edges"]:
        key = (edge["client"], edge["server"], edge["connection_type"])
        if edge["total"] > 0:
            assert got.get(key) == (edge["total"], edge["failed"]), (case, key)
        else:
            assert key not in got, (case, key)
