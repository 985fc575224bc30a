"""Trace ids as the store keeps them (explorer.store.models.TraceIdField): bytes, 16 for the
usual W3C id instead of its 32 hex digits. Framework-free."""

_RAW_ID_LENGTHS = (16, 8)  # W3C trace ids and 64-bit ones, as bytes
_TEXT_ID = b"\xff"  # never a byte of UTF-8


def pack_trace_id(trace_id: str) -> bytes:
    """A trace id as StoredTrace keeps it: the usual 32 (or 16) lowercase hex digits as their
    16 (or 8) bytes; any other text as 0xFF and its UTF-8, padded with one more 0xFF when that
    would be 8 or 16 bytes long, so that only raw ids have those lengths."""
    if len(trace_id) in (32, 16) and _is_lower_hex(trace_id):
        return bytes.fromhex(trace_id)
    text = _TEXT_ID + trace_id.encode("utf-8", "surrogatepass")
    return text + _TEXT_ID if len(text) in _RAW_ID_LENGTHS else text


def unpack_trace_id(data: bytes) -> str:
    """pack_trace_id's text back."""
    if len(data) in _RAW_ID_LENGTHS:
        return data.hex()
    return data[1:].rstrip(_TEXT_ID).decode("utf-8", "surrogatepass")


def _is_lower_hex(text: str) -> bool:
    return text.isascii() and all(c in "0123456789abcdef" for c in text)
