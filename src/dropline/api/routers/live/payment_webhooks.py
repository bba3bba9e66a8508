"""Incoming payment webhooks (no API key: the provider's signature is the credential)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dropline.api.deps import ContainerDep
from dropline.domain.errors import NotFound
from dropline.payments.stripe_webhooks import parse_stripe_event
from dropline.services.live.payment_webhooks import PaymentWebhookService, ProviderEvent

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _checkout_id(payload: bytes) -> str | None:
    """``data.object.metadata.checkout_id`` of an already verified event body."""
    try:
        body: Any = orjson.loads(payload)
        value = body["data"]["object"]["metadata"]["checkout_id"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


class StripeReceipt(BaseModel):
    received: bool
    event_id: str
    outcome: str
    duplicate: bool
    checkout_id: str | None
    order_id: str | None


@router.post(
    "/stripe",
    response_model=StripeReceipt,
    responses={
        400: {"description": "invalid_signature: missing, wrong or too old Stripe-Signature"},
        404: {"description": "Stripe webhooks are not configured on this server"},
        503: {
            "description": "the checkout is still being finished; Stripe retries later",
            "model": StripeReceipt,
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A Stripe event, exactly as Stripe sent it (the signature covers "
            "the raw bytes)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def stripe_webhook(
    request: Request,
    c: ContainerDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> JSONResponse:
    """Stripe's webhook endpoint (configure it in the Stripe dashboard with the events
    ``payment_intent.succeeded``, ``payment_intent.amount_capturable_updated`` and
    ``payment_intent.payment_failed``; its signing secret goes in
    ``DROPLINE_STRIPE_WEBHOOK_SECRET``).

    The body is verified with the ``Stripe-Signature`` header (bad or stale → 400
    ``invalid_signature``, nothing changes). Each event id is handled once; a repeat
    answers 200 with ``duplicate: true``. A payment that succeeded finishes its checkout
    (the order is written, or the payment voided/refunded when the units are gone); a
    failed one is recorded on the checkout."""
    secret = c.settings.stripe_webhook_secret
    if not secret:
        raise NotFound("Stripe webhooks are not configured (DROPLINE_STRIPE_WEBHOOK_SECRET)")
    payload = await request.body()
    event = parse_stripe_event(payload, stripe_signature, secret)
    service = PaymentWebhookService(c.uow, c.checkout, c.provider)
    result = await service.handle(
        ProviderEvent(
            "stripe", event.id, event.type, event.payment_intent_id, _checkout_id(payload)
        )
    )
    body = {
        "received": True,
        "event_id": event.id,
        "outcome": result.outcome,
        "duplicate": result.duplicate,
        "checkout_id": result.checkout_id,
        "order_id": result.order_id,
    }
    return JSONResponse(body, status_code=503 if result.retry else 200)
