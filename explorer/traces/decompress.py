"""Bounded gzip and zlib decompression: every input the explorer inflates goes through here.

A few megabytes of gzip can inflate to gigabytes (a "gzip bomb"), so inflation stops at an
absolute cap and at a ratio to the compressed size, whichever comes first, with an error that
says which limit was hit. No Django imports: the limits are arguments; the web layer, `ingest`,
the receiver and the backend client pass their settings in.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

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
        cap = self.cap(compressed_bytes)
        which = (
            f"the limit of {self.max_bytes} bytes"
            if cap == self.max_bytes
            else f"{self.max_ratio} times its compressed size of {compressed_bytes} bytes"
        )
        return DecompressionLimit(f"compressed data inflates past {which}; refused")


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def _inflater(wbits: int):
    return zlib.decompressobj(wbits)


def inflate(data: bytes, limits: Limits = Limits(), *, wbits: int = 47) -> bytes:
    """`data` inflated (wbits 47: gzip or zlib, detected from the header; several gzip
    members are read one after another), or DecompressionLimit past the limits, or
    zlib.error for corrupt data."""
    cap = limits.cap(len(data))
    out = bytearray()
    rest = data
    while rest:
        inflater = _inflater(wbits)
        pending = rest
        while pending:
            out += inflater.decompress(pending, PIECE)
            if len(out) > cap:
                raise limits.error(len(data))
            pending = inflater.unconsumed_tail
        if not inflater.eof:
            raise zlib.error("compressed data is truncated")
        rest = inflater.unused_data
        if rest and not is_gzip(rest):
            break  # trailing garbage after the last member is ignored, as gzip(1) does
    return bytes(out)


class BoundedReader(io.RawIOBase):
    """A readable stream of a compressed stream, inflated as it is read: the same limits,
    counted against the compressed bytes read so far (a stream's size may not be known)."""

    def __init__(self, raw, limits: Limits = Limits(), *, wbits: int = 47):
        self._raw = raw
        self._limits = limits
        self._wbits = wbits
        self._inflater = _inflater(wbits)
        self._compressed = 0
        self._produced = 0
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        while not self._buffer:
            tail = self._inflater.unconsumed_tail
            if tail:
                self._buffer = self._inflater.decompress(tail, PIECE)
                continue
            if self._inflater.eof:
                rest = self._inflater.unused_data
                if not rest:
                    rest = self._raw.read(PIECE)
                    self._compressed += len(rest)
                if not rest:
                    return False
                self._inflater = _inflater(self._wbits)  # the next gzip member
                self._buffer = self._inflater.decompress(rest, PIECE)
                continue
            chunk = self._raw.read(PIECE)
            if not chunk:
                raise zlib.error("compressed data is truncated")
            self._compressed += len(chunk)
            self._buffer = self._inflater.decompress(chunk, PIECE)
        self._produced += len(self._buffer)
        if self._produced > self._limits.cap(self._compressed):
            raise self._limits.error(self._compressed)
        return True

    def readinto(self, target) -> int:
        if not self._buffer and not self._fill():
            return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def open_bounded(raw, limits: Limits = Limits()) -> io.BufferedReader:
    """A buffered reader of the inflated content of the binary stream `raw`."""
    return io.BufferedReader(BoundedReader(raw, limits))
