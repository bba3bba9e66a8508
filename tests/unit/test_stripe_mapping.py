"""How Stripe's PaymentIntent shapes map to dropline's PaymentResult (pure, no network)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe

from dropline.domain.errors import InvalidSignature, PaymentProviderError
from dropline.payments.stripe_provider import (
    StripeProvider,
    card_error_to_result,
    intent_to_result,
)
from dropline.payments.stripe_webhooks import sign_stripe_payload
from dropline.services.ports import PaymentStatus


def _intent(**fields: Any) -> dict[str, Any]:
    return {"id": "pi_1", "amount": 1999, "currency": "usd", **fields}


@pytest.mark.parametrize(
    ("stripe_status", "expected"),
    [
        ("requires_capture", PaymentStatus.AUTHORIZED),
        ("succeeded", PaymentStatus.CAPTURED),
        ("requires_action", PaymentStatus.REQUIRES_ACTION),
        ("requires_confirmation", PaymentStatus.REQUIRES_ACTION),
        ("canceled", PaymentStatus.VOIDED),
        ("requires_payment_method", PaymentStatus.DECLINED),
    ],
)
def test_status_mapping(stripe_status: str, expected: PaymentStatus) -> None:
    result = intent_to_result(_intent(status=stripe_status))
    assert result.status is expected
    assert (result.payment_id, result.amount, result.currency) == ("pi_1", 1999, "USD")


def test_requires_action_carries_next_action_and_client_secret() -> None:
    action = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
    result = intent_to_result(
        _intent(status="requires_action", next_action=action, client_secret="pi_1_secret_x")
    )
    assert result.next_action is not None
    assert result.next_action["type"] == "use_stripe_sdk"
    assert result.next_action["client_secret"] == "pi_1_secret_x"


def test_decline_after_attempt_reads_last_payment_error() -> None:
    error = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    result = intent_to_result(_intent(status="requires_payment_method", last_payment_error=error))
    assert result.status is PaymentStatus.DECLINED
    assert result.decline_code == "insufficient_funds"
    assert result.message == "Your card has insufficient funds."


def test_captured_with_refunds_is_refunded_with_the_cumulative_amount() -> None:
    charge = {"id": "ch_1", "amount": 1999, "amount_refunded": 500}
    result = intent_to_result(_intent(status="succeeded", latest_charge=charge))
    assert result.status is PaymentStatus.REFUNDED
    assert result.refunded_amount == 500


def test_captured_with_unexpanded_charge_is_captured() -> None:
    result = intent_to_result(_intent(status="succeeded", latest_charge="ch_1"))
    assert result.status is PaymentStatus.CAPTURED
    assert result.refunded_amount == 0


@pytest.mark.parametrize(
    "intent",
    [
        _intent(status="processing"),
        _intent(status=None),
        _intent(status="requires_capture", amount=19.99),
        _intent(status="requires_capture", amount=True),
        _intent(status="requires_capture", currency=None),
        {"status": "requires_capture", "amount": 1, "currency": "usd"},
    ],
)
def test_unusable_answers_raise_provider_error(intent: dict[str, Any]) -> None:
    with pytest.raises(PaymentProviderError):
        intent_to_result(intent)


def _card_error(body: dict[str, Any]) -> stripe.CardError:
    """A CardError as the SDK builds it from a 402 body."""
    details = body["error"]
    return stripe.CardError(  # type: ignore[no-untyped-call]
        details["message"], None, details["code"], json_body=body
    )


def test_card_error_uses_the_intent_stripe_puts_in_the_error() -> None:
    body = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": {"id": "pi_9", "amount": 700, "currency": "gbp"},
        }
    }
    error = _card_error(body)
    result = card_error_to_result(error, payment_id="", amount=1, currency="EUR")
    assert result.status is PaymentStatus.DECLINED
    assert (result.payment_id, result.amount, result.currency) == ("pi_9", 700, "GBP")
    assert result.decline_code == "insufficient_funds"
    assert result.message == "Your card has insufficient funds."


def test_card_error_without_intent_falls_back_to_the_request() -> None:
    body = {"error": {"type": "card_error", "code": "expired_card", "message": "Expired."}}
    error = _card_error(body)
    result = card_error_to_result(error, payment_id="", amount=1500, currency="eur")
    assert (result.payment_id, result.amount, result.currency) == ("", 1500, "EUR")
    assert result.decline_code == "expired_card"


async def test_provider_parses_webhooks_with_its_secret() -> None:
    payload = json.dumps(
        {
            "id": "evt_2",
            "type": "payment_intent.succeeded",
            "created": 1_800_000_000,
            "data": {"object": {"id": "pi_5", "object": "payment_intent", "status": "succeeded"}},
        }
    ).encode()
    header = sign_stripe_payload(payload, "whsec_p", int(time.time()))
    configured = StripeProvider("sk_test_x", webhook_secret="whsec_p")
    unconfigured = StripeProvider("sk_test_x")
    try:
        event = configured.parse_webhook(payload, header)
        assert (event.id, event.payment_intent_id, event.status) == ("evt_2", "pi_5", "succeeded")
        with pytest.raises(InvalidSignature):
            configured.parse_webhook(payload.replace(b"pi_5", b"pi_6"), header)
        # No secret: fail closed, as a server-side fault so Stripe retries later.
        with pytest.raises(PaymentProviderError):
            unconfigured.parse_webhook(payload, header)
    finally:
        await configured.close()
        await unconfigured.close()
