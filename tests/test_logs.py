"""Structured logs: one line per event (logfmt or JSON) with the request id, which the
response names in X-Request-ID; errors carry their traceback on that same line."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse

from explorer.logs import REQUEST_ID_HEADER, LineFormatter, current_request_id
from tests.backends_support import free_port

log = logging.getLogger("explorer.test")
TRACE_ID = "ab" * 16


def record(message="hello", exc=None, **extra) -> logging.LogRecord:
    made = log.makeRecord(
        "explorer.test", logging.ERROR, __file__, 1, message, (), exc, extra=extra
    )
    return made


def test_logfmt_is_one_line_with_fields_and_quoted_values():
    line = LineFormatter().format(record("order stuck", order_id="A-1", note='a "b" c'))
    assert "\n" not in line
    assert line.split(" ")[1:4] == ["level=error", "logger=explorer.test", "request_id=-"]
    assert 'message="order stuck"' in line and "order_id=A-1" in line
    assert 'note="a \\"b\\" c"' in line


def test_an_error_keeps_its_traceback_on_its_line():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        import sys

        made = record("failed", exc=sys.exc_info())
    line = LineFormatter().format(made)
    assert "\n" not in line and "Traceback (most recent call last)" in line
    assert "ValueError" in line and "test_an_error_keeps_its_traceback_on_its_line" in line
    data = json.loads(LineFormatter("json").format(made))
    assert data["level"] == "error" and data["traceback"].startswith("Traceback")
    assert data["error"] == "ValueError('bad\\nvalue')"


@pytest.mark.django_db
def test_each_request_gets_an_id_in_its_response(client):
    first = client.get(reverse("accounts:login"))
    second = client.get(reverse("accounts:login"))
    assert first.status_code == 200 and len(first[REQUEST_ID_HEADER]) == 32
    assert second[REQUEST_ID_HEADER] != first[REQUEST_ID_HEADER]
    assert current_request_id() == "-"  # reset after the request


@pytest.mark.django_db
@pytest.mark.parametrize(
    "given, kept", [("proxy-42.abc", True), ("bad id\n<script>", False), ("x" * 65, False)]
)
def test_a_sane_incoming_request_id_is_kept(client, given, kept):
    response = client.get(reverse("accounts:login"), HTTP_X_REQUEST_ID=given)
    assert (response[REQUEST_ID_HEADER] == given) is kept


def test_an_unanswering_backend_is_logged_with_traceback_and_request_id(
    client, login_as, settings, caplog
):
    settings.EXPLORER_BACKENDS = {
        "down": {
            "kind": "zipkin",
            "url": f"http://127.0.0.1:{free_port()}/",
            "retries": 0,
            "timeout_connect": 0.5,
            "timeout_read": 0.5,
            "timeout_total": 1,
        }
    }
    settings.EXPLORER_DEFAULT_BACKEND = "down"
    login_as("analyst")
    response = client.get(reverse("web:trace", args=[TRACE_ID]))
    assert response.status_code == 503
    logged = [r for r in caplog.records if r.name == "explorer.web"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert logged[0].request_id == response[REQUEST_ID_HEADER]
    line = LineFormatter().format(logged[0])
    assert "\n" not in line and "Traceback" in line and "SourceError" in line
    assert f"request_id={response[REQUEST_ID_HEADER]}" in line
