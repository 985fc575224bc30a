"""Field-level redaction: pure functions on traces, text and mappings."""

import copy

import pytest

from accounts.redaction import (
    DEFAULT_CONFIG,
    SECRET_MASK,
    build_policy,
    is_pseudonym,
    policy_for_user,
    redact_mapping,
    redact_text,
    redact_trace,
)
from explorer.traces.model import Event, Link, Resource, SpanKind, Trace
from tests.trace_support import make_span

MASKED = build_policy({}, show_identifiers=False, pseudonym_key=b"test key")
SHOWN = build_policy({}, show_identifiers=True)
CARD = "4111 1111 1111 1111"  # Luhn-valid test number
C123 = MASKED.pseudonym("C-00123")


def order_trace() -> Trace:
    resource = Resource("shop-api", {"service.name": "shop-api", "customer.id": "C-00123"})
    span = make_span(
        "00f067aa0ba902b7",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        name="GET /customers/C-00123/orders",
        kind=SpanKind.SERVER,
        start_ns=1,
        end_ns=2,
        resource=resource,
        attributes={
            "order.id": "A-100042",
            "customer.id": "C-00123",
            "customer.type": "vip",
            "http.request.header.authorization": ["Bearer abc.def"],
            "db.password": 12345,
            "enduser.id": 77,
            "payload": {"card": f"paid with {CARD}", "nested": {"client_secret": "s3cr3t"}},
        },
        events=[
            Event(
                "mail sent to jane.doe@example.com",
                3,
                {
                    "order.state.new": "SUBMITTED",
                    "customer.id": "C-00123",
                    "note": "call +7 912 345-67-89",
                },
            )
        ],
        links=[Link("t2", "s2", {"customer.id": "C-00123"})],
        error=True,
        status_message="token=eyJhbGciOi.eyJzdWIiOi.sig for C-00123 failed",
    )
    return Trace(
        trace_id=span.trace_id,
        spans=[span, copy.copy(span)],
        warnings=["odd value C-00123 in span x"],
    )


def everything_in(trace: Trace) -> str:
    return repr(trace)


def test_masked_for_users_without_the_permission():
    original = order_trace()
    snapshot = repr(original)
    redacted = redact_trace(original, MASKED)
    text = everything_in(redacted)
    for secret in (
        "C-00123",
        "jane.doe",
        "912 345",
        "abc.def",
        "12345",
        "s3cr3t",
        "1111 1111 1111",
        "eyJhbGciOi",
    ):
        assert secret not in text, secret
    span = redacted.spans[0]
    assert span.attributes["customer.id"] == C123
    assert span.attributes["enduser.id"] == MASKED.pseudonym("77")
    assert span.name == f"GET /customers/{C123}/orders"
    assert span.attributes["order.id"] == "A-100042"  # not an identifier of a person
    assert span.attributes["http.request.header.authorization"] == SECRET_MASK
    assert span.attributes["payload"]["card"] == "paid with ••••1111"
    assert span.events[0].name == f"mail sent to {MASKED.pseudonym('jane.doe@example.com')}"
    assert span.resource.attributes["customer.id"] == C123
    assert span.links[0].attributes["customer.id"] == C123
    assert span.status_message.startswith("token=•••")
    assert redacted.warnings == [f"odd value {C123} in span x"]
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
    p998877 = policy.pseudonym("P-998877")
    assert redact_mapping({"partner.id": "P-998877", "customer.id": "C-00123"}, policy) == {
        "partner.id": p998877,
        "customer.id": "C-00123",
    }
    assert redact_text("partner P-998877", policy) == f"partner {p998877}"
    assert "customer.id" in DEFAULT_CONFIG["identifier_keys"]


def test_shapes_and_hostile_nesting():
    assert is_pseudonym(C123) and C123.startswith("cust-")
    deep = current = {}
    for _ in range(100):
        current["x"] = {}
        current = current["x"]
    redacted = redact_mapping(deep, MASKED)  # no RecursionError
    assert SECRET_MASK in repr(redacted)
    assert redact_mapping({"ids": ["C-00123", "C-00456"]}, MASKED) == {
        "ids": [C123, MASKED.pseudonym("C-00456")]
    }
    assert redact_mapping({"customer.id": ["C-00123", 5]}, MASKED) == {
        "customer.id": [C123, MASKED.pseudonym("5")]
    }
    # Bytes carry ids like strings (issue 26): redacted as their UTF-8 text; bytes that
    # hide nothing stay bytes.
    assert redact_mapping({"blob": b"\x00C-00123"}, MASKED) == {"blob": f"\u2400{C123}"}
    assert redact_mapping({"blob": b"\xff\x01"}, SHOWN) == {"blob": "\ufffd\u2401"}
    assert redact_mapping({"blob": b"plain"}, MASKED) == {"blob": b"plain"}


@pytest.mark.django_db
def test_policy_for_user_follows_the_permission():
    from accounts.testing import make_user

    assert policy_for_user(make_user("support")).show_identifiers
    assert not policy_for_user(make_user("onboarding")).show_identifiers
    assert not policy_for_user(make_user("analyst", username="a1")).show_identifiers
    granted = make_user("analyst", username="a2", extra_perms=["view_customer_ids"])
    assert policy_for_user(granted).show_identifiers


# --- issue 17: pseudonyms, linear time, identifiers everywhere, bidi ---------------------


def test_pseudonyms_are_stable_keyed_and_typed():
    other_key = build_policy({}, False, pseudonym_key=b"another key")
    assert MASKED.pseudonym("C-00123") == C123  # stable
    assert other_key.pseudonym("C-00123") != C123  # keyed: unknown without the secret
    assert MASKED.pseudonym("C-00124") != C123
    assert MASKED.pseudonym("Jane.Doe@Example.com").startswith("mail-")
    assert MASKED.pseudonym("+7 912 345-67-89") == MASKED.pseudonym("+79123456789")
    assert MASKED.pseudonym("+7 912 345-67-89").startswith("tel-")
    assert redact_text("call +7 912 345-67-89", MASKED) == (
        f"call {MASKED.pseudonym('+79123456789')}"
    )
    assert all(is_pseudonym(MASKED.pseudonym(v)) for v in ("C-1", "a@b.cd", "+12345678"))


@pytest.mark.parametrize(
    "text",
    [
        "file_C-00123_report.pdf",
        "xC-00123y",
        "7C-001230",
        "C-00123",
        "C-00123_",
    ],
)
def test_identifiers_glued_to_letters_digits_or_underscore_are_found(text):
    redacted = redact_text(text, MASKED)
    assert "C-00123" not in redacted and "cust-" in redacted


def test_keys_scope_names_and_link_ids_are_redacted():
    from explorer.traces.model import Scope

    span = order_trace().spans[0]
    span.attributes["C-00123.note"] = "x"
    span.scope = Scope("lib-for-C-00123", "1.0")
    span.links = [Link("C-00123", "span-C-00123", {})]
    redacted = redact_trace(Trace(span.trace_id, [span]), MASKED).spans[0]
    assert f"{C123}.note" in redacted.attributes and "C-00123.note" not in redacted.attributes
    assert redacted.scope.name == f"lib-for-{C123}"
    assert redacted.links[0].trace_id == C123 and "C-00123" not in redacted.links[0].span_id
    shown = redact_trace(Trace(span.trace_id, [span]), SHOWN).spans[0]
    assert "C-00123.note" in shown.attributes and shown.scope.name == "lib-for-C-00123"


def test_bidi_controls_are_neutralised_for_everyone():
    for policy in (MASKED, SHOWN):
        redacted = redact_text("invoice\u202efdp.exe \u2066x\u2069 \u200f", policy)
        assert not any(ch in redacted for ch in "\u202e\u2066\u2069\u200f")
        assert redacted.startswith("invoice\ufffd")


# --- issue 26: every type, every spelling of an id, control characters -----------------


@pytest.mark.parametrize(
    "text",
    ["C-00123", "c-00123", "C 00123", "SVC C 00123", "c_00123", "C00123", "order_c00123.pdf"],
)
def test_customer_ids_in_any_case_and_with_any_separator_are_one_pseudonym(text):
    redacted = redact_text(text, MASKED)
    assert "00123" not in redacted and C123 in redacted


def test_pseudonyms_of_other_values_are_keyed_as_written():
    # Only the default id shape is respelt: other identifier values keep case and separators.
    assert MASKED.pseudonym("user_Jane Doe") != MASKED.pseudonym("USERJANEDOE")
    assert MASKED.pseudonym("C-00123") == MASKED.pseudonym(" c00123 ")


@pytest.mark.parametrize(
    "text",
    [
        "4bf92f3577b34da6a3ce929d0e0e4736",  # hex ids: a "c" and digits inside a word
        "3c12345a",
        "c123456789abcdef",
        "sec 200 ms",
        "abc-123",
        f"see {C123}",  # a pseudonym is never pseudonymised again
        "cust-c012345678",
    ],
)
def test_lower_case_ids_need_a_word_start_and_no_letter_after(text):
    assert redact_text(text, MASKED) == text


def test_bytes_arrays_and_key_value_lists_are_redacted_at_every_depth():
    attributes = {
        "blob": b"cust C-00123",
        "list": ["x", b"C-00123", ["c 00123"]],
        "kv": {"inner": {"note": b"c00123"}, "customer.id": b"C-00123"},
        "customer.id": b"C-00123",
        "card": b"4111 1111 1111 1111",
    }
    redacted = redact_mapping(attributes, MASKED)
    assert "00123" not in repr(redacted)
    assert redacted["blob"] == f"cust {C123}" and redacted["customer.id"] == C123
    assert redacted["kv"]["customer.id"] == C123
    assert redact_mapping(attributes, SHOWN)["card"] == "••••1111"


def test_ids_are_pseudonymised_but_never_masked():
    from accounts.redaction import holds_identifier, redact_id

    card_like = "ab4111111111111111cd"  # a hex id with a Luhn-valid run of digits
    assert "••••" in redact_text(card_like, MASKED) and redact_id(card_like, MASKED) == card_like
    assert redact_id("order-c00123-t1", MASKED) == f"order-{C123}-t1"
    assert redact_id("order-c00123-t1", SHOWN) == "order-c00123-t1"
    assert redact_id("a\x1bb", SHOWN) == "a\u241bb"
    assert holds_identifier("order-C-00123", MASKED) and not holds_identifier(card_like, MASKED)
    assert not holds_identifier("order-C-00123", SHOWN)
    span = order_trace().spans[0]
    span.span_id, span.parent_id = "s-C-00123", "4111111111111111"
    redacted = redact_trace(Trace("t-C-00123", [span]), MASKED)
    assert redacted.trace_id == f"t-{C123}"
    assert redacted.spans[0].span_id == f"s-{C123}"
    assert redacted.spans[0].parent_id == "4111111111111111"


def test_control_characters_are_shown_as_symbols_for_everyone():
    for policy in (MASKED, SHOWN):
        shown = redact_text("a\x1b[31mb\x07c\x00d\x7fe\x9bf\tg\nh", policy)
        assert shown == "a\u241b[31mb\u2407c\u2400d\u2421e\ufffdf\tg\nh"


# Each of these made one pattern rescan a run from every starting position (quadratic: a
# 100,000-character span name ran for 28 minutes).
ADVERSARIAL = {
    "word run": "a" * 10,
    "dotted run": "a." * 5,
    "e-mail local part without a domain": "x" * 9 + "@",
    "secret word run": "token" * 2,
    "secret word without a value": "token" + " " * 20,
    "jwt starts": "eyJ-" * 3,
    "phone-like": "+1" + " 1" * 4,
    "id-like": "C-" * 5,
    "id-like, lower case with spaces": "c " * 5,
    "id-like, glued digits": "c1" * 5,
    "digits": "4" * 10,
    "at signs": "a@" * 5,
}


# Dense matches: each costs a replacement, so only linearity is asserted.
DENSE = {"secret pairs": "token= ", "e-mail addresses": "a.b@c.de ", "ids": "C-00123 "}


def _seconds(text: str, policy) -> float:
    import time

    # CPU time of this process: other processes on a busy machine do not count.
    best = float("inf")
    for _ in range(2):
        started = time.process_time()
        redact_text(text, policy)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_redaction_is_linear_on_one_megabyte(name):
    unit = ADVERSARIAL[name]
    small = unit * (100_000 // len(unit))
    large = unit * (1_000_000 // len(unit))
    for policy in (MASKED, SHOWN):
        small_time, large_time = _seconds(small, policy), _seconds(large, policy)
        assert large_time < 1.0, f"{name}: {large_time:.2f} s for 1 MB"
        # Linear: ten times the input, about ten times the time (quadratic would be 100).
        assert large_time < 30 * small_time + 0.05, (name, small_time, large_time)


@pytest.mark.parametrize("name", sorted(DENSE))
def test_redaction_of_dense_matches_is_linear(name):
    unit = DENSE[name]
    small_time = _seconds(unit * (100_000 // len(unit)), MASKED)
    large_time = _seconds(unit * (1_000_000 // len(unit)), MASKED)
    assert large_time < 30 * small_time + 0.05, (name, small_time, large_time)


def test_a_display_cap_cuts_after_redacting():
    import dataclasses

    capped = dataclasses.replace(MASKED, max_text=20)
    text = "x" * 15 + " token=eyJhbGciOi.eyJzdWIiOi.signature C-00123"
    shown = redact_text(text, capped)
    assert shown == redact_text(text, MASKED)[:20] + "…"
    assert "eyJ" not in shown and len(shown) == 21
    assert redact_text("short", capped) == "short"
