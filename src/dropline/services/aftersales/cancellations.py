"""Cancelling a paid order before it ships, with a full refund.

The buyer asked, the address is undeliverable, the payment looks fraudulent: the ops
lead cancels an order that is ``paid`` or ``handed_off`` (the warehouse has it but has
not shipped it). In one transaction the order becomes ``cancelled``, its units leave
``committed`` (a ``cancel`` movement) and go back to the drop's offer while the drop is
on sale (the live engine gets them too) or, once it has ended, on to ``available`` (an
``unoffer`` movement, as when the drop ended) — ``services.stock.ledger.give_back_units``,
the one path every cancellation takes — and ``order.cancelled`` tells the warehouse to
stop. Then the payment is refunded with the key ``<order id>:cancel`` and
the refund recorded (order ``refunded``, the buyer's ``refunded`` message). A crash or a
provider failure in between leaves the order ``cancelled`` with money still to refund;
``finish_refunds`` completes it.

Pre-orders, waiting for their units or ready with them, have their own cancellation
(``PreorderLifecycleService.cancel``: consent, notices and void-or-refund differ), which
gives units back by the same path; an order that has shipped is returned instead
(``services.returns``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dropline.domain.errors import (
    Conflict,
    DroplineError,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import MessageKind
from dropline.domain.ids import new_id
from dropline.domain.live.orders import OrderStatus
from dropline.domain.money import Money
from dropline.services.fulfilment.messages import MessageService
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, PaymentProvider, StockEngine
from dropline.services.stock.ledger import give_back_units
from dropline.store.live.order_records import OrderRecord
from dropline.store.uow import UowFactory

log = logging.getLogger(__name__)

CANCELLABLE = frozenset({OrderStatus.PAID, OrderStatus.HANDED_OFF})
MAX_REASON = 500
RETRY_AFTER_S = 60
FAILED = " (refund failed: "


class CancellationService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        provider: PaymentProvider,
        clock: Clock,
        messages: MessageService,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.provider = provider
        self.clock = clock
        self.messages = messages
        self._on_change = on_change

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def cancel(self, order_id: str, *, reason: str, by: str = "") -> OrderRecord:
        """Cancel an unshipped order and refund it in full; returns the order as it ends.

        Raises ``NotFound``; ``InvalidInput`` without a reason; ``InvalidTransition``
        when the order has shipped (return it instead) or is already refunded;
        ``Conflict`` for a pre-order. Calling it again for an order cancelled but not
        yet refunded finishes the refund. A refund the provider refuses leaves the
        order ``cancelled`` with the failure in its reason, for the sweep to retry."""
        reason, by = reason.strip(), by[:120]
        if not reason or len(reason) > MAX_REASON:
            raise InvalidInput(
                f"a cancellation needs a reason of 1 to {MAX_REASON} characters", field="reason"
            )
        async with self.uow() as uow:
            order = await uow.orders.get_order(order_id)
            if order is None:
                raise NotFound(f"order {order_id} not found", order_id=order_id)
            preorder = await uow.production.preorder(order_id)
            if preorder is not None and order.status is not OrderStatus.CANCELLED:
                raise Conflict(
                    "this is a pre-order: cancel it with POST /v1/preorders/{id}/cancel, "
                    "which also gives its production units back",
                    order_id=order_id,
                )
            pending = order.status is OrderStatus.CANCELLED and preorder is None
            if not pending:
                if order.status not in CANCELLABLE:
                    hint = (
                        "it has left the warehouse: return it instead"
                        if order.status
                        in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.EXCEPTION)
                        else "it is already closed"
                    )
                    raise InvalidTransition(
                        f"an order that is {order.status} cannot be cancelled; {hint}",
                        current=order.status.value,
                        target=OrderStatus.CANCELLED.value,
                    )
                back = await give_back_units(uow, order_id, order.drop_id, {}, by, order.buyer_id)
                await uow.orders.set_order_status(order, OrderStatus.CANCELLED, reason)
                uow.record(
                    DomainEvent(
                        "order.cancelled",
                        "order",
                        order_id,
                        order.version + 1,
                        {
                            "id": order_id,
                            "drop_id": order.drop_id,
                            "status": OrderStatus.CANCELLED.value,
                            "previous_status": order.status.value,
                            "reason": reason,
                            "by": by,
                            "units": back.units,
                        },
                    )
                )
                await uow.commit()
                await back.offer_again(self.engine)
                if self._on_change is not None:
                    self._on_change(back.drop_id)
        return await self._finish_refund(order_id)

    async def _finish_refund(self, order_id: str) -> OrderRecord:
        async with self.uow(readonly=True) as uow:
            order = await uow.orders.get_order(order_id)
        assert order is not None
        left = order.total_amount - order.refunded_amount
        if order.status is not OrderStatus.CANCELLED:
            return order
        if left > 0:
            try:
                await self.provider.refund(
                    order.payment_id, idempotency_key=f"{order_id}:cancel", amount=left
                )
                metrics().refunds.labels("cancel").inc()
            except DroplineError as exc:
                # The cancellation stands; the reason says why the money has not moved
                # yet, and the sweep retries.
                log.warning("refund of cancelled order %s failed: %s", order_id, exc)
                async with self.uow() as uow:
                    fresh = await uow.orders.get_order(order_id)
                    assert fresh is not None
                    if fresh.status is OrderStatus.CANCELLED:
                        base = fresh.status_reason.split(FAILED)[0]
                        note = f"{base}{FAILED}{str(exc)[:MAX_REASON]})"
                        await uow.orders.set_order_status(fresh, OrderStatus.CANCELLED, note)
                        await uow.commit()
                    order = await uow.orders.get_order(order_id) or fresh
                return order
        async with self.uow() as uow:
            fresh = await uow.orders.get_order(order_id)
            assert fresh is not None
            if fresh.status is not OrderStatus.CANCELLED:
                await uow.rollback()
                return fresh
            reason = fresh.status_reason.split(FAILED)[0]
            await uow.orders.set_order_status(
                fresh, OrderStatus.REFUNDED, reason, refunded_amount=fresh.total_amount
            )
            event_id = new_id("evt")
            uow.record(
                DomainEvent(
                    "order.refunded",
                    "order",
                    order_id,
                    fresh.version + 1,
                    {
                        "id": order_id,
                        "drop_id": fresh.drop_id,
                        "status": OrderStatus.REFUNDED.value,
                        "amount": left,
                        "currency": fresh.currency,
                        "reason": reason,
                    },
                    id=event_id,
                )
            )
            done = await uow.orders.get_order(order_id)
            assert done is not None
            await self.messages.queue(
                uow,
                MessageKind.REFUNDED,
                done,
                event_id,
                refund_amount=Money(left, fresh.currency).format(),
            )
            await uow.commit()
        return done

    async def finish_refunds(self) -> list[str]:
        """Refund every order cancelled here whose refund was not recorded (a crash or a
        provider failure after the cancellation), each at most once a minute. Pre-orders
        are left to their own sweep."""
        settled = self._now() - timedelta(seconds=RETRY_AFTER_S)
        async with self.uow(readonly=True) as uow:
            due = [
                o
                for o in await uow.orders.list_orders(
                    status=OrderStatus.CANCELLED.value, limit=500, rehearsals=True
                )
                if o.updated_at <= settled and await uow.production.preorder(o.id) is None
            ]
        done = []
        for o in due:
            after = await self._finish_refund(o.id)
            if after.status is OrderStatus.REFUNDED:
                done.append(o.id)
        return done
