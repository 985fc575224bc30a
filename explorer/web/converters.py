"""The `id` path converter: any text a trace may hold as an order, trace, span or customer id.

Django's `path` converter matches `.+`, which stops at a newline and refuses the empty text,
so reverse() raised NoReverseMatch on such a stored id and the page listing it answered 500.
This one matches every text; reverse() percent-encodes what a URL cannot carry as it is ("\\n",
"?", "#", "%", U+202E, ...), so building a link never raises, and the request path decodes
back to the same text. "/" stays "/": an id holding one is matched whole, as with `path`.
"""

from __future__ import annotations

from django.urls import register_converter


class AnyText:
    regex = r"[\s\S]*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(AnyText, "id")
