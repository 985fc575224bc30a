"""Problems with trace input said so that any language can say them.

The parsers are framework-free and translate nothing: a problem's text is English (what the
commands print), and it also carries a code and parameters that are data (field names, values
as found, numbers), never words, so the web layer can say the same in the page's language
(explorer.web.parse_problems). The codes:

    must_be        what, expected (a key of EXPECTED), got
    missing_field  field
    wrong_type     (a value of an unexpected type)
    too_deep       (values nested too deeply)
    unknown_value  what, got (a span kind, status code, value type the format does not have)
    empty_value    what
    unknown_process  got (a Jaeger span's processID missing from processes)
    not_a_trace    got (a Jaeger document that holds no trace)
    not_trace_data (not OTLP, Jaeger or Zipkin trace data, or not OTLP protobuf)
    unknown_format_name  got
    empty_input
    unreadable_file
    broken_gzip
    inflate_limit  limit (bytes)
    inflate_ratio  ratio, size (bytes compressed)
    document_too_large  limit (bytes)
    truncated_json
    invalid_json   line, column
    unreadable     (anything else: the part could not be read)
"""

from __future__ import annotations

# Kinds of value a field must hold, by the code a translation keys them with.
EXPECTED = {
    "object": "an object",
    "list": "a list",
    "string": "a string",
    "non_empty_string": "a non-empty string",
    "integer": "an integer",
    "integers": "integers",
    "int64": "a 64-bit integer",
    "number": "a number",
    "boolean": "true or false",
    "base64": "base64",
    "key_value_list": "a list of key-value objects",
    "object_list": "a list of objects",
    "microseconds": "a number of microseconds",
}


class Message(str):
    """A problem's English text, with its code and parameters (see the module's docstring)."""

    code: str
    params: dict[str, str]

    def __new__(cls, text: str, code: str, **params: object) -> Message:
        made = super().__new__(cls, text)
        made.code = code
        made.params = {k: str(v) for k, v in params.items()}
        return made

    def __reduce__(self):  # pickled with its code and parameters (uploads keep problems)
        return (_rebuild, (str(self), self.code, self.params))


def _rebuild(text: str, code: str, params: dict[str, str]) -> Message:
    return Message(text, code, **params)


def message_of(exc: BaseException) -> str:
    """The message an exception was raised with, keeping its code when it has one."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Message) else str(exc)


def code_and_params(text: str) -> tuple[str, dict[str, str]]:
    if isinstance(text, Message):
        return text.code, dict(text.params)
    return "unreadable", {}
