"""Text made safe to show: control and bidirectional characters as visible symbols. Framework-free.

Every name and text that comes from a trace or a user (span names, attribute values, user
names) goes through `visible` where it is shown, so none can ring the terminal (BEL), start an
escape sequence (ESC), hide itself (NUL, DEL) or reorder what is shown around it (U+202E makes
`invoice\u202efdp.exe` read as `invoiceexe.pdf`):
- C0 controls and DEL -> their Unicode control pictures (ESC -> "␛", BEL -> "␇"); tab,
  newline and carriage return are kept by default (preformatted text, stack traces), and
  pictured too with keep="" (one-line names, log lines);
- C1 controls (U+0080-U+009F) and bidirectional controls (U+061C, U+200E, U+200F,
  U+202A-U+202E, U+2066-U+2069) -> U+FFFD;
- noncharacters (U+FDD0-U+FDEF and the last two code points of every plane, U+FFFE, U+FFFF...)
  -> U+FFFD: XML refuses them, so one in a span's status message made `dot` refuse the whole
  trace diagram (a 500, found by the fuzz test). Lone surrogates never get this far: the
  parsers refuse them.
One pass over the text with str.translate: linear in its length.
"""

from __future__ import annotations

import functools

REPLACEMENT = "\ufffd"
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
KEEP_DEFAULT = "\t\n\r"


@functools.lru_cache(maxsize=8)
def _table(keep: str) -> dict[int, str]:
    table = {code: chr(0x2400 + code) for code in range(0x20)}  # ␀ … ␟
    table[0x7F] = "\u2421"  # ␡
    table.update(dict.fromkeys(range(0x80, 0xA0), REPLACEMENT))
    table.update({ord(char): REPLACEMENT for char in BIDI_CONTROLS})
    table.update(dict.fromkeys(range(0xFDD0, 0xFDF0), REPLACEMENT))
    for plane in range(17):
        table.update(dict.fromkeys((plane << 16 | 0xFFFE, plane << 16 | 0xFFFF), REPLACEMENT))
    for char in keep:
        table.pop(ord(char), None)
    return table


def visible(text: str, keep: str = KEEP_DEFAULT) -> str:
    """`text` with every control and bidirectional character shown as a symbol, except the
    characters in `keep` (tab, newline and carriage return unless told otherwise)."""
    return text.translate(_table(keep))


def visible_line(text: str) -> str:
    """One-line text (a name, a log line): line breaks and tabs pictured too."""
    return visible(text, keep="")
