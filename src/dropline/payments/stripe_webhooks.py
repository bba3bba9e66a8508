"""Incoming Stripe webhooks: verify the signature with the SDK, keep the few fields we use.

``parse_stripe_event`` does no I/O (no network, no database) so the API layer can call it
on the raw request body, then dedupe on ``StripeEvent.id`` and process it in its own
transaction. Stripe delivers at least once and in any order: treat an event as a prompt
to ``retrieve`` the payment, not as the payment's final state.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from dropline.domain.errors import InvalidInput, InvalidSignature


@dataclass(frozen=True)
class StripeEvent:
    """The parts of a Stripe event dropline acts on.

    ``payment_intent_id`` is the intent itself for ``payment_intent.*`` events and the
    intent a charge or refund belongs to for ``charge.*``/``refund.*`` events (None when
    the object has none). ``status``, ``amount`` and ``currency`` are the event object's
    own (Stripe's status word; integer minor units; upper-case ISO 4217 currency).
    ``created`` is the event's UTC epoch seconds.
    """

    id: str
    type: str
    payment_intent_id: str | None
    status: str | None
    amount: int | None
    currency: str | None
    created: int


def sign_stripe_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """Build a ``Stripe-Signature`` header value the way Stripe does, for tests.

    Stripe's scheme: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with
    the endpoint secret>``.
    """
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _optional_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"Stripe event field {key!r} is not a string", field=key)
    return value


def _payment_intent_id(obj: Mapping[str, Any]) -> str | None:
    if obj.get("object") == "payment_intent":
        return _optional_str(obj, "id")
    ref = obj.get("payment_intent")
    if isinstance(ref, Mapping):  # expanded
        return _optional_str(ref, "id")
    return _optional_str(obj, "payment_intent")


def parse_stripe_event(
    payload: bytes,
    signature_header: str | None,
    secret: str,
    tolerance_s: int = 300,
) -> StripeEvent:
    """Verify ``payload`` against its ``Stripe-Signature`` header and parse it.

    Raises ``InvalidSignature`` when the header is missing or unreadable, no signature
    matches ``secret``, or its timestamp is more than ``tolerance_s`` seconds old (replay
    protection; Stripe's SDK does the check, the default matches Stripe's 5 minutes).
    Raises ``InvalidInput`` when a correctly signed body is not a Stripe event (not UTF-8,
    not JSON, fields missing or of the wrong type). An empty ``secret`` or a non-positive
    ``tolerance_s`` is a configuration bug and raises ``ValueError``.
    """
    if not secret:
        raise ValueError("a Stripe webhook secret is required")
    if tolerance_s <= 0:
        raise ValueError("tolerance_s must be positive (0 would disable replay protection)")
    if not signature_header:
        raise InvalidSignature("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=tolerance_s
        )
    except stripe.SignatureVerificationError as e:
        raise InvalidSignature(f"Stripe signature rejected: {e.user_message}") from e
    except (ValueError, TypeError, AttributeError) as e:
        # ValueError: not UTF-8 / not JSON; Type/AttributeError: JSON but not an object.
        raise InvalidInput(f"Stripe webhook body is not an event: {e}") from e

    data = event.to_dict()
    event_id = data.get("id")
    event_type = data.get("type")
    created = data.get("created")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidInput("Stripe event has no id", field="id")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidInput("Stripe event has no type", field="type")
    if not isinstance(created, int) or isinstance(created, bool):
        raise InvalidInput("Stripe event has no created time", field="created")
    body = data.get("data")
    obj = body.get("object") if isinstance(body, Mapping) else None
    if not isinstance(obj, Mapping):
        raise InvalidInput("Stripe event has no data.object", field="data.object")

    amount = obj.get("amount")
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
        raise InvalidInput("Stripe event amount is not an integer", field="amount")
    currency = _optional_str(obj, "currency")
    return StripeEvent(
        id=event_id,
        type=event_type,
        payment_intent_id=_payment_intent_id(obj),
        status=_optional_str(obj, "status"),
        amount=amount,
        currency=currency.upper() if currency else None,
        created=created,
    )
