"""EXPLORER_BACKENDS parsing: every mistake is stopped with a message that says where."""

import json

import pytest

from explorer.sources.config import (
    BackendConfigError,
    backends_setting,
    config_for,
    parse_backends,
)


def parse(items, environ=None):
    return parse_backends(json.dumps(items), environ or {})


def test_default_is_the_embedded_store():
    options, default = backends_setting(None, None)
    assert options == {"embedded": {"kind": "store"}} and default == "embedded"


def test_full_backend(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    [config] = parse(
        [
            {
                "name": "tempo",
                "kind": "tempo",
                "url": "https://tempo.internal",
                "ca_bundle": str(ca),
                "token_env": "TEMPO_TOKEN",
                "timeout_read": 2.5,
                "retries": 1,
                "max_bytes": 1000,
            }
        ],
        {"TEMPO_TOKEN": "t0k"},
    )
    assert config.url == "https://tempo.internal/"  # always a base ending in /
    assert config.token == "t0k" and config.ca_bundle == str(ca)
    assert (config.timeout_read, config.retries, config.max_bytes) == (2.5, 1, 1000)
    assert config.api == "v2"
    assert "t0k" not in repr(config)


def test_jaeger_api_choice():
    [config] = parse([{"name": "j", "kind": "jaeger", "url": "http://j:16686", "api": "classic"}])
    assert config.api == "classic"
    assert config_for("j", {"kind": "jaeger", "url": "http://j:16686"}).api == "v3"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("not json", "not valid JSON"),
        ([], "non-empty JSON list"),
        ([{"kind": "store"}], r"EXPLORER_BACKENDS\[0\]: 'name' is missing"),
        ([{"name": "x", "kind": "elastic"}], "'kind' must be one of store, jaeger, tempo, zipkin"),
        ([{"name": "x", "kind": "tempo", "url": "ftp://t/"}], "must be an http"),
        ([{"name": "x", "kind": "tempo", "url": "http://u:p@t/"}], "no query, fragment or cred"),
        ([{"name": "x", "kind": "tempo", "url": "http://t/", "retries": -1}], "'retries' must"),
        ([{"name": "x", "kind": "tempo", "url": "http://t/", "timeout_read": "2"}], "timeout_read"),
        ([{"name": "x", "kind": "zipkin", "url": "http://t/", "api": "v3"}], "'api' for zipkin"),
        ([{"name": "x", "kind": "tempo", "url": "http://t/", "tokn": "a"}], "unknown key"),
        (
            [{"name": "x", "kind": "tempo", "url": "http://t/", "token_env": "NOPE"}],
            "environment variable NOPE",
        ),
        (
            [{"name": "x", "kind": "tempo", "url": "http://t/", "ca_bundle": "/no/such.pem"}],
            "does not exist",
        ),
        (
            [{"name": "x", "kind": "tempo", "url": "http://t/", "username": "u"}],
            "needs username and password",
        ),
        ([{"name": "x", "kind": "store"}, {"name": "x", "kind": "store"}], "used twice"),
    ],
)
def test_mistakes_are_reported(items, message):
    raw = items if isinstance(items, str) else json.dumps(items)
    with pytest.raises(BackendConfigError, match=message):
        parse_backends(raw, {})


def test_default_backend_must_exist():
    raw = json.dumps([{"name": "a", "kind": "store"}])
    with pytest.raises(BackendConfigError, match="EXPLORER_DEFAULT_BACKEND='b' names no backend"):
        backends_setting(raw, "b")
    assert backends_setting(raw, "a")[1] == "a"
