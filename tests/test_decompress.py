"""Bounded decompression: gzip bombs stop at the cap, honest data inflates whole."""

import gzip
import io
import zlib

import pytest

from explorer.traces.decompress import DecompressionLimit, Limits, inflate, open_bounded

# Trace-like text that compresses about as well as real OTLP JSON (far below the ratio).
TEXT = b"".join(
    b'{"spanId": "%016x", "name": "GET /orders/%d"}\n' % (i * 7919, i) for i in range(2000)
)
BOMB = gzip.compress(b"\0" * (40 << 20))  # 40 MiB of zeros in about 40 KB


def test_inflate_reads_gzip_zlib_and_several_members():
    assert inflate(gzip.compress(TEXT)) == TEXT
    assert inflate(zlib.compress(TEXT)) == TEXT
    assert inflate(gzip.compress(TEXT) + gzip.compress(TEXT)) == TEXT * 2


def test_bomb_stops_at_the_ratio_and_says_so():
    with pytest.raises(DecompressionLimit, match="200 times its compressed size"):
        inflate(BOMB)


def test_absolute_cap_applies_before_the_ratio():
    with pytest.raises(DecompressionLimit, match="limit of 1000 bytes"):
        inflate(gzip.compress(TEXT), Limits(max_bytes=1000))


def test_truncated_data_is_a_zlib_error():
    with pytest.raises(zlib.error, match="truncated"):
        inflate(gzip.compress(TEXT)[:-12])


def test_streaming_reader_inflates_members_and_stops_bombs():
    assert open_bounded(io.BytesIO(gzip.compress(TEXT) * 3)).read() == TEXT * 3
    with pytest.raises(DecompressionLimit):
        open_bounded(io.BytesIO(BOMB)).read()
    with pytest.raises(zlib.error):
        open_bounded(io.BytesIO(gzip.compress(TEXT)[:-12])).read()
