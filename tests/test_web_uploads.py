"""Uploading a trace file to look at it without storing it."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from explorer.store.models import StoredTrace


def otlp(*trace_ids: str) -> bytes:
    """A small OTLP JSON document: per trace, a SERVER root and one failing child."""
    spans = []
    for n, trace_id in enumerate(trace_ids):
        base = 1_740_000_000_000_000_000 + n * 10**9
        spans += [
            {
                "traceId": trace_id,
                "spanId": f"{n:02x}00000000000001",
                "name": "GET /upload-me",
                "kind": 2,
                "startTimeUnixNano": str(base),
                "endTimeUnixNano": str(base + 5 * 10**6),
                "attributes": [{"key": "customer.id", "value": {"stringValue": "C-00999"}}],
            },
            {
                "traceId": trace_id,
                "spanId": f"{n:02x}00000000000002",
                "parentSpanId": f"{n:02x}00000000000001",
                "name": "SELECT orders",
                "kind": 3,
                "startTimeUnixNano": str(base + 10**6),
                "endTimeUnixNano": str(base + 3 * 10**6),
                "status": {"code": 2, "message": "timeout"},
            },
        ]
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": "shop-api"}}
                        ]
                    },
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
                }
            ]
        }
    ).encode()


def upload(client, data: bytes, name: str = "trace.json"):
    return client.post(reverse("web:upload"), {"file": SimpleUploadedFile(name, data)})


def test_good_file_is_shown_and_not_stored(client, login_as):
    login_as("support")
    assert client.get(reverse("web:upload")).status_code == 200
    trace_id = "11" * 16
    response = upload(client, otlp(trace_id))
    assert response.status_code == 302
    result = client.get(response["Location"])  # one trace: straight to its page
    assert result.status_code == 302
    page = client.get(result["Location"])
    body = page.content.decode()
    assert page.status_code == 200
    assert "Uploaded trace" in body and "GET /upload-me" in body and "is-error" in body
    details = client.get(result["Location"], {"span": "0000000000000001"}).content.decode()
    assert "C-00999" in details  # support sees customer ids
    assert not StoredTrace.objects.exists()
    rows = client.get(result["Location"] + "rows/", {"offset": 1}).json()
    assert rows["rows"] == [1] and "SELECT orders" in rows["html"]


def test_several_traces_are_listed_and_redacted(client, login_as):
    login_as("analyst")
    response = upload(client, otlp("22" * 16, "33" * 16))
    body = client.get(response["Location"]).content.decode()
    assert "22" * 16 in body and "33" * 16 in body
    key = response["Location"].split("/")[2]
    page = client.get(
        reverse("web:upload_trace", args=[key, "22" * 16]), {"span": "0000000000000001"}
    )
    assert "customer.id" in page.content.decode()
    assert "C-00999" not in page.content.decode()  # analysts see masked customer ids


def test_bad_file_says_what_is_wrong(client, login_as):
    login_as("support")
    response = upload(client, b'{"resourceSpans": [', "broken.json")
    assert response.status_code == 400
    body = response.content.decode()
    assert "broken.json" in body and 'role="alert"' in body


def test_oversize_file_is_refused(client, login_as, settings):
    settings.EXPLORER_UPLOAD_MAX_BYTES = 100
    login_as("support")
    response = upload(client, otlp("44" * 16))
    assert response.status_code == 413
    assert "the largest accepted is 100 bytes" in response.content.decode()


def test_an_upload_belongs_to_its_session(client, login_as, django_user_model):
    from django.test import Client

    login_as("support")
    location = upload(client, otlp("55" * 16))["Location"]
    other = Client()
    from accounts.testing import login_as as log_in

    log_in(other, "analyst")
    assert other.get(location).status_code == 404


def test_onboarding_may_not_upload(client, login_as):
    login_as("onboarding")
    assert client.get(reverse("web:upload")).status_code == 403
