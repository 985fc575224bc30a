"""Issue 17 finding 7 and the Cache-Control rule: a body is refused by its declared size
before anything reads it; nothing the application answers is kept in a cache."""

import pytest
from django.test import Client

from accounts.testing import login_as

BOUNDARY = "xyz"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
TWO_GB = str(2 * 1024**3)


def small_multipart() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n'
        f'\r\n{"a" * 32}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="t.json"\r\nContent-Type: application/json\r\n\r\n{{}}\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()


@pytest.mark.django_db
def test_an_anonymous_huge_multipart_post_is_refused_before_it_is_read():
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32  # a self-chosen CSRF cookie
    # The body announces 2 GB but holds a few bytes: reading it (the CSRF check parsing the
    # form, the upload handlers spooling it to disk) would fail the test client's payload.
    response = client.generic(
        "POST", "/upload/", small_multipart(), content_type=MULTIPART, CONTENT_LENGTH=TWO_GB
    )
    assert response.status_code == 413
    assert response["Connection"] == "close"
    # An ordinary login form still passes.
    assert Client().post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 200


@pytest.mark.django_db
def test_a_verified_user_is_refused_past_the_upload_limit_before_reading(settings):
    client = Client()
    login_as(client, "analyst")
    settings.EXPLORER_MAX_BODY_BYTES = 10_000
    response = client.generic(
        "POST", "/upload/", small_multipart(), content_type=MULTIPART, CONTENT_LENGTH="10001"
    )
    assert response.status_code == 413


@pytest.mark.django_db
def test_pages_and_downloads_are_not_stored_by_caches(client):
    login_as(client, "administrator")
    for url in ("/accounts/audit/", "/accounts/audit.csv", "/accounts/login/", "/"):
        assert client.get(url)["Cache-Control"] == "no-store", url
