"""Pre-orders after the sale: ship-date changes and delay notices, the buyer's consent,
cancel and refund, the consent deadlines, capturing authorisations, shipping.

The delay rule (mail-order rule logic) runs per order when the run's estimate changes
(``reestimate``): a definite delay of at most 30 days relies on silence; a longer or
indefinite one needs the buyer's explicit consent (``consent``, from the signed link in
the notice) by the *original* ship date, else ``process_deadlines`` cancels and refunds
the order in full then.

A cancellation and its refund are separate steps with a stable idempotency key per
order, so a crash in between is finished by ``process_deadlines``. An authorised (not
yet captured) payment is captured when the pre-order ships, or ``CAPTURE_MARGIN_S``
before the authorisation would lapse (``capture_expiring``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.errors import Conflict, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.live.drops import ENGINE_STATES
from dropline.domain.live.orders import OrderStatus
from dropline.domain.stock.buckets import Bucket, Movement, Reason
from dropline.domain.supply.production import Consent, PreorderStatus, classify_delay
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, PaymentProvider, StockEngine
from dropline.services.serialize import rfc3339
from dropline.services.stock.ledger import offer_again, ship_order_units
from dropline.services.supply.preorder_links import PreorderLinks
from dropline.services.supply.preorders import (
    PreorderService,
    estimate_dict,
    notice_payload,
    run_estimate,
)
from dropline.store.supply.preorders_repo import PreorderRecord
from dropline.store.uow import UnitOfWork, UowFactory

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
        *,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.provider = provider
        self.clock = clock
        self.preorders = preorders
        self.links = links
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

        Mail-order rule logic per order: a definite delay of at most 30 days relies on
        silence (the new date becomes the promise); a longer or indefinite one needs
        explicit consent by the *original* date, else the order is cancelled and
        refunded then (``process_deadlines``)."""
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
            decision = classify_delay(p.promised_ship_by, estimate)
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
            payload |= {"delay_days": decision.days, "consent": decision.consent.value}
            if decision.consent is Consent.SILENT:
                values |= {"promised_ship_by": estimate.latest, "consent": Consent.SILENT.value}
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
            uow.record(DomainEvent("preorder.delay_notice", "order", p.order_id, 1, payload))
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
        """Cancel a waiting pre-order and refund it in full (void an authorisation).

        Step 1 (one transaction) marks it cancelled and gives the units back to the
        drop's cap; step 2 calls the provider with a stable idempotency key; step 3
        records the refund. A crash between steps is finished by ``process_deadlines``."""
        now = self._now()
        async with self.uow() as uow:
            p = await uow.production.preorder(order_id, lock=True)
            if p is None:
                raise NotFound(f"pre-order {order_id} not found")
            if p.status == PreorderStatus.CANCELLED.value:
                await uow.rollback()
                return await self._finish_refund(order_id)
            if p.status != PreorderStatus.WAITING.value:
                raise Conflict(
                    "only a pre-order still waiting for its units can be cancelled",
                    status=p.status,
                )
            order = await uow.orders.get_order(order_id)
            assert order is not None
            await uow.production.update_preorder(
                p, status=PreorderStatus.CANCELLED.value, cancelled_at=now
            )
            await uow.orders.set_order_status(order, OrderStatus.CANCELLED, reason)
            await uow.drops.unsell(p.drop_id, {s: q for s, (q, _) in p.lines.items()})
            # In-stock units of a mixed order go back to the drop's reserved pool.
            stock_lines = {
                ln.ref_id: ln.quantity
                for ln in order.lines
                if ln.kind == "sku" and ln.ref_id not in p.lines
            }
            if stock_lines:
                await uow.stock.apply(
                    [
                        Movement(s, q, Bucket.COMMITTED, Bucket.RESERVED, Reason.CANCEL, order_id)
                        for s, q in sorted(stock_lines.items())
                    ]
                )
                await uow.drops.unsell(p.drop_id, stock_lines)
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
            drop = await uow.drops.get(p.drop_id)
            offers = await uow.drops.offers(p.drop_id)
            await uow.commit()
        if drop is not None and drop.status in ENGINE_STATES:
            returned = {s: q for s, (q, _) in p.lines.items()} | stock_lines
            await offer_again(self.engine, p.drop_id, returned, offers, buyer_id=p.buyer_id)
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
                uow.record(DomainEvent("preorder.refunded", "order", order_id, 3, payload))
            await uow.commit()
        return await self.preorders.get(order_id)

    async def process_deadlines(self) -> list[str]:
        """Cancel and refund every pre-order whose long delay was not consented to by
        the original date; finish refunds a crash left half-way. Idempotent."""
        now = self._now()
        async with self.uow() as uow:
            due = await uow.production.due_consent_deadlines(now)
            unfinished = [
                p.order_id
                for p in await uow.production.list_preorders(status=PreorderStatus.CANCELLED.value)
                if p.refunded_at is None
            ]
            await uow.commit()
        done: list[str] = []
        for p in due:
            try:
                await self.cancel(
                    p.order_id,
                    reason="no consent to the delay by the original ship date",
                    by="system",
                )
            except Conflict:
                continue
            done.append(p.order_id)
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
        """The warehouse ships a ready pre-order: capture an authorised payment now, and
        its allocated units leave ``committed`` (a ``shipment`` movement)."""
        p = await self.preorders.get(order_id)
        if p.status != PreorderStatus.READY.value:
            raise Conflict("only a pre-order whose units are allocated can ship", status=p.status)
        if not p.captured:
            await self._capture(order_id, why="shipped")
        async with self.uow() as uow:
            cur = await uow.production.preorder(order_id, lock=True)
            assert cur is not None
            if cur.status == PreorderStatus.READY.value:
                await uow.production.update_preorder(cur, status=PreorderStatus.SHIPPED.value)
                await ship_order_units(uow, order_id, "pre-order shipped")
                payload = {"order_id": order_id, "buyer_id": cur.buyer_id}
                await uow.production.add_notice(order_id, "shipped", payload)
                uow.record(DomainEvent("preorder.shipped", "order", order_id, 4, payload))
            await uow.commit()
        return await self.preorders.get(order_id)
