"""Issue 17 findings 2 and 6: an upload is parsed as it is read into a bounded, expiring store
on disk (not process memory) with a per-user quota; a gzip bomb stops at the limits."""

import gzip
import json
import os
import time

import pytest
from django.urls import reverse

from explorer.web.upload_store import INDEX, PACK, usage
from tests.test_security_decompression import bomb
from tests.test_web_uploads import otlp, upload


@pytest.fixture
def upload_dir(tmp_path, settings):
    settings.EXPLORER_UPLOAD_DIR = str(tmp_path / "uploads")
    return tmp_path / "uploads"


def key_of(response) -> str:
    return response["Location"].split("/")[2]


def test_a_gzip_bomb_upload_is_refused_with_the_limit(client, login_as, upload_dir, settings):
    settings.EXPLORER_INFLATE_MAX_RATIO = 100
    login_as("support")
    response = upload(client, bomb(100_000_000), "bomb.json.gz")  # ~100 KB of gzip
    assert response.status_code == 400
    assert "100 times its compressed size" in response.content.decode()
    assert not any(p.is_file() for p in upload_dir.rglob("*"))  # nothing kept


def test_traces_are_kept_on_disk_in_one_pack(client, login_as, upload_dir):
    user = login_as("support")
    lines = b"\n".join(otlp(f"{n:032x}") for n in range(1, 31))  # JSON lines, gzip
    response = upload(client, gzip.compress(lines), "many.jsonl.gz")
    assert response.status_code == 302
    key = key_of(response)
    folder = upload_dir / str(user.pk) / key
    # Not a file per trace (issue 26 finding 5); the file itself is not kept.
    assert {p.name for p in folder.iterdir()} == {INDEX, PACK}
    listing = client.get(response["Location"]).content.decode()
    assert f"{7:032x}" in listing
    page = client.get(reverse("web:upload_trace", args=[key, f"{7:032x}"]))
    assert page.status_code == 200 and "GET /upload-me" in page.content.decode()


def test_uploads_expire(client, login_as, upload_dir, settings):
    user = login_as("support")
    response = upload(client, otlp("66" * 16))
    key = key_of(response)
    folder = upload_dir / str(user.pk) / key
    old = time.time() - settings.EXPLORER_UPLOAD_SECONDS - 5
    os.utime(folder, (old, old))
    gone = client.get(reverse("web:upload_trace", args=[key, "66" * 16]))
    assert gone.status_code == 404
    assert not folder.exists()


def test_the_per_user_quota_drops_older_uploads_and_refuses_one_too_big(
    client, login_as, upload_dir, settings
):
    user = login_as("support")
    first = key_of(upload(client, otlp("77" * 16)))
    one_upload = usage(upload_dir / str(user.pk))  # in blocks, as the quota counts
    settings.EXPLORER_UPLOAD_QUOTA_BYTES = int(one_upload * 1.5) + len(otlp("88" * 16))
    second = key_of(upload(client, otlp("88" * 16)))
    kept = {p.name for p in (upload_dir / str(user.pk)).iterdir()}
    assert kept == {second}  # the older one made room
    assert client.get(reverse("web:upload_result", args=[first])).status_code == 404
    settings.EXPLORER_UPLOAD_QUOTA_BYTES = 1000
    big = json.dumps(json.loads(otlp(*[f"{n:032x}" for n in range(1, 20)]))).encode()
    response = upload(client, big, "big.json")
    assert response.status_code == 413
    assert "of uploads kept per user" in response.content.decode()
