"""Incoming Stripe webhooks: signature verification and parsing, no network."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dropline.domain.errors import AuthError, InvalidInput, InvalidSignature
from dropline.payments.stripe_webhooks import (
    StripeEvent,
    parse_stripe_event,
    sign_stripe_payload,
)

SECRET = "whsec_test_secret"


def _event(**object_fields: Any) -> dict[str, Any]:
    obj = {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 2500,
        "currency": "eur",
        "status": "requires_capture",
        **object_fields,
    }
    return {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.amount_capturable_updated",
        "created": 1_800_000_000,
        "data": {"object": obj},
    }


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def _signed(payload: bytes, *, secret: str = SECRET, at: int | None = None) -> str:
    return sign_stripe_payload(payload, secret, int(time.time()) if at is None else at)


def test_sign_follows_stripes_scheme() -> None:
    header = sign_stripe_payload(b'{"a":1}', "whsec_x", 1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    assert v1.startswith("v1=")
    assert len(v1) == len("v1=") + 64  # hex SHA-256


def test_good_signature_parses_payment_intent_event() -> None:
    payload = _body(_event())
    event = parse_stripe_event(payload, _signed(payload), SECRET)
    assert event == StripeEvent(
        id="evt_1",
        type="payment_intent.amount_capturable_updated",
        payment_intent_id="pi_123",
        status="requires_capture",
        amount=2500,
        currency="EUR",
        created=1_800_000_000,
    )


def test_charge_event_points_at_its_payment_intent() -> None:
    event = _event(id="ch_9", object="charge", payment_intent="pi_77", status="succeeded")
    event["type"] = "charge.refunded"
    payload = _body(event)
    parsed = parse_stripe_event(payload, _signed(payload), SECRET)
    assert parsed.payment_intent_id == "pi_77"
    assert parsed.type == "charge.refunded"


def test_header_with_several_signatures_accepts_the_matching_one() -> None:
    # Stripe sends one v1 per active secret while a secret is being rolled.
    payload = _body(_event())
    good = _signed(payload)
    t, v1 = good.split(",")
    header = f"{t},v1={'0' * 64},{v1}"
    assert parse_stripe_event(payload, header, SECRET).id == "evt_1"


def test_tampered_body_is_rejected() -> None:
    payload = _body(_event())
    header = _signed(payload)
    tampered = payload.replace(b"2500", b"1")
    with pytest.raises(InvalidSignature) as info:
        parse_stripe_event(tampered, header, SECRET)
    assert info.value.code == "invalid_signature"
    assert isinstance(info.value, AuthError)


def test_wrong_secret_is_rejected() -> None:
    payload = _body(_event())
    with pytest.raises(InvalidSignature):
        parse_stripe_event(payload, _signed(payload, secret="whsec_other"), SECRET)


def test_stale_timestamp_beyond_tolerance_is_rejected() -> None:
    payload = _body(_event())
    old = int(time.time()) - 301
    with pytest.raises(InvalidSignature):
        parse_stripe_event(payload, _signed(payload, at=old), SECRET, tolerance_s=300)


def test_timestamp_within_tolerance_is_accepted() -> None:
    payload = _body(_event())
    recent = int(time.time()) - 200
    assert parse_stripe_event(payload, _signed(payload, at=recent), SECRET).id == "evt_1"


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_rejected(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        parse_stripe_event(_body(_event()), header, SECRET)


@pytest.mark.parametrize("header", ["garbage", "t=notanumber,v1=abc", "t=1700000000"])
def test_unreadable_header_is_rejected(header: str) -> None:
    with pytest.raises(InvalidSignature):
        parse_stripe_event(_body(_event()), header, SECRET)


def test_malformed_json_with_valid_signature_is_invalid_input() -> None:
    payload = b'{"id": "evt_1", "type": '
    with pytest.raises(InvalidInput) as info:
        parse_stripe_event(payload, _signed(payload), SECRET)
    assert info.value.code == "validation_error"


def test_json_that_is_not_an_object_is_invalid_input() -> None:
    payload = b"[1, 2, 3]"
    with pytest.raises(InvalidInput):
        parse_stripe_event(payload, _signed(payload), SECRET)


def test_event_without_data_object_is_invalid_input() -> None:
    event = _event()
    del event["data"]
    payload = _body(event)
    with pytest.raises(InvalidInput):
        parse_stripe_event(payload, _signed(payload), SECRET)


def test_float_amount_is_invalid_input() -> None:
    payload = _body(_event(amount=25.0))
    with pytest.raises(InvalidInput):
        parse_stripe_event(payload, _signed(payload), SECRET)


def test_bad_signature_is_checked_before_the_body_is_read() -> None:
    # Unsigned junk must not get as far as the JSON parser.
    with pytest.raises(InvalidSignature):
        parse_stripe_event(b"not json", "t=1,v1=" + "0" * 64, SECRET)


@pytest.mark.parametrize(("secret", "tolerance"), [("", 300), (SECRET, 0)])
def test_misconfiguration_is_a_programming_error(secret: str, tolerance: int) -> None:
    payload = _body(_event())
    with pytest.raises(ValueError, match=r"secret|tolerance"):
        parse_stripe_event(payload, _signed(payload), secret, tolerance_s=tolerance)
