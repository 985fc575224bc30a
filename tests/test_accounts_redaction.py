"""Field-level redaction: pure functions on traces, text and mappings."""

import copy

import pytest

from accounts.redaction import (
    DEFAULT_CONFIG,
    SECRET_MASK,
    build_policy,
    mask_identifier,
    policy_for_user,
    redact_mapping,
    redact_text,
    redact_trace,
)
from explorer.traces.model import Event, Link, Resource, Span, SpanKind, StatusCode, Trace

MASKED = build_policy({}, show_identifiers=False)
SHOWN = build_policy({}, show_identifiers=True)
CARD = "4111 1111 1111 1111"  # Luhn-valid test number


def order_trace() -> Trace:
    resource = Resource("shop-api", {"service.name": "shop-api", "customer.id": "C-00123"})
    span = Span(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7", parent_id=None,
        name="GET /customers/C-00123/orders", kind=SpanKind.SERVER, start_ns=1, end_ns=2,
        resource=resource,
        attributes={
            "order.id": "A-100042", "customer.id": "C-00123", "customer.type": "vip",
            "http.request.header.authorization": ["Bearer abc.def"],
            "db.password": 12345, "enduser.id": 77,
            "payload": {"card": f"paid with {CARD}", "nested": {"client_secret": "s3cr3t"}},
        },
        events=[Event("mail sent to jane.doe@example.com", 3,
                      {"order.state.new": "SUBMITTED", "customer.id": "C-00123",
                       "note": "call +7 912 345-67-89"})],
        links=[Link("t2", "s2", {"customer.id": "C-00123"})],
        status_code=StatusCode.ERROR,
        status_message="token=eyJhbGciOi.eyJzdWIiOi.sig for C-00123 failed",
    )
    return Trace(trace_id=span.trace_id, spans=[span, copy.copy(span)],
                 warnings=["odd value C-00123 in span x"])


def everything_in(trace: Trace) -> str:
    return repr(trace)


def test_masked_for_users_without_the_permission():
    original = order_trace()
    snapshot = repr(original)
    redacted = redact_trace(original, MASKED)
    text = everything_in(redacted)
    for secret in ("C-00123", "jane.doe", "912 345", "abc.def", "12345", "s3cr3t",
                   "1111 1111 1111", "eyJhbGciOi"):
        assert secret not in text, secret
    span = redacted.spans[0]
    assert span.attributes["customer.id"] == "C-0…23"
    assert span.attributes["enduser.id"] == SECRET_MASK  # too short to keep a shape
    assert span.name == "GET /customers/C-0…23/orders"
    assert span.attributes["order.id"] == "A-100042"  # not an identifier of a person
    assert span.attributes["http.request.header.authorization"] == SECRET_MASK
    assert span.attributes["payload"]["card"] == "paid with ••••1111"
    assert span.events[0].name == "mail sent to j•••@example.com"
    assert span.resource.attributes["customer.id"] == "C-0…23"
    assert span.links[0].attributes["customer.id"] == "C-0…23"
    assert span.status_message.startswith("token=•••")
    assert redacted.warnings == ["odd value C-0…23 in span x"]
    assert repr(original) == snapshot  # the input is untouched
    assert redacted.spans[0].resource is redacted.spans[1].resource  # shared, redacted once


def test_customer_ids_visible_with_the_permission_secrets_never():
    span = redact_trace(order_trace(), SHOWN).spans[0]
    assert span.attributes["customer.id"] == "C-00123"
    assert span.name == "GET /customers/C-00123/orders"
    assert "jane.doe@example.com" in span.events[0].name
    assert span.attributes["db.password"] == SECRET_MASK
    assert span.attributes["payload"]["nested"]["client_secret"] == SECRET_MASK
    assert span.attributes["payload"]["card"] == "paid with ••••1111"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer eyJx.eyJy.zz", "Authorization: •••"),
        ("GET /cb?code=1&access_token=abc123&x=1", "GET /cb?code=1&access_token=•••&x=1"),
        ('{"password": "hunter2"}', '{"password": "•••"}'),
        ("card 4111-1111-1111-1111 ok", "card ••••1111 ok"),
        ("not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112"),
        ("trace 4bf92f3577b34da6a3ce929d0e0e4736", "trace 4bf92f3577b34da6a3ce929d0e0e4736"),
        ("order A-100042 took 1234567 ms", "order A-100042 took 1234567 ms"),
    ],
)
def test_text_patterns(text, expected):
    assert redact_text(text, SHOWN) == expected


def test_identifier_patterns_and_keys_are_configurable():
    policy = build_policy(
        {"identifier_keys": ["partner.id"], "identifier_patterns": [r"\bP-\d+\b"]}, False
    )
    assert redact_mapping({"partner.id": "P-998877", "customer.id": "C-00123"}, policy) == {
        "partner.id": "P-9…77", "customer.id": "C-00123"
    }
    assert redact_text("partner P-998877", policy) == "partner P-9…77"
    assert "customer.id" in DEFAULT_CONFIG["identifier_keys"]


def test_shapes_and_hostile_nesting():
    assert mask_identifier("C-00123") == "C-0…23"
    assert mask_identifier("C-1") == SECRET_MASK
    deep = current = {}
    for _ in range(100):
        current["x"] = {}
        current = current["x"]
    redacted = redact_mapping(deep, MASKED)  # no RecursionError
    assert SECRET_MASK in repr(redacted)
    assert redact_mapping({"ids": ["C-00123", "C-00456"]}, MASKED) == {
        "ids": ["C-0…23", "C-0…56"]
    }
    assert redact_mapping({"customer.id": ["C-00123", 5]}, MASKED) == {
        "customer.id": ["C-0…23", SECRET_MASK]
    }
    assert redact_mapping({"blob": b"\x00C-00123"}, MASKED) == {"blob": b"\x00C-00123"}


@pytest.mark.django_db
def test_policy_for_user_follows_the_permission():
    from accounts.testing import make_user

    assert policy_for_user(make_user("support")).show_identifiers
    assert not policy_for_user(make_user("onboarding")).show_identifiers
    assert not policy_for_user(make_user("analyst", username="a1")).show_identifiers
    granted = make_user("analyst", username="a2", extra_perms=["view_customer_ids"])
    assert policy_for_user(granted).show_identifiers
