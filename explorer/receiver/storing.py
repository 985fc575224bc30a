"""One request decoded, prepared and committed: what a writer process does for each request
(explorer.receiver.writers), or the request's own thread with no writer processes."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from django.db import DatabaseError, IntegrityError, close_old_connections, transaction

from explorer.caching import LocalCache, on_reset
from explorer.receiver import index
from explorer.receiver.auth import Refused
from explorer.receiver.config import ReceiverConfig, load
from explorer.receiver.decoding import DecodeConfig, Stored, decode_request
from explorer.store import faults, hourly_keys
from explorer.store.ingest import PreparedWriter, store_settings

log = logging.getLogger("explorer.receiver")

_settings: LocalCache[ReceiverConfig] = LocalCache("receiver settings", max_weight=1)
# Per thread: the store's writer keeps the operation catalogue's keys between requests
# (dropped when a transaction is rolled back: _forget_writer).
_local = threading.local()


def store_request(
    body: bytes,
    encoding: str | None,
    fmt: str,
    sender: str,
    turns: AbstractContextManager | None,
) -> Stored:
    """Decode, prepare and commit one request (`turns`: the lock to write under, or None);
    Refused when it cannot be decoded (400/413/415) or the database does not take it (503,
    whatever step met the database: the mapping is read from it too)."""
    try:
        stored, write = _prepared(body, encoding, fmt, sender)
        if write is not None:
            try:
                _commit(write, turns)
            except IntegrityError:
                # Another receiver (PostgreSQL) stored one of these traces first: once
                # more, they are now found and merged with.
                _forget_writer()
                _commit(write, turns)
    except DatabaseError as exc:
        _forget_writer()
        raise _refusal(exc) from exc
    return stored


def _writer() -> PreparedWriter:
    """This thread's store writer (made on first use)."""
    if not hasattr(_local, "writer"):
        _local.writer = PreparedWriter()
    return _local.writer


def _forget_writer() -> None:
    """Drop this thread's store writer after a transaction was rolled back: the keys of the
    operations it inserted there are in its catalogue but not in the database, and writing
    with them would fail (a foreign key) on every later request naming those operations."""
    _local.__dict__.pop("writer", None)
    hourly_keys.forget_known()  # the hourly figures' keys: one may be a deleted key's


# And whenever caches are emptied: its keys may come from a transaction since rolled back
# without this thread's knowledge (a test's, or a deleted catalogue).
on_reset(_forget_writer)


def _prepared(
    body: bytes, encoding: str | None, fmt: str, sender: str
) -> tuple[Stored, Callable[[], object] | None]:
    """What the request holds, and the write that stores it (None: nothing to store)."""
    config = _config()
    # The current mapping and SLA, for the hourly figures (both modes keep them).
    prepared_with = store_settings()
    decode_config = DecodeConfig(
        config.mode,
        config.max_bytes,
        config.max_attribute_bytes,
        prepared_with,
        index.pairs_calls() and config.mode == "index",
    )
    decoded = decode_request(body, encoding, fmt, decode_config, f"request from {sender}")
    stored = Stored(decoded.spans, decoded.rejected, decoded.message)
    if not (decoded.encoded or decoded.facts):
        return stored, None
    if config.mode == "full":
        # The writer is looked up when writing: a retry after a rollback gets a fresh one.
        return stored, lambda: _writer().write(decoded.encoded, config=prepared_with, sender=sender)
    pieces = index.pieces_of(decoded.facts, prepared_with)
    return stored, functools.partial(index.write_pieces, pieces, sender=sender, live=True)


def _refusal(exc: DatabaseError) -> Refused:
    """What the sender is told when the database did not take its spans (logged with the
    traceback): 503 and retry later. A full disk is told as such (gRPC: RESOURCE_EXHAUSTED,
    with the same retry delay); the database's own message stays in the log."""
    log.error("receiver: the database did not take the spans", exc_info=exc)
    close_old_connections()  # a broken connection is replaced on the next write
    if faults.disk_full(exc):
        message = "the database's disk is full: the spans were not stored; retry later"
        return Refused(503, message, storage_full=True)
    what = "is unavailable" if faults.unavailable(exc) else "refused the write"
    return Refused(
        503, f"the database {what} ({type(exc).__name__}): the spans were not stored; retry later"
    )


def _commit(write: Callable[[], object], turns: AbstractContextManager | None) -> None:
    with turns or nullcontext(), transaction.atomic():
        write()


def _config() -> ReceiverConfig:
    # Settings do not change while the process runs; reset_caches() reads them again (tests).
    return _settings.get_or_compute("settings", load)
