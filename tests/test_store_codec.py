"""Compact chunks (issue 31): zstd with dictionaries kept in the store, documents without the
trace id their row names, chunks of version 1 (zlib) and documents of version 2 still read,
and dictionaries versioned."""

import base64
import dataclasses
import io
import subprocess
import sys

import orjson
import pytest
from django.core.management import call_command

from explorer.sources.base import SourceError
from explorer.store import codec, dictionary, ingest
from explorer.store.ingest import store_traces
from explorer.store.models import ChunkDictionary, StoredTrace, TraceChunk
from explorer.store.source import StoreSource
from explorer.traces.model import (
    Event,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    StatusCode,
    Trace,
)
from tests.trace_support import otlp_json

T0 = 1_700_000_000_000_000_000
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SHOP = Resource("shop-api", {"service.name": "shop-api", "host.name": "shop-1"})
HOSTILE = '</script><img src=x onerror=alert(1)>"\\\x00\u2028\U0001f48e null \x7f'

# A chunk written by the version 1 codec (zlib, before issue 31), with the spans it holds.
OLD_CHUNK = base64.b64decode(
    "eAGNUk1v2zAM/SsFz6pLSo5kFduAAOshl61Yc0uNQrLoxEAbZ7bboijy30e1SZFul8kX4lH0+xBXpKbhkdVqBeOm3"
    "52HXQfqFUYenrqGi214YLg8acGmH6dPMMG+rvN81xf9xPeggAoEgUBKeO+VsfW6NTPnoilTsME07LVPyMilM1ZuIr"
    "ZoXQgYg0cdHShUcP3zZnl2IaIu+iHxMILSihz+fU6x2aEp46/wNlV0STzMz0lYhvAMlyuIUs6vq68iE2K3zpD4BqI"
    "KZ56sRkeuJDJoSl1Cvc/+3v81TmHiu2YTtmtOcEp84KUP2rerxZaFERY/FsvFfHn1/ZjWLFbctq3zFZqK0CRtfbRG"
    "atM2FhtRw8zko+PGNBRFjzxMjlorSP3z9vYxE34Zm6HbTd9yWpgz/4+kowvJRkfWazTG5Fj+DV8U31z9Wp7lrSiO4"
    "ZtPfg9Jn2J0xHL4KRbjyzjxg/jfydqsBx5/38M+S5VP1oNEc13/AeOZrk4="
)
# A chunk written by the version 2 document (the chunk's trace id in it; plain zstd, before
# version 3), with the spans it holds: the third of another trace.
VERSION_2_CHUNK = base64.b64decode(
    "AgAAAABgmADVBwA20TQiMIlYBwJa4xTkzkTlqVVHI+V0D56Q1Rb4JZQYQ5d1YWAgDCwAKwApAMqaqs2Y+O/Pvu3c31tw"
    "ckQPwwkvAkw4rHQUoI38uJ0GNDQeRmTnvtEBnFcuDfQgnAZEIAsFQYGvN4tKG4wKIVt0qvrq3JWle1ksWV1tmmorF1xg"
    "k6zIWHPOZaLidFuvNObKF7IwCFAMCPjpZv70elu/4GQAcMKNc/Djqlyv7gja7z29SmdP90oIORBoGY4nYSkmueSy2NLu"
    "+pa6yLkSs9YS26KapYlZyjQWDQDEkIHMkF2Em/NybEF8LySXu8+zEeHqhcAh5UpXdZ5nNyYZ"
)
VERSION_2_SPANS = [
    Span(TRACE, "00f067aa0ba902b7", None, "POST /api/orders", SpanKind.SERVER, T0, T0 + 50_000_000,
         SHOP, {"order.id": "A-1"}),
    Span(TRACE, "00f067aa0ba902b8", "00f067aa0ba902b7", "INSERT orders", SpanKind.CLIENT, T0 + 5,
         T0 + 900, SHOP, {}),
    Span("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "00f067aa0ba902b7",
         "other trace", SpanKind.INTERNAL, T0 + 7, T0 + 8, SHOP, {}),
]  # fmt: skip
OLD_SPANS = [
    Span(
        TRACE,
        "00f067aa0ba902b7",
        None,
        "POST /api/orders",
        SpanKind.SERVER,
        T0,
        T0 + 50_000_000,
        SHOP,
        {"order.id": "A-1", "raw": b"\x00\xff", "big": 2**70},
        [Event("order.state_changed", T0 + 1, {"order.state.new": "INITIATED"})],
        [Link("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", {})],
        StatusCode.ERROR,
        "down\x00<script>",
        Scope("io.otel", "1.0"),
        RefType.CHILD_OF,
    ),
    Span(
        TRACE,
        "b7ad6b7169203331",
        "00f067aa0ba902b7",
        "INSERT shop.orders",
        SpanKind.CLIENT,
        T0 + 5_000_000,
        T0 + 15_000_000,
        SHOP,
        {"db.system": "postgresql"},
        [],
        [],
        StatusCode.UNSET,
        "",
        Scope("", ""),
        RefType.CHILD_OF,
    ),
]


def every_kind_of_span() -> list[Span]:
    """Spans of one chunk with every id kind and field that the encoding shortens."""
    other = Resource(HOSTILE, {"service.name": HOSTILE, "huge": "x" * 1_000_000})
    scope = Scope(HOSTILE, "\x00")

    def make(span_id, parent, start, end, trace_id=TRACE, **more) -> Span:
        fields = {
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_id": parent,
            "name": f"op {span_id}",
            "kind": SpanKind.INTERNAL,
            "start_ns": start,
            "end_ns": end,
            "resource": SHOP,
            "scope": Scope("io.otel", "1.2.3"),
        }
        return Span(**(fields | more))

    return [
        make("b7ad6b7169203331", "00f067aa0ba902b7", T0 + 5, T0 + 9),  # parent comes later
        make(
            "00f067aa0ba902b7",
            None,
            T0,
            T0 + 50,
            kind=SpanKind.SERVER,
            attributes={"order.id": "A-1", "text": HOSTILE, "huge": "€" * 300_000, "n": 2**64 - 1},
            events=[
                Event("before the span", T0 - 10**12, {"k": [1, "x", b"\x00"]}),
                Event(HOSTILE, T0 + 2**40, {}),
            ],
            links=[Link("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", {"w": HOSTILE})],
            status_code=StatusCode.ERROR,
            status_message=HOSTILE,
            scope=scope,
            parent_ref=RefType.FOLLOWS_FROM,
        ),
        make(
            "deadbeef", "ffffffffffffffff", T0 + 1, T0, resource=other
        ),  # parent absent; ends first
        make("1", "2", T0 + 3, T0 + 4),  # ids that look like numbers: stay text
        make("2", "1", 0, 2**63 - 1),  # the earliest start, the latest end
        make("00F067AA0BA902B7", "00f067aa0ba902b7", T0, T0, trace_id="0"),  # upper case; own trace
        make("jaeger-1", "b7ad6b7169203331", T0 + 7, T0 + 8, trace_id="a3ce929d0e0e4736"),
        make("dup", "", T0 + 1, T0 + 2, kind=SpanKind.CLIENT),  # the same id twice (kinds differ)
        make("dup", "dup", T0 + 1, T0 + 2, kind=SpanKind.SERVER, parent_ref=RefType.CHILD_OF),
        make(HOSTILE, HOSTILE, T0 + 6, T0 + 6, trace_id=HOSTILE, name=HOSTILE),
    ]


@pytest.fixture(scope="module")
def trained():
    """A dictionary trained on simulated-like documents (not kept in a store)."""
    return codec.train_dictionary(order_documents(0))


def order_documents(seed: int) -> list[bytes]:
    return [
        codec.document_bytes(spans, spans[0].trace_id)
        for spans in (order_spans(seed * 10_000 + n) for n in range(2_000))
    ]


def order_spans(n: int) -> list[Span]:
    trace_id = f"{n:032x}"
    business = {"order.id": f"A-{100_000 + n}", "customer.id": f"C-{n % 97:05d}"}
    return [
        Span(
            trace_id,
            f"{n:08x}0000000{i}",
            f"{n:08x}0000000{i - 1}" if i else None,
            name,
            SpanKind.SERVER,
            T0 + n * 10**9 + i * 7_919,
            T0 + n * 10**9 + 10**6 + i,
            SHOP,
            {**business, "http.route": f"/api/orders/{i}"},
        )  # fmt: skip
        for i, name in enumerate(["POST /api/orders", "INSERT orders", "publish orders.new"])
    ]


@pytest.mark.parametrize("with_dictionary", [False, True])
def test_every_field_reads_back_exactly(trained, with_dictionary):
    spans = every_kind_of_span()
    data = codec.encode_spans(spans, TRACE, trained if with_dictionary else None)
    assert codec.dictionary_key(data) == (trained.key if with_dictionary else 0)
    back = codec.decode_spans(data, TRACE)
    assert back == spans
    for read, written in zip(back, spans, strict=True):
        assert [type(v) for v in read.attributes.values()] == [
            type(v) for v in written.attributes.values()
        ]
    # A page reads some rows only: their parents are named even when not picked with them.
    picked = codec.decode_spans(data, TRACE, [6, 0, 0, 8])
    assert picked == [spans[6], spans[0], spans[0], spans[8]]


def test_the_document_shortens_what_repeats():
    spans = order_spans(7)
    trace_id = spans[0].trace_id
    document = codec.document_bytes(spans, trace_id)
    assert trace_id.encode() not in document  # the row names it: not a byte a chunk
    (version, _, _, _, base_ns, rows) = orjson.loads(document)
    assert (version, base_ns) == (3, T0 + 7 * 10**9)
    assert [row[0] for row in rows] == [0, 0, 0]  # the trace id of the chunk's row
    assert [row[2] for row in rows] == [0, 1, 2]  # parents by position + 1
    assert [row[5] for row in rows] == [0, 7_919, 15_838]


def test_a_span_of_another_trace_id_keeps_its_own():
    """A trace's spans may carry ids that differ from its row's (Zipkin's 64-bit halves of
    a 128-bit id): those are written out, and a chunk read under another id keeps them."""
    other = Span(TRACE, "00f067aa0ba902b7", None, "x", SpanKind.SERVER, T0, T0, SHOP)
    spans = [*order_spans(7), other]
    data = codec.encode_spans(spans, spans[0].trace_id)
    assert codec.decode_spans(data, spans[0].trace_id) == spans
    assert [s.trace_id for s in codec.decode_spans(data, "elsewhere")] == [
        "elsewhere",
        "elsewhere",
        "elsewhere",
        TRACE,
    ]
    # "" keeps every span's own (what training writes for a version 1 chunk).
    every = orjson.loads(codec.document_bytes(spans, ""))[-1]
    assert [row[0] for row in every] == [s.trace_id for s in spans]


def test_chunks_of_version_1_still_read():
    assert codec.dictionary_key(OLD_CHUNK) is None
    assert codec.decode_spans(OLD_CHUNK, "ignored") == OLD_SPANS
    assert codec.decode_spans(OLD_CHUNK, "ignored", [1]) == OLD_SPANS[1:]


def test_documents_of_version_2_still_read():
    """A chunk written before version 3 holds its trace id itself: the row's is not used."""
    document = codec.document(VERSION_2_CHUNK)
    assert orjson.loads(document)[0] == 2 and TRACE.encode() in document
    assert codec.decode_spans(VERSION_2_CHUNK, "ignored") == VERSION_2_SPANS
    assert codec.decode_spans(VERSION_2_CHUNK, "ignored", [2, 1]) == VERSION_2_SPANS[:0:-1]


def test_a_dictionary_makes_small_chunks_smaller(trained):
    spans = order_spans(123_456)
    trace_id = spans[0].trace_id
    plain = codec.encode_spans(spans, trace_id)
    compact = codec.encode_spans(spans, trace_id, trained)
    assert len(compact) < len(plain) / 2


# Eight threads decoding and encoding chunks at once, as a threaded web server does. With one
# zstd context shared by the process, this corrupted the output ("Data corruption detected")
# and could crash the process; in a child process, so that a crash fails this test only.
THREADS_AT_ONCE = """
import sys, threading
from explorer.store import codec
documents = [b'[2,false,[],[],"%032x",%d,[[0,1,"op-%d"]]]' % (n, n * 997, n % 50)
             for n in range(2_500)]
trained = codec.train_dictionary(documents)
chunks = [codec.compress(document, trained) for document in documents[:50]]
wrong = []
def work():
    try:
        for _ in range(200):
            for chunk, document in zip(chunks, documents):
                if codec.document(chunk) != document:
                    wrong.append(document)
            codec.compress(documents[3], trained)
    except codec.CodecError as exc:
        wrong.append(exc)
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(wrong), wrong[:1])
"""


def test_threads_decode_and_encode_at_once():
    done = subprocess.run(
        [sys.executable, "-c", THREADS_AT_ONCE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2_000:]
    assert done.stdout.startswith("0 []"), done.stdout


@pytest.mark.django_db
def test_corrupt_chunks_and_unknown_dictionaries_are_errors(trained):
    data = codec.encode_spans(order_spans(1), TRACE, trained)
    with pytest.raises(codec.CodecError, match="cannot be decoded"):
        codec.decode_spans(data[:-3], TRACE)
    with pytest.raises(codec.CodecError, match="cut short"):
        codec.decode_spans(data[:3], TRACE)
    unknown = b"\x02\x00\x00\x00\x07" + data[5:]
    with pytest.raises(codec.CodecError, match="dictionary 7, which is not known"):
        codec.decode_spans(unknown, TRACE)
    for document in (b"[3,false,[],[],0]", b"[4,false,[],[],0,[]]", b"[2,false,[],[],0,[]]"):
        with pytest.raises(codec.CodecError, match="unknown encoding version"):
            codec.decode_spans(codec.compress(document, None), TRACE)


def test_too_few_documents_train_no_dictionary():
    assert codec.train_dictionary(order_documents(0)[:10]) is None


@pytest.mark.django_db
def test_the_writer_trains_a_dictionary_and_compresses_the_first_chunks_again(monkeypatch):
    monkeypatch.setattr(codec, "MIN_TRAINING_SAMPLES", 300)
    first = [Trace(f"{n:032x}", order_spans(n)) for n in range(200)]
    store_traces(first)
    assert not ChunkDictionary.objects.exists()  # too few chunks yet: plain zstd
    second = [Trace(f"{n:032x}", order_spans(n)) for n in range(200, 400)]
    store_traces(second)
    (kept,) = ChunkDictionary.objects.values_list("key", "samples")
    keys = {
        codec.dictionary_key(bytes(d)) for d in TraceChunk.objects.values_list("data", flat=True)
    }
    assert keys == {kept[0]} and kept[1] == 300
    assert TraceChunk.objects.filter(keys__isnull=False).count() == 0  # one chunk a trace
    codec.forget_dictionaries()
    source = StoreSource()
    assert source.get_traces([t.trace_id for t in first + second]) == first + second


@pytest.mark.django_db
def test_chunks_written_with_an_older_dictionary_read_after_a_new_one(monkeypatch):
    monkeypatch.setattr(codec, "MIN_TRAINING_SAMPLES", 300)
    old = [Trace(f"{n:032x}", order_spans(n)) for n in range(300)]
    store_traces(old)
    version_1 = dictionary.current()
    new = [Trace(f"{n:032x}", order_spans(n)) for n in range(50_000, 50_300)]
    store_traces(new)
    chunks, saved = dictionary.compact()  # version 2, every chunk compressed again with it
    version_2 = dictionary.current()
    assert version_1 is not None and version_2 is not None and version_2 != version_1
    assert ChunkDictionary.objects.count() == 2 and chunks == 600
    # A chunk still naming version 1 (written by a writer that had not seen version 2).
    TraceChunk.objects.filter(pk=TraceChunk.objects.order_by("id").first().pk).update(
        data=codec.encode_spans(old[0].spans, old[0].trace_id, version_1)
    )
    codec.forget_dictionaries()
    assert StoreSource().get_traces([t.trace_id for t in old + new]) == old + new
    assert dictionary.load(version_1.key) == version_1.data


@pytest.mark.django_db
def test_compact_chunks_rewrites_version_1_chunks(monkeypatch):
    monkeypatch.setattr(codec, "MIN_TRAINING_SAMPLES", 300)
    traces = [Trace(f"{n:032x}", order_spans(n)) for n in range(300)]
    store_traces(traces)
    TraceChunk.objects.filter(trace__trace_id=traces[0].trace_id).update(data=OLD_CHUNK)
    out = io.StringIO()
    call_command("ingest", "--compact-chunks", stdout=out)
    assert "chunks compressed again: 300" in out.getvalue()
    codec.forget_dictionaries()
    assert StoreSource().get_trace(traces[0].trace_id).spans == OLD_SPANS
    assert StoreSource().get_traces([t.trace_id for t in traces[1:]]) == traces[1:]


@pytest.mark.django_db
def test_a_chunk_naming_a_dictionary_the_store_lacks_is_a_source_error(trained):
    store_traces([Trace(TRACE, OLD_SPANS)])
    TraceChunk.objects.update(data=codec.encode_spans(OLD_SPANS, TRACE, trained))
    codec.forget_dictionaries()
    with pytest.raises(SourceError, match="not known"):
        StoreSource().get_trace(TRACE)


@pytest.mark.django_db
def test_too_few_chunks_to_train_on_are_never_decompressed(monkeypatch):
    """A trace in big pieces brings few chunks of megabytes each: while they are too few to
    train on, the writer does not decompress them for nothing."""

    def refuse(data):
        raise AssertionError("decompressed")

    monkeypatch.setattr(codec, "document", refuse)
    store_traces([Trace(f"{n:032x}", order_spans(n)) for n in range(20)])
    assert not ChunkDictionary.objects.exists()
    # Nor when the chunks' ids pass the number needed: removals leave gaps.
    store_traces([Trace(f"{n:032x}", order_spans(n)) for n in range(20, 60)])
    StoredTrace.objects.filter(trace_id__lt=f"{54:032x}").delete()  # 6 chunks left, ids to 60
    monkeypatch.setattr(codec, "MIN_TRAINING_SAMPLES", 30)
    store_traces([Trace(f"{n:032x}", order_spans(n)) for n in range(100, 103)])
    assert not ChunkDictionary.objects.exists()


def customer_spans(n: int, customer: str) -> list[Span]:
    """order_spans(n) of this customer."""
    spans = order_spans(n)
    for span in spans:
        span.attributes["customer.id"] = customer
    return spans


@pytest.mark.django_db
def test_forgetting_a_customer_retires_the_dictionaries_that_hold_the_id(monkeypatch):
    """Training copies what recurs, a frequent customer's id included: that dictionary goes,
    its chunks compressed again with one trained without the id, and a writer whose chunks
    were prepared with it before compresses them again with the new one."""
    monkeypatch.setattr(codec, "MIN_TRAINING_SAMPLES", 300)
    gone = "C-GONE-4242"
    theirs = [Trace(f"{n:032x}", customer_spans(n, gone)) for n in range(0, 400, 2)]
    others = [Trace(f"{n:032x}", order_spans(n)) for n in range(1, 800, 2)]
    store_traces(theirs + others)
    old = dictionary.current()
    assert old is not None and gone.encode() in old.data
    assert dictionary.retire_mentioning("C-NOBODY") == 0
    TraceChunk.objects.filter(trace__trace_id__in=[t.trace_id for t in theirs]).delete()
    assert dictionary.retire_mentioning(gone) == len(others)
    new = dictionary.current()
    assert new is not None and new != old and gone.encode() not in new.data
    assert list(ChunkDictionary.objects.values_list("key", flat=True)) == [new.key]
    real_settings = ingest.store_settings
    monkeypatch.setattr(
        ingest,
        "store_settings",
        lambda traffic=True: dataclasses.replace(real_settings(traffic), dictionary=old),
    )
    late = [Trace(f"{n:032x}", order_spans(n)) for n in range(5_000, 5_010)]
    store_traces(late)
    keys = {
        codec.dictionary_key(bytes(d)) for d in TraceChunk.objects.values_list("data", flat=True)
    }
    assert keys == {new.key}
    laid_out = [
        codec.encode_spans(late[0].spans, late[0].trace_id, old),
        codec.encode_spans(late[1].spans, late[1].trace_id, new),
    ]
    again, same = dictionary.readable(laid_out)  # as lay_out_stored writes its chunks
    assert codec.dictionary_key(again) == new.key and same == laid_out[1]
    assert codec.decode_spans(again, late[0].trace_id) == late[0].spans
    codec.forget_dictionaries()
    assert StoreSource().get_traces([t.trace_id for t in others + late]) == others + late


@pytest.mark.django_db
def test_forget_customer_leaves_the_id_in_no_dictionary(monkeypatch):
    monkeypatch.setattr(codec, "MIN_TRAINING_SAMPLES", 300)
    gone = "C-GONE-4242"
    store_traces(
        [Trace(f"{n:032x}", customer_spans(n, gone)) for n in range(0, 400, 2)]
        + [Trace(f"{n:032x}", order_spans(n)) for n in range(1, 800, 2)]
    )
    assert gone.encode() in dictionary.current().data
    out = io.StringIO()
    call_command("forget-customer", gone, "--reason", "asked", "--no-vacuum", stdout=out)
    assert "400 trace chunks" in out.getvalue()
    kept = ChunkDictionary.objects.values_list("data", flat=True)
    assert kept and all(gone.encode() not in bytes(data) for data in kept)


@pytest.mark.slow  # starts two worker processes (about 4 s)
@pytest.mark.django_db(transaction=True)
def test_ingest_workers_compress_with_the_dictionary_trained_meanwhile(tmp_path, monkeypatch):
    """The first ingest of a store trains the dictionary once it holds enough chunks: the
    workers then get it, instead of the writer compressing each of their chunks again."""
    monkeypatch.setattr(codec, "MIN_TRAINING_SAMPLES", 300)
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "BATCH_SPANS", 300)  # 100 traces a batch
    traces = [Trace(f"{n:032x}", order_spans(n)) for n in range(3_000)]
    path = tmp_path / "orders.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(otlp_json([trace])) for trace in traces))
    monkeypatch.setattr(ingest, "MIN_RANGE_BYTES", path.stat().st_size // 2)
    again = []
    compress = codec.compress
    monkeypatch.setattr(codec, "compress", lambda *args: again.append(1) or compress(*args))
    report = ingest.ingest([path], workers=2)
    assert (report.traces, report.rejected) == (3_000, [])
    trained = dictionary.current()
    data = TraceChunk.objects.values_list("data", flat=True)
    assert {codec.dictionary_key(bytes(d)) for d in data} == {trained.key}
    assert len(again) < 1_500  # those prepared before the workers were told: all without it
    codec.forget_dictionaries()
    found = StoreSource().get_traces([t.trace_id for t in traces])
    names = [[(s.span_id, s.name, s.start_ns) for s in t.spans] for t in found]
    assert names == [[(s.span_id, s.name, s.start_ns) for s in t.spans] for t in traces]
