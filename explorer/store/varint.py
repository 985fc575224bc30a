"""Unsigned LEB128 varints (as protobuf's), for the small binary records the store and the
receiver keep: 7 bits a byte, low bits first, high bit set on every byte but the last."""

from __future__ import annotations


def put_varint(out: bytearray, number: int) -> None:
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)


def read_varint(data: bytes | memoryview, at: int) -> tuple[int, int]:
    """The varint at `at`, and where the next field begins; IndexError when cut short."""
    number = shift = 0
    while True:
        byte = data[at]
        at += 1
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, at
        shift += 7
