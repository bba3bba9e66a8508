"""Incoming payment-provider webhooks: finish checkouts from the provider's word.

A provider (Stripe) tells us about a payment asynchronously: a 3-D Secure step the buyer
finished in their browser, a payment that went through after our process crashed, a
failed attempt. Deliveries come at least once and in any order, so:

- the event is only a prompt: the payment is ``retrieve``d from the provider and the
  checkout is finished from that current state (``CheckoutService.complete_from_provider``,
  the same steps as a normal checkout), so a duplicate or a late, stale event changes
  nothing; when the buyer's confirm (or another delivery) is finishing the same
  checkout, only one of them claims it and captures, and the other answers with its
  order;
- an event handled once is remembered in ``processed_webhooks`` keyed on
  ``(source, event id)``, and a repeat is answered from there without doing anything.

The entrypoint verifies the signature first; nothing here trusts an unverified body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dropline.domain.errors import Conflict, LimitExceeded, NotFound, PaymentDeclined, SoldOut
from dropline.services.live.checkout import CheckoutService
from dropline.services.ports import PaymentProvider
from dropline.store.uow import UowFactory

log = logging.getLogger(__name__)

#: Event types that move a checkout; every other verified event is acknowledged only.
PAYMENT_EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.amount_capturable_updated",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.canceled",
    }
)


@dataclass(frozen=True)
class ProviderEvent:
    """A verified provider event: where it came from, its id and type, the payment it
    is about and, when the payment carried it in its metadata, our checkout id."""

    source: str
    id: str
    type: str
    payment_id: str | None
    checkout_id: str | None = None


@dataclass(frozen=True)
class WebhookOutcome:
    """What handling an event did. ``retry`` asks the provider to deliver it again
    later (the checkout was still being finished by the request that started it)."""

    outcome: str
    checkout_id: str | None = None
    order_id: str | None = None
    duplicate: bool = False
    retry: bool = False


class PaymentWebhookService:
    def __init__(
        self, uow: UowFactory, checkout: CheckoutService, provider: PaymentProvider
    ) -> None:
        self.uow = uow
        self.checkout = checkout
        self.provider = provider

    async def handle(self, event: ProviderEvent) -> WebhookOutcome:
        """Handle one verified event exactly once (see the module docstring).

        The event is recorded as processed only after its effect is committed, so a
        crash in between means one more (harmless) delivery, never a lost payment."""
        async with self.uow(readonly=True) as uow:
            previous = await uow.webhooks_in.seen(event.source, event.id)
        if previous is not None:
            return WebhookOutcome(previous, duplicate=True)
        result = await self._apply(event)
        if result.retry:
            return result
        async with self.uow() as uow:
            first = await uow.webhooks_in.record(event.source, event.id, event.type, result.outcome)
            await uow.commit()
        if not first:
            return WebhookOutcome(
                result.outcome, result.checkout_id, result.order_id, duplicate=True
            )
        return result

    async def _checkout_id(self, event: ProviderEvent) -> str | None:
        if event.checkout_id:
            return event.checkout_id
        if not event.payment_id:
            return None
        async with self.uow(readonly=True) as uow:
            return await uow.webhooks_in.checkout_for_payment(event.payment_id)

    async def _apply(self, event: ProviderEvent) -> WebhookOutcome:
        if event.type not in PAYMENT_EVENTS or not event.payment_id:
            return WebhookOutcome("ignored")
        checkout_id = await self._checkout_id(event)
        if checkout_id is None:
            return WebhookOutcome("unknown_checkout")
        try:
            payment = await self.provider.retrieve(event.payment_id)
            done = await self.checkout.complete_from_provider(checkout_id, payment)
        except NotFound:
            return WebhookOutcome("unknown_checkout", checkout_id)
        except PaymentDeclined:
            return WebhookOutcome("payment_failed", checkout_id)
        except SoldOut:
            current = await self.checkout.get(checkout_id)
            return WebhookOutcome(f"sold_out_{current.status.value}", checkout_id)
        except LimitExceeded:  # a late payment that would pass the buyer's limit
            current = await self.checkout.get(checkout_id)
            return WebhookOutcome(f"limit_exceeded_{current.status.value}", checkout_id)
        except Conflict as exc:
            log.warning("webhook %s for checkout %s: %s", event.id, checkout_id, exc.detail)
            return WebhookOutcome("mismatch", checkout_id)
        if done is None:
            return WebhookOutcome("in_progress", checkout_id, retry=True)
        return WebhookOutcome(
            done.checkout.status.value,
            checkout_id,
            done.order.id if done.order else done.checkout.order_id,
        )
