"""The hourly figures' latency sketches in a smaller format: a byte for the width of the
counts, 16-bit bin indexes, counts of that width (explorer.store.hourly_figures, about 3 bytes
a bin) instead of a 32-bit index and a 32-bit count a bin (8 bytes). The stored sketches are
written again, a slice of rows at a time; reversible. The formats as they are here are frozen:
the project's code may move on."""

import sys
from array import array

from django.db import migrations

TABLE = "store_hourlyoperation"
SLICE = 2_000
_COUNT_TYPES = {1: "B", 2: "H", 4: "I"}


def _little(values: array) -> array:
    if sys.byteorder != "little":
        values.byteswap()
    return values


def to_compact(old: bytes) -> bytes:
    flat = array("I")
    flat.frombytes(old)
    _little(flat)
    indexes, counts = flat[::2], flat[1::2]
    if not indexes:
        return b""
    most = max(counts)
    width = 1 if most <= 0xFF else 2 if most <= 0xFFFF else 4
    packed = _little(array("H", indexes)).tobytes()
    return bytes((width,)) + packed + _little(array(_COUNT_TYPES[width], counts)).tobytes()


def to_wide(new: bytes) -> bytes:
    if not new:
        return b""
    width = new[0]
    bins = (len(new) - 1) // (2 + width)
    indexes, counts = array("H"), array(_COUNT_TYPES[width])
    indexes.frombytes(new[1 : 1 + 2 * bins])
    counts.frombytes(new[1 + 2 * bins :])
    _little(indexes)
    _little(counts)
    flat = array("I", [value for pair in zip(indexes, counts, strict=True) for value in pair])
    return _little(flat).tobytes()


def _rewrite(schema_editor, convert) -> None:
    q = schema_editor.quote_name
    table, key, sketch = q(TABLE), q("id"), q("sketch")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min({key}), max({key}) FROM {table}")  # noqa: S608
        first, last = cursor.fetchone()
        for start in range(first, last + 1, SLICE) if first is not None else ():
            cursor.execute(
                f"SELECT {key}, {sketch} FROM {table} WHERE {key} >= %s AND {key} < %s",  # noqa: S608
                [start, start + SLICE],
            )
            rows = [(convert(bytes(data)), pk) for pk, data in cursor.fetchall()]
            cursor.executemany(f"UPDATE {table} SET {sketch} = %s WHERE {key} = %s", rows)  # noqa: S608


def forward(apps, schema_editor):
    _rewrite(schema_editor, to_compact)


def backward(apps, schema_editor):
    _rewrite(schema_editor, to_wide)


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0012_attribute_key_codes"),
    ]

    operations = [migrations.RunPython(forward, backward)]
