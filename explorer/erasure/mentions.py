"""Whether a value, a file or a text carries a customer id: the id as a whole token, not
preceded or followed by a letter or digit (`C-00241` is in `order-C-00241-t1`, not in
`C-002415`), so that erasing one customer never takes another's data."""

from __future__ import annotations

import dataclasses
import mmap
import re
from pathlib import Path


class Mentions:
    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        edge_before, edge_after = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
        self.text = re.compile(edge_before + re.escape(customer_id) + edge_after)
        encoded = re.escape(customer_id.encode("utf-8", "surrogatepass"))
        self.data = re.compile(edge_before.encode() + encoded + edge_after.encode())

    def in_value(self, value: object) -> bool:
        """True when the id is in `value`: text, bytes, a number equal to it, or anything of
        these inside lists, dicts and dataclasses (a span, its resource, events, links)."""
        if isinstance(value, str):
            return self.text.search(value) is not None
        if isinstance(value, bytes | bytearray | memoryview):
            return self.data.search(bytes(value)) is not None
        if isinstance(value, bool) or value is None:
            return False
        if isinstance(value, int | float):
            return str(value) == self.customer_id
        if isinstance(value, dict):
            return any(self.in_value(k) or self.in_value(v) for k, v in value.items())
        if isinstance(value, list | tuple | set | frozenset):
            return any(self.in_value(item) for item in value)
        if dataclasses.is_dataclass(value):
            return any(self.in_value(getattr(value, f.name)) for f in dataclasses.fields(value))
        return False

    def in_file(self, path: Path) -> bool:
        """True when the id's UTF-8 bytes are in the file (read through a memory map, so a
        large upload is not loaded whole)."""
        try:
            with path.open("rb") as file:
                if path.stat().st_size == 0:
                    return False
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    return self.data.search(data) is not None
        except OSError:
            return True  # unreadable: treated as carrying it (an upload is only a copy)

    def replaced(self, text: str, by: str) -> str:
        """`text` with every mention of the id replaced by `by`."""
        return self.text.sub(by, text)
