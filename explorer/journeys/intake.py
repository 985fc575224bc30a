"""Which `order.id` values name an order (docs/security.md, "Order ids").

An order id is put into URLs, e-mails, webhooks and database keys. A value that is empty, longer
than ORDER_ID_MAX characters, holds a control character (Unicode categories Cc, Cf, Zl, Zp,
Cs: a newline, NUL, the bidirectional controls such as U+202E, zero-width characters) or
U+FFFD (what the store makes of a NUL, a parser of a byte that is no UTF-8) names no order:
its spans are stored and shown as they came (the trace page, the search by trace id), but it
is not judged, listed or alerted on; the live worker logs it with the trace it came in. "/",
"?", "#", "%" and any other printable text are ordinary ids (URLs percent-encode them).

ORDER_ID_MAX stays below the store's INDEXED_VALUE_LENGTH (200): a longer value is indexed by
its first 200 characters, so an id read back from the index at 200 characters may be cut, and
looking it up would find no span of its own (nor may two long ids merge into one order).
"""

from __future__ import annotations

import unicodedata

ORDER_ID_MAX = 128
REPLACEMENT = "\ufffd"
CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def order_id_problem(value: str) -> str | None:
    """Why `value` names no order, or None when it does."""
    if not value or value.isspace():
        return "empty"
    if len(value) > ORDER_ID_MAX:
        return f"{len(value)} characters, over {ORDER_ID_MAX}"
    if not value.isprintable():  # a quick pass for the usual id: printable ones are fine
        for char in value:
            if unicodedata.category(char) in CONTROL_CATEGORIES:
                return f"the control character U+{ord(char):04X}"
    if REPLACEMENT in value:
        return "U+FFFD, a character that was lost before it was stored"
    return None


def shown_id(value: str, most: int = 60) -> str:
    """A refused id for a log line: its repr, cut."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 1] + "…"
