"""The compression dictionaries of the store's chunks (explorer.store.codec).

A store starts without one: its first chunks are compressed with plain zstd. As soon as it
holds codec.MIN_TRAINING_SAMPLES chunks (the first batch of an ingest usually brings them),
the writer trains a dictionary on them, keeps it (ChunkDictionary) and compresses those
chunks again with it; every later chunk is written with it. `manage.py compact-chunks`
trains a new version on today's chunks (when the data has changed) and rewrites older chunks
with it. Every version is kept: a chunk names the one it was written with, so none is ever
unreadable, except one that holds a customer's id when that customer is forgotten
(`retire_mentioning`): its chunks are compressed again without it first, and writers check
(`held`) that the dictionaries of their chunks are still there in the transaction that
writes them.
"""

from __future__ import annotations

import orjson
from django.db import connection, transaction
from django.utils import timezone

from explorer.store import codec
from explorer.store.models import ChunkDictionary, TraceChunk, quoted_names, select_rows


def current() -> codec.Dictionary | None:
    """The newest dictionary of the store, None before one was trained. One small query (the
    data itself is read once per process)."""
    newest = ChunkDictionary.objects.order_by("-id").values_list("key", flat=True).first()
    if newest is None:
        return None
    data = codec.known_dictionary(newest)
    if data is None:
        data = load(newest)
    return None if data is None else codec.Dictionary(data)


def load(key: int) -> bytes | None:
    """The dictionary of this id (codec.Dictionary.key), if the store has it."""
    data = ChunkDictionary.objects.filter(key=key).values_list("data", flat=True).first()
    return None if data is None else bytes(data)


def held(keys: set[int]) -> set[int]:
    """Those of these dictionary ids the store has, kept from being retired until the caller's
    transaction ends (PostgreSQL: FOR KEY SHARE, which writers hold together and
    retire_mentioning's FOR UPDATE waits for; SQLite's writers take turns anyway)."""
    suffix = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    return {key for (key,) in select_rows(ChunkDictionary, ("key",), suffix, key=sorted(keys))}


def readable(chunks: list[bytes]) -> list[bytes]:
    """These chunks, about to be written in the caller's transaction, as the store will read
    them: those compressed with a dictionary the store no longer has (retired since they
    were made) compressed again with its newest; the dictionaries of the others held."""
    keys = {codec.dictionary_key(data) for data in chunks} - {0, None}
    kept = held(keys)  # type: ignore[arg-type]
    if keys <= kept:
        return chunks
    newest = current()
    return [
        codec.compress(codec.document(data), newest)
        if codec.dictionary_key(data) not in kept | {0, None}
        else data
        for data in chunks
    ]


def retire_mentioning(text: str, batch: int = 2_000) -> int:
    """Remove the dictionaries whose bytes hold `text` (a forgotten customer's id: training
    copies what recurs in the chunks, ids included), every chunk written with one compressed
    again first with a new dictionary trained on the newest chunks (or none, if that one
    holds it too). One transaction, so readers see the old chunks until the new ones are
    there. Returns the chunks rewritten."""
    needles = {text.encode(), orjson.dumps(text)[1:-1]}
    with transaction.atomic():
        kept = ChunkDictionary.objects.select_for_update().values_list("key", "data")
        retired = {key for key, data in kept if any(n in bytes(data) for n in needles)}
        if not retired:
            return 0
        replacement = train([])
        if replacement is not None and any(n in replacement.data for n in needles):
            retired.add(replacement.key)  # the chunks left hold it too: no dictionary at all
            replacement = None
        rewritten = last = 0
        while True:
            page = TraceChunk.objects.filter(id__gt=last).order_by("id")[:batch]
            found = [(pk, bytes(data)) for pk, data in page.values_list("id", "data")]
            if not found:
                break
            last = found[-1][0]
            stale = [(pk, data) for pk, data in found if codec.dictionary_key(data) in retired]
            _rewrite(stale, replacement)
            rewritten += len(stale)
        ChunkDictionary.objects.filter(key__in=retired).delete()
    return rewritten


def ensure(batch_chunks: list[bytes]) -> codec.Dictionary | None:
    """The store's dictionary; trained now (on these chunks, about to be written, and the
    newest stored ones) when there is none yet and there are enough chunks to train on."""
    found = current()
    if found is not None:
        return found
    if len(batch_chunks) + _stored_bound() < codec.MIN_TRAINING_SAMPLES:
        return None  # decided before any chunk is decompressed (a big trace's are megabytes)
    return train([_sample(data) for data in batch_chunks], replace_newest=True)


def _stored_bound() -> int:
    """How many chunks are stored, counted up to codec.MIN_TRAINING_SAMPLES (a bounded look-up
    whatever the store's size; ids are no count: rollbacks and removals leave gaps)."""
    return TraceChunk.objects.order_by()[: codec.MIN_TRAINING_SAMPLES].count()


def train(documents: list[bytes], replace_newest: bool = False) -> codec.Dictionary | None:
    """Train a new version on these documents and the newest stored chunks (up to
    codec.MIN_TRAINING_SAMPLES in all, the batch's first) and keep it; with `replace_newest`,
    the stored chunks written without a dictionary are compressed again with it. None: too
    few chunks."""
    wanted = max(codec.MIN_TRAINING_SAMPLES - len(documents), 0)
    stored = []
    if wanted:
        if _stored_bound() < wanted:
            return None  # too few anyway: no chunk is read
        stored = _newest_chunks(wanted)
    trained = codec.train_dictionary([*documents, *(_sample(data) for _, data in stored)])
    if trained is None:
        return None
    with transaction.atomic():
        ChunkDictionary.objects.get_or_create(
            key=trained.key,
            defaults={
                "data": trained.data,
                "samples": len(documents) + len(stored),
                "trained_at": timezone.now(),
            },
        )
        if replace_newest:
            _rewrite_plain(trained)
    return trained


def compact(batch: int = 2_000) -> tuple[int, int]:
    """Train a new version on the newest chunks and compress every chunk written with an
    older one (or none, or zlib) again with it, `batch` chunks a transaction. Returns (chunks
    rewritten, bytes saved)."""
    trained = train([])
    if trained is None:
        return 0, 0
    rewritten = saved = 0
    last = 0
    while True:
        with transaction.atomic():
            rows = TraceChunk.objects.filter(id__gt=last).order_by("id")[:batch]
            found = [(pk, bytes(data)) for pk, data in rows.values_list("id", "data")]
            if not found:
                return rewritten, saved
            last = found[-1][0]
            stale = [(pk, data) for pk, data in found if codec.dictionary_key(data) != trained.key]
            saved += _rewrite(stale, trained)
            rewritten += len(stale)


def _newest_chunks(count: int, below: int | None = None) -> list[tuple[int, bytes]]:
    """(id, data) of the `count` newest chunks (of those whose id is below `below`)."""
    rows = TraceChunk.objects.order_by("-id")
    if below is not None:
        rows = rows.filter(id__lt=below)
    return [(pk, bytes(data)) for pk, data in rows.values_list("id", "data")[:count]]


def _rewrite_plain(dictionary: codec.Dictionary) -> None:
    """Compress again the chunks written without a dictionary: the newest ones, written
    since the store began (or since chunks were last zlib's), so pages of the newest are
    read until one has none."""
    below = None
    while True:
        page = _newest_chunks(codec.MIN_TRAINING_SAMPLES, below)
        plain = [(pk, data) for pk, data in page if codec.dictionary_key(data) == 0]
        if not plain:
            return
        _rewrite(plain, dictionary)
        below = page[-1][0]


def _sample(data: bytes) -> bytes:
    """A chunk's document as training wants it: of today's version (a zlib chunk of version 1
    is decoded and encoded again, every span's trace id written out: a version 1 document
    holds its own, and the chunk's row is not at hand)."""
    if codec.dictionary_key(data) is None:
        return codec.document_bytes(codec.decode_spans(data, ""), "")
    return codec.document(data)


def _rewrite(chunks: list[tuple[int, bytes]], dictionary: codec.Dictionary | None) -> int:
    """Compress these chunks (id, data) again with `dictionary` (None: plain zstd); returns
    the bytes saved."""
    if not chunks:
        return 0
    rows = [(codec.compress(_sample(data), dictionary), pk) for pk, data in chunks]
    table, (data_column, id_column) = quoted_names(TraceChunk, ("data", "id"))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {data_column} = %s WHERE {id_column} = %s",  # noqa: S608
            rows,
        )
    return sum(len(data) for _, data in chunks) - sum(len(data) for data, _ in rows)
