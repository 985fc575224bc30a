"""Structured logs: one line per event, key=value (logfmt) or JSON, with the request id.

settings.LOGGING (explorer/settings.py) sends every logger through LineFormatter; every
record gets the id of the request it was made in (a record factory). RequestIdMiddleware
gives each request an id (the X-Request-ID it came with, when sane, else a new one) and puts
it on the response's X-Request-ID header, so a user's report and the logs meet. A traceback
stays on its event's line (newlines escaped), so one event is always one line.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from explorer.traces.visible import visible_line

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_request_id: ContextVar[str] = ContextVar("request_id", default="-")
# Attributes every LogRecord has: the rest were given with `extra=` and are logged as fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
_BARE = re.compile(r"[^\s\"=\\]+")


def current_request_id() -> str:
    return _request_id.get()


class _WithRequestId:
    """A log record factory: the records of `factory`, each with the current request id."""

    def __init__(self, factory: Callable[..., logging.LogRecord]) -> None:
        self.factory = factory

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.factory(*args, **kwargs)
        record.request_id = _request_id.get()  # "-" outside requests
        return record


def add_request_ids() -> None:
    """Every log record made from now on carries the current request id (once per process)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _WithRequestId):
        logging.setLogRecordFactory(_WithRequestId(factory))


class LineFormatter(logging.Formatter):
    """One line per event: time, level, logger, request id, message, extra fields, then the
    exception and its traceback. `style` "logfmt" (key=value) or "json"."""

    def __init__(self, style: str = "logfmt") -> None:
        super().__init__()
        self.json = style == "json"

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        fields.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            fields["error"] = repr(record.exc_info[1])
            fields["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        if self.json:
            # JSON escapes C0 controls itself; C1 and bidi controls become symbols.
            return visible_line(json.dumps(fields, ensure_ascii=False, default=str))
        return " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())


def _logfmt(value: object) -> str:
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    # Other controls (ESC, BEL, U+202E) as symbols: a log line never drives a terminal.
    return '"' + visible_line(escaped.replace("\n", "\\n").replace("\r", "\\r")) + '"'


class RequestIdMiddleware:
    """First in the middleware: every log line of a request carries its id, and the response
    says it in X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


def logging_settings(level: str, style: str) -> dict:
    """settings.LOGGING: everything to stderr, one line per event; Django's request errors
    (500s, with their traceback) included. Installs the request-id record factory."""
    add_request_ids()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": LineFormatter, "style": style}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # Django's own handlers would print a second, multi-line copy.
            "django": {"handlers": ["stderr"], "level": level, "propagate": False},
            "django.server": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }
