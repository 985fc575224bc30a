"""What every format parser shares: results, problems, id and value conversion."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from explorer.traces.model import Span, Trace
from explorer.traces.problems import EXPECTED, Message, message_of

FORMATS = ("otlp-json", "otlp-proto", "jaeger-json", "zipkin-json", "jsonl")

_HEX_DIGITS = "0123456789abcdef"
# Times the store keeps: nanoseconds since 1970 in a signed 64-bit integer (until 2262). A
# later time is rejected with its span, not left to fail the whole batch where it is stored.
MAX_TIME_NS = (1 << 63) - 1
# OTLP's intValue is a signed 64-bit integer; the store's JSON encoder takes no larger.
MIN_INT, MAX_INT = -(1 << 63), (1 << 63) - 1
# Arrays and key-value lists inside an attribute value nest at most this deep; a deeper one
# rejects its span (the store's JSON encoder stops at 255 levels; nothing real nests so).
MAX_VALUE_DEPTH = 32


@dataclass(slots=True, frozen=True)
class ParseProblem:
    """Something wrong with the input: which source, where in it ("line 12", "byte 3401" or
    "" for the whole document) and what: in English (`message`), and as a code with its
    parameters for saying it in another language (explorer.traces.problems; the parameter
    "where" is the place inside the document, such as "resourceSpans[0].spans[3]")."""

    source: str
    position: str
    message: str
    code: str = "unreadable"
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        where = f"{self.source}, {self.position}" if self.position else self.source
        return f"{where}: {self.message}"


@dataclass(slots=True)
class ParseResult:
    traces: list[Trace] = field(default_factory=list)
    errors: list[ParseProblem] = field(default_factory=list)
    warnings: list[ParseProblem] = field(default_factory=list)
    format: str = ""  # the format detected or asked for, one of FORMATS, "" when unknown

    @property
    def span_count(self) -> int:
        return sum(len(t.spans) for t in self.traces)


class BadInput(ValueError):
    """A document, or one span of it, cannot be read; the message says what is wrong."""


# What reading one malformed object can raise; caught per span, reported, never re-raised.
READ_ERRORS = (BadInput, ValueError, TypeError, KeyError, AttributeError, RecursionError)


def must_be(what: str, expected: str, value: object) -> BadInput:
    """The problem of a field holding the wrong kind of value (`expected`: a key of EXPECTED)."""
    got = describe(value)
    text = f"{what} must be {EXPECTED[expected]}, got {got}"
    return BadInput(Message(text, "must_be", what=what, expected=expected, got=got))


def unknown_value(text: str, what: str, value: object) -> BadInput:
    """The problem of a value the format does not have (a span kind, a status code...)."""
    return BadInput(Message(text, "unknown_value", what=what, got=describe(value)))


def problem_text(exc: Exception) -> str:
    """A person-readable message for what went wrong while reading one object (a Message when
    it has a code)."""
    if isinstance(exc, KeyError):
        field = describe(exc.args[0])
        return Message(f"missing field {field}", "missing_field", field=field)
    if isinstance(exc, BadInput):
        return message_of(exc)
    if isinstance(exc, RecursionError):
        return Message("values nested too deeply", "too_deep")
    return Message(f"wrong value type ({exc})", "wrong_type")


class Collected:
    """Spans read from one document plus the problems met on the way."""

    __slots__ = ("spans", "errors", "warnings")

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.errors: list[tuple[str, str]] = []  # (where in the document, message)
        self.warnings: list[tuple[str, str]] = []


def checked_time(ns: int, what: str) -> int:
    """ns when the store can keep it, else BadInput naming `what`."""
    if 0 <= ns <= MAX_TIME_NS:
        return ns
    got = describe(ns)
    raise BadInput(
        Message(
            f"{what} must be nanoseconds from 0 to {MAX_TIME_NS}, got {got}",
            "time_out_of_range",
            what=what,
            got=got,
        )
    )


def too_deep() -> BadInput:
    text = f"attribute value nests arrays or lists more than {MAX_VALUE_DEPTH} deep"
    return BadInput(Message(text, "too_deep"))


def describe(value: object) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def normalise_id(value: object, what: str) -> str:
    """Ids as lower-case hex when the source used hex or base64 (of 16 or 8 bytes); any other
    non-empty string is kept exactly as given (Jaeger UI fixtures use "span-A")."""
    if type(value) is not str or not value:
        raise must_be(f"{what}", "non_empty_string", value)
    size = len(value)
    if size == 32 or size == 16:
        lower = value.lower()
        if not lower.strip(_HEX_DIGITS):
            return lower
        return value
    if size == 24 or size == 12:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
        if len(raw) == 16 or len(raw) == 8:
            return raw.hex()
    return value


def optional_id(value: object, what: str) -> str | None:
    """A parent id: absent, empty or all zeros means "no parent"."""
    if value is None or value == "":
        return None
    result = normalise_id(value, what)
    return None if not result.strip("0") else result


def micros_to_ns(value: object, what: str) -> int:
    """Microseconds (a number or a numeric string, as Jaeger and Zipkin JSON write them) as
    nanoseconds; BadInput naming `what` for anything else."""
    if isinstance(value, (int, float, str)) and type(value) is not bool:
        try:
            ns = int(value) * 1000
        except (ValueError, OverflowError):  # OverflowError: an infinite float
            pass
        else:
            return checked_time(ns, what)
    raise must_be(f"{what}", "microseconds", value)
