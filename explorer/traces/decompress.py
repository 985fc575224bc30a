"""Bounded gzip and zlib decompression: every input the explorer inflates goes through here.

A few megabytes of gzip can inflate to gigabytes (a "gzip bomb"), so inflation stops at an
absolute cap and at a ratio to the compressed size, whichever comes first, with an error that
says which limit was hit. No Django imports: the limits are arguments; the web layer, `ingest`,
the receiver and the backend client pass their settings in.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from explorer.traces.problems import Message

GZIP_MAGIC = b"\x1f\x8b"
# Defaults when a caller has no setting of its own: 1 GiB in all, at most 200 times the input.
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MAX_RATIO = 200
# Inflate in pieces of this size so a bomb never sits in memory whole.
PIECE = 1 << 20


class DecompressionLimit(ValueError):
    """Inflating would pass a limit; the message names the limit and the sizes."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one compressed input may inflate to: `max_bytes` in all, and at most
    `max_ratio` times its compressed size (the larger of the two caps never applies)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO

    def cap(self, compressed_bytes: int) -> int:
        return min(self.max_bytes, max(compressed_bytes, 1) * self.max_ratio)

    def error(self, compressed_bytes: int) -> DecompressionLimit:
        if self.cap(compressed_bytes) == self.max_bytes:
            text = f"compressed data inflates past the limit of {self.max_bytes} bytes; refused"
            return DecompressionLimit(Message(text, "inflate_limit", limit=self.max_bytes))
        which = f"{self.max_ratio} times its compressed size of {compressed_bytes} bytes"
        return DecompressionLimit(
            Message(
                f"compressed data inflates past {which}; refused",
                "inflate_ratio",
                ratio=self.max_ratio,
                size=compressed_bytes,
            )
        )


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def _inflated(chunks: Iterator[bytes], limits: Limits, wbits: int) -> Iterator[bytes]:
    """The inflated pieces (each at most PIECE bytes) of the compressed bytes `chunks` yields.

    Several gzip members are read one after another (`cat a.gz b.gz` is one valid gzip file);
    bytes after the last member that do not start another are ignored, as gzip(1) does. The
    limits count everything inflated so far against the compressed bytes read so far.
    Once an inflater reaches the end of its member it is never fed again: zlib keeps the rest
    of the input as `unused_data` but also leaves it in `unconsumed_tail`, and feeding that
    tail back once looped for ever.
    """
    compressed = produced = 0
    rest = b""
    first = True
    while True:
        while len(rest) < len(GZIP_MAGIC):  # enough to tell whether another member follows
            chunk = next(chunks, b"")
            if not chunk:
                break
            compressed += len(chunk)
            rest += chunk
        if not rest or (not first and not is_gzip(rest)):
            return
        first = False
        inflater = zlib.decompressobj(wbits)
        pending = rest
        while not inflater.eof:
            if not pending:
                pending = next(chunks, b"")
                if not pending:
                    raise zlib.error("compressed data is truncated")
                compressed += len(pending)
            piece = inflater.decompress(pending, PIECE)
            produced += len(piece)
            if produced > limits.cap(compressed):
                raise limits.error(compressed)
            if piece:
                yield piece
            pending = inflater.unconsumed_tail
        rest = inflater.unused_data


def inflate(data: bytes, limits: Limits = Limits(), *, wbits: int = 47) -> bytes:
    """`data` inflated (wbits 47: gzip or zlib, detected from the header; several gzip
    members are read one after another), or DecompressionLimit past the limits, or
    zlib.error for corrupt or truncated data. Empty input inflates to nothing."""
    return b"".join(_inflated(iter((data,)), limits, wbits))


class BoundedReader(io.RawIOBase):
    """A readable stream of a compressed stream, inflated as it is read: the same limits,
    counted against the compressed bytes read so far (a stream's size may not be known)."""

    def __init__(self, raw, limits: Limits = Limits(), *, wbits: int = 47):
        self._pieces = _inflated(iter(lambda: raw.read(PIECE), b""), limits, wbits)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if not self._buffer:
            self._buffer = memoryview(next(self._pieces, b""))
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]  # a view: no copy of the rest of the piece
        return size


def open_bounded(raw, limits: Limits = Limits()) -> io.BufferedReader:
    """A buffered reader of the inflated content of the binary stream `raw`."""
    return io.BufferedReader(BoundedReader(raw, limits))
