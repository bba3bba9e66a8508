"""Pre-orders after the sale: ship-date changes and delay notices, the buyer's consent,
cancel and refund, the consent deadlines, capturing authorisations, shipping.

The delay rule (mail-order rule logic, ``domain.supply.production``) runs per order when
the run's estimate changes (``reestimate``): a first definite delay of at most 30 days
relies on silence; a longer or indefinite one, and any renewed delay of a date already
revised, needs the buyer's express consent (``consent``, from the signed link in the
notice) by the date in force, else ``process_deadlines`` cancels and refunds the order
in full then. The same sweep cancels and refunds a waiting order whose promised date
simply passed. Every delay notice is also a buyer message (``preorder_delayed``).

A cancellation (waiting or ready, never shipped) gives the units back by the one path
every cancellation takes (``services.stock.ledger.give_back_units``). It and its refund
are separate steps with a stable idempotency key per order, so a crash in between is
finished by ``process_deadlines``. An authorised (not yet captured) payment is captured
when the pre-order ships, or ``CAPTURE_MARGIN_S`` before the authorisation would lapse
(``capture_expiring``). Shipping is two steps shared by the ops route and the
warehouse's ``shipped`` update (``before_shipping`` captures, ``shipped`` marks it
inside the transaction that ships the order), so either path ships it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.errors import Conflict, InvalidTransition, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import UNSHIPPED, MessageKind
from dropline.domain.ids import new_id
from dropline.domain.live.orders import OrderStatus
from dropline.domain.money import Money
from dropline.domain.supply.production import (
    CANCELLABLE,
    Consent,
    PreorderStatus,
    classify_delay,
    promise_lapsed,
    renews_a_delay,
)
from dropline.services.fulfilment.messages import MessageService, format_time
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, PaymentProvider, StockEngine
from dropline.services.serialize import rfc3339
from dropline.services.stock.ledger import give_back_units, ship_order_units
from dropline.services.supply.preorder_links import PreorderLinks
from dropline.services.supply.preorders import (
    PreorderService,
    estimate_dict,
    notice_payload,
    run_estimate,
)
from dropline.store.supply.preorders_repo import PreorderRecord
from dropline.store.uow import UnitOfWork, UowFactory

#: Order statuses of an order that has left the warehouse.
SHIPPED = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.EXCEPTION})
#: Capture an authorisation this long before it lapses rather than lose the payment.
CAPTURE_MARGIN_S = 24 * 3600


class PreorderLifecycleService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        provider: PaymentProvider,
        clock: Clock,
        preorders: PreorderService,
        links: PreorderLinks,
        messages: MessageService,
        *,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.provider = provider
        self.clock = clock
        self.preorders = preorders
        self.links = links
        self.messages = messages
        self._on_change = on_change

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def invalidate_run(self, run_id: str) -> None:
        """Tell the catalog cache that estimates changed (it reloads on next use)."""
        if self._on_change is not None:
            self._on_change(run_id)

    # ------------------------------------------------------------------ estimates and delays
    async def reestimate(self, uow: UnitOfWork, run_id: str, *, reason: str) -> int:
        """Inside the milestone change's transaction: recompute the run's estimate and
        tell every waiting buyer. Returns how many orders got a delay notice.

        Mail-order rule logic per order (``classify_delay``): a first definite delay of
        at most 30 days relies on silence (the new date becomes the promise); a longer
        or indefinite one, or any renewed delay (the buyer was already told of one),
        needs express consent by the date in force (the original date for a first
        delay, the last revised date for a renewed one; a deadline already running
        stays), else the order is cancelled and refunded then (``process_deadlines``).
        Each delay notice is an event, a notice row and a buyer message."""
        estimate = await run_estimate(uow, run_id)
        waiting = await uow.production.list_preorders(
            run_id=run_id, status=PreorderStatus.WAITING.value, lock=True
        )
        uow.record(
            DomainEvent(
                "preorder.ship_date_changed",
                "run",
                run_id,
                1,
                {
                    "run_id": run_id,
                    "ship_estimate": estimate_dict(estimate),
                    "reason": reason,
                    "affected_orders": [p.order_id for p in waiting],
                },
            )
        )
        delayed = 0
        for p in waiting:
            if (p.estimate_earliest, p.estimate_latest) == (estimate.earliest, estimate.latest):
                continue  # e.g. the actual intake date equals the planned one: nothing to tell
            decision = classify_delay(
                p.promised_ship_by, estimate, renewed=renews_a_delay(p.consent)
            )
            values: dict[str, Any] = {
                "estimate_earliest": estimate.earliest,
                "estimate_latest": estimate.latest,
            }
            lines = {s: q for s, (q, _) in p.lines.items()}
            payload = notice_payload(p.order_id, p.buyer_id, p.drop_id, p.run_id, lines)
            payload["cancel_url"] = self.links.link(p.order_id, "cancel")
            payload |= {
                "ship_estimate": estimate_dict(estimate),
                "previous_ship_by": rfc3339(p.promised_ship_by),
                "reason": reason,
            }
            if not decision.delayed:
                if p.consent == Consent.REQUIRED.value and estimate.latest is not None:
                    # Back within the original promise: no consent needed any more.
                    values |= {"consent": Consent.NOT_NEEDED.value, "consent_deadline": None}
                await uow.production.update_preorder(p, **values)
                await uow.production.add_notice(p.order_id, "ship_date_changed", payload)
                uow.record(
                    DomainEvent("preorder.order_ship_date_changed", "order", p.order_id, 1, payload)
                )
                continue
            delayed += 1
            payload |= {
                "delay_days": decision.days,
                "consent": decision.consent.value,
                "renewed": decision.renewed,
            }
            if decision.consent is Consent.SILENT:
                values |= {
                    "promised_ship_by": estimate.latest,
                    "consent": Consent.SILENT.value,
                    "consent_deadline": None,
                }
            else:
                deadline = p.consent_deadline or p.promised_ship_by
                values |= {"consent": Consent.REQUIRED.value, "consent_deadline": deadline}
                payload |= {
                    "consent_deadline": rfc3339(deadline),
                    "consent_url": self.links.link(p.order_id, "consent"),
                    "without_consent": "cancelled and refunded in full on the consent deadline",
                }
            await uow.production.update_preorder(p, **values)
            await uow.production.add_notice(p.order_id, "delay_notice", payload)
            event_id = new_id("evt")
            uow.record(
                DomainEvent("preorder.delay_notice", "order", p.order_id, 1, payload, id=event_id)
            )
            order = await uow.orders.get_order(p.order_id)
            assert order is not None
            await self.messages.queue(
                uow,
                MessageKind.PREORDER_DELAYED,
                order,
                event_id,
                reason=reason,
                preorder={
                    "previous_ship_by": format_time(p.promised_ship_by),
                    "new_ship_by": format_time(estimate.latest) if estimate.known else None,
                    "delay_days": decision.days,
                    "consent_required": decision.consent is Consent.REQUIRED,
                    "renewed": decision.renewed,
                    "consent_deadline": format_time(values.get("consent_deadline")),
                    "consent_url": payload.get("consent_url", ""),
                    "cancel_url": payload["cancel_url"],
                },
            )
        return delayed

    async def consent(self, order_id: str, *, via: str = "link") -> PreorderRecord:
        """The buyer accepts a long or indefinite delay: the new estimate becomes the
        promise and the automatic cancellation is called off."""
        async with self.uow() as uow:
            p = await uow.production.preorder(order_id, lock=True)
            if p is None:
                raise NotFound(f"pre-order {order_id} not found")
            if p.status != PreorderStatus.WAITING.value or p.consent != Consent.REQUIRED.value:
                raise Conflict("this order is not waiting for consent", status=p.status)
            await uow.production.update_preorder(
                p,
                consent=Consent.GIVEN.value,
                consent_deadline=None,
                promised_ship_by=p.estimate_latest,
            )
            payload: dict[str, Any] = {"order_id": order_id, "buyer_id": p.buyer_id, "via": via}
            payload |= {"new_ship_by": rfc3339(p.estimate_latest)}
            await uow.production.add_notice(order_id, "consent_given", payload)
            uow.record(DomainEvent("preorder.consent_given", "order", order_id, 1, payload))
            await uow.commit()
        return await self.preorders.get(order_id)

    async def cancel(self, order_id: str, *, reason: str, by: str) -> PreorderRecord:
        """Cancel a pre-order that has not shipped and refund it in full (void an
        authorisation): one still waiting for its units, or one ready with them
        allocated (the warehouse may already have it).

        Step 1 (one transaction) marks it cancelled, gives every unit back by the one
        path every cancellation takes (``give_back_units``: allocated lot units to
        ``available``, in-stock units to the drop's offer or, once it ended, to
        ``available``, the pre-order quantities to the drop's cap) and records
        ``order.cancelled`` so the warehouse stops; step 2 calls the provider with a
        stable idempotency key; step 3 records the refund. A crash between steps is
        finished by ``process_deadlines``. Raises ``NotFound``, or
        ``InvalidTransition`` once the order has shipped (return it instead)."""
        now = self._now()
        async with self.uow() as uow:
            p = await uow.production.preorder(order_id, lock=True)
            if p is None:
                raise NotFound(f"pre-order {order_id} not found")
            if p.status == PreorderStatus.CANCELLED.value:
                await uow.rollback()
                return await self._finish_refund(order_id)
            order = await uow.orders.get_order(order_id)
            assert order is not None
            if PreorderStatus(p.status) not in CANCELLABLE or order.status not in UNSHIPPED:
                left = p.status == PreorderStatus.SHIPPED.value or order.status in SHIPPED
                raise InvalidTransition(
                    "this pre-order cannot be cancelled; "
                    + ("it has shipped: return it instead" if left else f"it is {order.status}"),
                    status=p.status,
                    current=order.status.value,
                    target=OrderStatus.CANCELLED.value,
                )
            back = await give_back_units(
                uow, order_id, p.drop_id, {s: q for s, (q, _) in p.lines.items()}, by, p.buyer_id
            )
            await uow.production.update_preorder(
                p, status=PreorderStatus.CANCELLED.value, cancelled_at=now
            )
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
            payload = {
                "order_id": order_id,
                "buyer_id": p.buyer_id,
                "drop_id": p.drop_id,
                "reason": reason,
                "by": by,
                "amount": order.total_amount,
                "currency": order.currency,
            }
            await uow.production.add_notice(order_id, "cancelled", payload)
            uow.record(DomainEvent("preorder.cancelled", "order", order_id, 2, payload))
            await uow.commit()
        await back.offer_again(self.engine)
        if self._on_change is not None:
            self._on_change(p.drop_id)
        return await self._finish_refund(order_id)

    async def _finish_refund(self, order_id: str) -> PreorderRecord:
        async with self.uow(readonly=True) as uow:
            p = await uow.production.preorder(order_id)
            order = await uow.orders.get_order(order_id)
        assert p is not None and order is not None
        if p.refunded_at is not None:
            return p
        if p.captured:
            await self.provider.refund(order.payment_id, idempotency_key=f"{order_id}:po-refund")
            metrics().refunds.labels("preorder").inc()
        else:
            await self.provider.void(order.payment_id, idempotency_key=f"{order_id}:po-void")
        async with self.uow() as uow:
            p2 = await uow.production.preorder(order_id, lock=True)
            order = await uow.orders.get_order(order_id)
            assert p2 is not None and order is not None
            if p2.refunded_at is None:
                await uow.production.update_preorder(p2, refunded_at=self._now())
                await uow.orders.set_order_status(
                    order,
                    OrderStatus.REFUNDED,
                    order.status_reason,
                    refunded_amount=order.total_amount,
                )
                payload = {
                    "order_id": order_id,
                    "buyer_id": p2.buyer_id,
                    "amount": order.total_amount,
                    "currency": order.currency,
                    "method": "refund" if p2.captured else "authorisation voided",
                }
                await uow.production.add_notice(order_id, "refunded", payload)
                event_id = new_id("evt")
                uow.record(
                    DomainEvent("preorder.refunded", "order", order_id, 3, payload, id=event_id)
                )
                await self.messages.queue(
                    uow,
                    MessageKind.REFUNDED,
                    order,
                    event_id,
                    refund_amount=Money(order.total_amount, order.currency).format(),
                )
            await uow.commit()
        return await self.preorders.get(order_id)

    async def process_deadlines(self) -> list[str]:
        """The mail-order rule's sweep, run in the background: cancel and refund every
        waiting pre-order whose delay was not expressly consented to by its deadline,
        and every one whose promised ship-by date simply passed (``promise_lapsed``: no
        milestone edit told the buyer in time); finish refunds a crash left half-way.
        Returns the orders it cancelled. Idempotent."""
        now = self._now()
        async with self.uow() as uow:
            due = await uow.production.due_consent_deadlines(now)
            lapsed = [
                p
                for p in await uow.production.waiting_promised_before(now)
                if promise_lapsed(p.promised_ship_by, p.consent, now)
            ]
            unfinished = [
                p.order_id
                for p in await uow.production.list_preorders(status=PreorderStatus.CANCELLED.value)
                if p.refunded_at is None
            ]
            await uow.commit()
        todo = [
            (
                p.order_id,
                f"no express consent to the delay by {rfc3339(p.consent_deadline)}",
            )
            for p in due
        ]
        todo += [
            (
                p.order_id,
                f"not shipped by the promised date ({rfc3339(p.promised_ship_by)}) "
                "and no further delay was agreed",
            )
            for p in lapsed
        ]
        done: list[str] = []
        for order_id, reason in todo:
            if order_id in done:
                continue
            try:
                await self.cancel(order_id, reason=reason, by="system")
            except Conflict:
                continue
            done.append(order_id)
        for order_id in unfinished:
            await self._finish_refund(order_id)
        return done

    async def capture_expiring(self) -> list[str]:
        """Capture authorisations about to lapse (the provider's lifetime is respected:
        a late shipment must not lose the payment). Recorded per order."""
        before = self._now() + timedelta(seconds=CAPTURE_MARGIN_S)
        async with self.uow(readonly=True) as uow:
            due = await uow.production.expiring_authorizations(before)
        out = []
        for p in due:
            await self._capture(p.order_id, why="authorisation about to lapse")
            out.append(p.order_id)
        return out

    async def _capture(self, order_id: str, *, why: str) -> None:
        async with self.uow(readonly=True) as uow:
            order = await uow.orders.get_order(order_id)
        assert order is not None
        await self.provider.capture(order.payment_id, idempotency_key=f"{order_id}:po-capture")
        async with self.uow() as uow:
            p = await uow.production.preorder(order_id, lock=True)
            assert p is not None
            if not p.captured:
                await uow.production.update_preorder(
                    p, captured=True, authorization_expires_at=None
                )
                payload = {"order_id": order_id, "buyer_id": p.buyer_id, "why": why}
                await uow.production.add_notice(order_id, "captured", payload)
                uow.record(DomainEvent("preorder.payment_captured", "order", order_id, 1, payload))
            await uow.commit()

    async def ship(self, order_id: str) -> PreorderRecord:
        """Ops mark a ready pre-order shipped (``POST /v1/preorders/{id}/ship``): the
        same two steps as a warehouse's ``shipped`` update of the order
        (``FulfilmentService.apply_update``), without the tracking. ``Conflict`` unless
        it is ready (waiting, cancelled, or shipped already: nothing moves twice)."""
        p = await self.preorders.get(order_id)
        if p.status != PreorderStatus.READY.value:
            raise Conflict("only a pre-order whose units are allocated can ship", status=p.status)
        await self.before_shipping(order_id)
        async with self.uow() as uow:
            await self.shipped(uow, order_id)
            await uow.commit()
        return await self.preorders.get(order_id)

    async def before_shipping(self, order_id: str) -> None:
        """Step 1 of shipping a pre-order, by either path, before the transaction that
        ships it: capture an authorised payment (money is taken when the goods leave;
        a stable idempotency key, so a retry captures once). ``Conflict`` while it
        still waits for its units (none of them is in the building to ship). Nothing
        for one shipped already, or cancelled (the caller's transition refuses it), or
        for an order that is not a pre-order."""
        async with self.uow(readonly=True) as uow:
            p = await uow.production.preorder(order_id)
        if p is None:
            return
        if p.status == PreorderStatus.WAITING.value:
            raise Conflict(
                "this pre-order is still waiting for its units; it cannot ship yet",
                status=p.status,
                order_id=order_id,
            )
        if p.status == PreorderStatus.READY.value and not p.captured:
            await self._capture(order_id, why="shipped")

    async def shipped(self, uow: UnitOfWork, order_id: str) -> None:
        """Step 2, inside the transaction that ships the order (the ops route's own, or
        the warehouse update's): a ready pre-order becomes ``shipped``, its units
        leave ``committed`` (a ``shipment`` movement; an order shipped by both paths
        moves them once), with its notice and ``preorder.shipped``. Nothing for one
        shipped already. ``Conflict`` if its payment was not captured by step 1."""
        cur = await uow.production.preorder(order_id, lock=True)
        if cur is None or cur.status != PreorderStatus.READY.value:
            return
        if not cur.captured:
            raise Conflict("the pre-order's payment is not captured yet", order_id=order_id)
        await uow.production.update_preorder(cur, status=PreorderStatus.SHIPPED.value)
        await ship_order_units(uow, order_id, "pre-order shipped")
        payload = {"order_id": order_id, "buyer_id": cur.buyer_id}
        await uow.production.add_notice(order_id, "shipped", payload)
        uow.record(DomainEvent("preorder.shipped", "order", order_id, 4, payload))
