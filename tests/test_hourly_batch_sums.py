"""The hourly figures summed per batch in ingest's worker processes (prepare.Batcher with
sum_figures): the same figures as traces sent one by one, and counted again when a trace of
the sum turns out to be stored already."""

from __future__ import annotations

import pytest

from explorer.store.hourly_figures import HOUR_NS, Sketch, Tally, unpack_examples, unpacked
from explorer.store.ingest import ingest, store_settings
from explorer.store.models import HourlyOperation
from explorer.store.prepare import Batcher
from explorer.traces.model import SpanKind, Trace
from tests.trace_support import make_span, write_otlp

START = 1_750_000_000 * 10**9


def _trace(trace_id: str, spans: int, first: int = 0) -> Trace:
    return Trace(
        trace_id,
        [
            make_span(
                f"{trace_id}s{n}",
                None if n == 0 else f"{trace_id}s0",
                service=("shop-api", "crm")[n % 2],
                trace_id=trace_id,
                name=("POST /orders", "HTTP GET", "SELECT")[n % 3],
                kind=SpanKind.SERVER if n % 2 else SpanKind.CLIENT,
                start_ns=START + n * HOUR_NS // 3,
                end_ns=START + n * HOUR_NS // 3 + (n + 1) * 10**6,
                attributes={"http.route": "/x", "db.system": "SELECT"},
                error=n == 4,
            )
            for n in range(first, spans)
        ],
    )


@pytest.mark.django_db
def test_a_batch_sums_what_its_traces_would_send_one_by_one():
    config = store_settings()
    alone, summing = Batcher(config), Batcher(config, sum_figures=True)
    for trace in (_trace("t1", 6), _trace("t2", 5), _trace("t3", 7)):
        alone.add(trace, "file")
        summing.add(trace, "file")
    one_by_one, summed = alone.take(), summing.take()
    tally = Tally()
    for prepared in one_by_one.traces:
        tally.add_packed(prepared.operations)
    assert summed.summed is not None and summed.summed_ids == {"t1", "t2", "t3"}
    assert all(prepared.operations == b"" for prepared in summed.traces)
    assert unpacked(summed.summed) == tally.figures()


@pytest.mark.django_db
def test_a_summed_trace_stored_before_is_counted_again_with_its_new_spans(tmp_path):
    ingest([write_otlp(tmp_path / "a.json", [_trace("t1", 4)])], workers=1)
    # t1 again with two new spans (and its old ones), and a new trace: t1 is whole in the
    # second file's batch, so the worker sums it with t2; the writer finds it stored.
    later = [_trace("t1", 6), _trace("t2", 5)]
    ingest([write_otlp(tmp_path / "b.json", later)], workers=1)
    spans = [span for trace in later for span in trace.spans]
    rows = HourlyOperation.objects.filter(day=False)
    assert sum(row.count for row in rows) == len(spans) == 11
    assert sum(row.errors for row in rows) == 2
    examples = {e[2] for row in rows for e in unpack_examples(row.slowest)}
    assert {"t1s5", "t1s4", "t2s4"} <= examples


def test_a_sketch_keeps_its_positive_bins_and_caps_a_count_over_32_bits():
    sketch = Sketch({7: 2**33, 1: 3, 2: 0, 3: -1})
    assert Sketch.decode(sketch.encode()).bins == {1: 3, 7: 0xFFFFFFFF}
    assert Sketch.decode(Sketch({9: 1, 4: 2}).encode()).bins == {4: 2, 9: 1}
