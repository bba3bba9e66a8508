"""Pre-orders: a drop sells units a production run has not made yet.

How a pre-order offer is represented, and why:

- The cap and the sold count live in the drop's ordinary ``drop_offers`` row
  (``offered`` = cap). The reservation engine therefore holds against
  ``remaining = cap − sold`` exactly as for in-stock units, and checkout's conditional
  ``record_sale`` is the same last guard: a cap can never be oversold.
- A ``preorder_offers`` row marks that offer as a pre-order and links it to its run, the
  window's closing time and the payment mode. No stock moves when it is offered: the
  units do not exist yet (and units in ``quality_control`` are never offered).
- At checkout, pre-order units get no sale movement. A ``preorders`` row records the
  promise (payment time, the ship-by date promised, the estimate, consent state) and
  waits. When a lot of the run passes final QC its units are allocated to waiting
  pre-orders first come, first served by payment time (``quality_control → committed``
  movements), the rest become ``available``.

Buyer-facing messages are recorded as outbox events (``preorder.*``) with everything a
message needs in the payload, plus a per-order ``preorder_notices`` row.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.drops import ENGINE_STATES, DropStatus, Offer
from dropline.domain.errors import Conflict, InvalidInput, InvalidToken, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.orders import OrderStatus
from dropline.domain.production import (
    Consent,
    Milestone,
    PaymentMode,
    PreorderStatus,
    ShipEstimate,
    Waiting,
    allocate_fifo,
    classify_delay,
    parse_enum,
    reorder_due,
    reorder_quantities,
    ship_estimate,
)
from dropline.domain.stock import MAX_QUANTITY, Bucket, Movement, Reason, safety_rebalance
from dropline.services.ports import Clock, DropNotLoaded, PaymentProvider, StockEngine
from dropline.services.stock import ship_order_units
from dropline.store.order_repo import OrderRecord
from dropline.store.production_repo import PreorderRecord
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

#: Card authorisations lapse; Stripe's default for online card payments is 7 days.
DEFAULT_AUTHORIZATION_LIFETIME_S = 7 * 24 * 3600
#: Capture an authorisation this long before it lapses rather than lose the payment.
CAPTURE_MARGIN_S = 24 * 3600
LINK_TTL_S = 90 * 24 * 3600
MAX_LIMIT = 1000


@dataclass(frozen=True)
class PreorderInfo:
    """What the hot path and the public view need to know about a pre-order SKU."""

    sku_id: str
    run_id: str
    closes_at: datetime
    payment_mode: PaymentMode
    estimate: ShipEstimate


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def run_estimate(uow: UnitOfWork, run_id: str) -> ShipEstimate:
    """The run's ship-date range: warehouse intake (actual if known, else planned) plus
    the run's handling time. Unknown when intake has no date."""
    run = await uow.production.run(run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found")
    intake = (await uow.production.milestones(run_id)).get(Milestone.WAREHOUSE_INTAKE.value, {})
    when = intake.get("actual_at") or intake.get("planned_at")
    return ship_estimate(when, int(run["handling_min_days"]), int(run["handling_max_days"]))


async def preorder_infos(uow: UnitOfWork, drop_id: str) -> dict[str, PreorderInfo]:
    """Pre-order SKUs of a drop with their current ship estimate (for the catalog cache)."""
    out: dict[str, PreorderInfo] = {}
    estimates: dict[str, ShipEstimate] = {}
    for po in await uow.production.preorder_offers(drop_id=drop_id):
        if po.run_id not in estimates:
            estimates[po.run_id] = await run_estimate(uow, po.run_id)
        out[po.sku_id] = PreorderInfo(
            po.sku_id, po.run_id, po.closes_at, PaymentMode(po.payment_mode), estimates[po.run_id]
        )
    return out


def estimate_dict(est: ShipEstimate) -> dict[str, Any]:
    return {"earliest": _iso(est.earliest), "latest": _iso(est.latest), "known": est.known}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PreorderService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        provider: PaymentProvider,
        clock: Clock,
        *,
        link_secret: str,
        base_url: str,
        on_change: Any = None,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.provider = provider
        self.clock = clock
        self.link_secret = link_secret
        self.base_url = base_url.rstrip("/")
        self._on_change = on_change
        # Set by bootstrap to fulfilment's hand-off: called when a pre-order's units
        # are all allocated, inside the allocating transaction.
        self.ready_hook: Callable[[UnitOfWork, OrderRecord], Awaitable[None]] | None = None
        self.authorization_lifetime_s = int(
            getattr(provider, "authorization_lifetime_s", DEFAULT_AUTHORIZATION_LIFETIME_S)
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def invalidate_run(self, run_id: str) -> None:
        """Tell the catalog cache that estimates changed (it reloads on next use)."""
        if self._on_change is not None:
            self._on_change(run_id)

    # ------------------------------------------------------------------ offers
    async def set_offer(
        self,
        drop_id: str,
        sku_id: str,
        run_id: str,
        cap: int,
        closes_at: datetime,
        payment_mode: str = PaymentMode.CHARGE_NOW.value,
        per_buyer_limit: int | None = None,
    ) -> dict[str, Any]:
        """Offer a SKU as a pre-order of ``run_id``: at most ``cap`` units, until
        ``closes_at``, paid by ``payment_mode``.

        The cap may never exceed what the run makes for the SKU less what other drops
        already promised from it. Authorise-now-capture-at-ship is refused when the ship
        estimate is later than the provider's authorisation lifetime allows (the
        authorisation would lapse before the unit ships). Like an in-stock offer, a
        live pre-order may only grow."""
        mode = parse_enum(PaymentMode, payment_mode, "payment_mode")
        if not 0 <= cap <= MAX_QUANTITY:
            raise InvalidInput("cap must be between 0 and 10,000,000")
        if per_buyer_limit is not None and not 1 <= per_buyer_limit <= MAX_LIMIT:
            raise InvalidInput(f"per_buyer_limit must be between 1 and {MAX_LIMIT}")
        if closes_at.tzinfo is None:
            raise InvalidInput("closes_at needs a time zone (use Z for UTC)")
        now = self._now()
        if closes_at <= now:
            raise InvalidInput("closes_at must be in the future", field="closes_at")
        async with self.uow() as uow:
            drop = await uow.drops.get(drop_id, lock=True)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            if drop.status is DropStatus.ENDED:
                raise Conflict("the drop has ended")
            sku = await uow.catalog.get_sku(sku_id)
            if sku is None:
                raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
            if sku.price.currency != drop.currency:
                raise InvalidInput("the SKU's currency differs from the drop's", sku_id=sku_id)
            run = await uow.production.run(run_id, lock=True)
            if run is None:
                raise NotFound(f"run {run_id} not found")
            line = {ln.sku_id: ln for ln in await uow.production.run_lines(run_id)}.get(sku_id)
            if line is None:
                raise InvalidInput(f"SKU {sku_id} is not made in run {run_id}", sku_id=sku_id)
            promised = await uow.production.promised_units(run_id, sku_id, exclude_drop=drop_id)
            room = line.quantity - promised
            if cap > room:
                raise Conflict(
                    "the cap exceeds what the run makes less what is already promised",
                    run_quantity=line.quantity,
                    promised_elsewhere=promised,
                    max_cap=max(room, 0),
                )
            existing = {p.sku_id: p for p in await uow.production.preorder_offers(drop_id=drop_id)}
            current = (await uow.drops.offers(drop_id)).get(sku_id)
            if current is not None and sku_id not in existing:
                raise Conflict("this SKU is already offered from stock in the drop", sku_id=sku_id)
            if sku_id in existing and existing[sku_id].run_id != run_id:
                raise Conflict("this pre-order is linked to another run", sku_id=sku_id)
            had = current.offered if current else 0
            delta = cap - had
            live = drop.status in ENGINE_STATES
            if live and delta < 0:
                raise Conflict("a live drop's pre-order cap can only grow", cap=had)
            if current and cap < current.sold:
                raise Conflict("cannot cap below the units already sold", sold=current.sold)
            estimate = await run_estimate(uow, run_id)
            if mode is PaymentMode.AUTHORIZE:
                lapse = now + timedelta(seconds=self.authorization_lifetime_s)
                if estimate.latest is None or estimate.latest > lapse:
                    raise InvalidInput(
                        "authorise-now-capture-at-ship needs a ship date within the payment "
                        f"provider's authorisation lifetime ({_iso(lapse)}); use charge_now",
                        field="payment_mode",
                        estimate_latest=_iso(estimate.latest),
                    )
            await uow.drops.upsert_offer(
                drop_id,
                Offer(
                    sku_id,
                    cap,
                    current.sold if current else 0,
                    per_buyer_limit,
                    current.paused if current else False,
                ),
            )
            if sku_id in existing:
                await uow.production.update_preorder_offer(
                    drop_id, sku_id, closes_at=closes_at, payment_mode=mode.value
                )
            else:
                await uow.production.add_preorder_offer(
                    {
                        "drop_id": drop_id,
                        "sku_id": sku_id,
                        "run_id": run_id,
                        "closes_at": closes_at,
                        "payment_mode": mode.value,
                    }
                )
            uow.record(
                DomainEvent(
                    "drop.offer_changed",
                    "drop",
                    drop_id,
                    drop.version,
                    {
                        "sku_id": sku_id,
                        "offered": cap,
                        "delta": delta,
                        "preorder": {
                            "run_id": run_id,
                            "closes_at": _iso(closes_at),
                            "payment_mode": mode.value,
                        },
                    },
                )
            )
            await uow.commit()
        if live and delta > 0:
            await self.engine.adjust_offer(drop_id, sku_id, delta, per_buyer_limit)
        if self._on_change is not None:
            self._on_change(drop_id)
        return {
            "drop_id": drop_id,
            "sku_id": sku_id,
            "run_id": run_id,
            "cap": cap,
            "sold": current.sold if current else 0,
            "closes_at": _iso(closes_at),
            "payment_mode": mode.value,
            "per_buyer_limit": per_buyer_limit,
            "ship_estimate": estimate_dict(estimate),
        }

    async def offers(self, drop_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            infos = await preorder_infos(uow, drop_id)
            records = await uow.production.preorder_offers(drop_id=drop_id)
        return [
            {
                "drop_id": r.drop_id,
                "sku_id": r.sku_id,
                "run_id": r.run_id,
                "cap": r.cap,
                "sold": r.sold,
                "remaining": r.cap - r.sold,
                "closes_at": _iso(r.closes_at),
                "payment_mode": r.payment_mode,
                "ship_estimate": estimate_dict(infos[r.sku_id].estimate),
            }
            for r in records
        ]

    # ------------------------------------------------------------------ at checkout
    def captures_now(self, units: Mapping[str, int], infos: Mapping[str, PreorderInfo]) -> bool:
        """Capture at checkout unless every unit is a pre-order paid by authorisation
        (a cart with anything else is charged in full now)."""
        return not units or not all(
            s in infos and infos[s].payment_mode is PaymentMode.AUTHORIZE for s in units
        )

    async def record(
        self,
        uow: UnitOfWork,
        order: OrderRecord,
        units: Mapping[str, int],
        infos: Mapping[str, PreorderInfo],
        *,
        captured: bool,
    ) -> None:
        """Inside checkout's transaction: record the promise for the pre-order units of a
        paid order (no stock moves: the units do not exist yet)."""
        pre = {s: q for s, q in units.items() if s in infos}
        if not pre:
            return
        runs = {infos[s].run_id for s in pre}
        run_id = sorted(runs)[0]
        estimate = infos[sorted(pre)[0]].estimate
        now = order.paid_at
        await uow.production.add_preorder(
            {
                "order_id": order.id,
                "drop_id": order.drop_id,
                "buyer_id": order.buyer_id,
                "run_id": run_id,
                "payment_mode": infos[sorted(pre)[0]].payment_mode.value,
                "captured": captured,
                "authorization_expires_at": None
                if captured
                else now + timedelta(seconds=self.authorization_lifetime_s),
                "status": PreorderStatus.WAITING.value,
                "paid_at": now,
                "promised_ship_by": estimate.latest,
                "estimate_earliest": estimate.earliest,
                "estimate_latest": estimate.latest,
                "consent": Consent.NOT_NEEDED.value,
                "consent_deadline": None,
            },
            pre,
        )
        payload = self._payload(order.id, order.buyer_id, order.drop_id, run_id, pre)
        payload |= {"ship_estimate": estimate_dict(estimate), "captured": captured}
        await uow.production.add_notice(order.id, "placed", payload)
        uow.record(DomainEvent("preorder.placed", "order", order.id, 1, payload))

    def _payload(
        self, order_id: str, buyer_id: str, drop_id: str, run_id: str, lines: Mapping[str, int]
    ) -> dict[str, Any]:
        return {
            "order_id": order_id,
            "buyer_id": buyer_id,
            "drop_id": drop_id,
            "run_id": run_id,
            "lines": [{"sku_id": s, "quantity": q} for s, q in sorted(lines.items())],
            "cancel_url": self.link(order_id, "cancel"),
        }

    # ------------------------------------------------------------------ links
    def token(self, order_id: str, action: str, ttl_s: int = LINK_TTL_S) -> str:
        """A signed, expiring token that lets the buyer act on one order without
        logging in (the one-click link in a delay notice)."""
        body = _b64(
            json.dumps(
                {"o": order_id, "a": action, "exp": int(self.clock.now()) + ttl_s},
                separators=(",", ":"),
            ).encode()
        )
        sig = hmac.new(self.link_secret.encode(), f"po1.{body}".encode(), hashlib.sha256)
        return f"po1.{body}.{_b64(sig.digest())}"

    def link(self, order_id: str, action: str) -> str:
        return f"{self.base_url}/v1/preorder-links/{action}?token={self.token(order_id, action)}"

    def verify(self, token: str, action: str) -> str:
        """The order id a valid token for ``action`` names; ``InvalidToken`` otherwise."""
        try:
            version, body, sig = token.split(".")
            expected = hmac.new(
                self.link_secret.encode(), f"{version}.{body}".encode(), hashlib.sha256
            ).digest()
            ok = version == "po1" and hmac.compare_digest(expected, _unb64(sig))
            claims = json.loads(_unb64(body)) if ok else {}
        except (ValueError, TypeError):
            raise InvalidToken("the link is malformed") from None
        if not ok:
            raise InvalidToken("the link's signature is not valid")
        if claims.get("a") != action:
            raise InvalidToken("the link is for another action")
        if int(claims.get("exp", 0)) < self.clock.now():
            raise InvalidToken("the link has expired")
        return str(claims["o"])

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
            payload = self._payload(
                p.order_id, p.buyer_id, p.drop_id, p.run_id, {s: q for s, (q, _) in p.lines.items()}
            )
            payload |= {
                "ship_estimate": estimate_dict(estimate),
                "previous_ship_by": _iso(p.promised_ship_by),
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
                    "consent_deadline": _iso(deadline),
                    "consent_url": self.link(p.order_id, "consent"),
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
            payload |= {"new_ship_by": _iso(p.estimate_latest)}
            await uow.production.add_notice(order_id, "consent_given", payload)
            uow.record(DomainEvent("preorder.consent_given", "order", order_id, 1, payload))
            await uow.commit()
        return await self.get(order_id)

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
            # The ledger gave the units back to the cap; tell the live engine too (if it
            # lost the drop, its rebuild reads the ledger and needs nothing).
            returned = {s: q for s, (q, _) in p.lines.items()} | stock_lines
            for sku_id, qty in sorted(returned.items()):
                offer = offers.get(sku_id)
                with contextlib.suppress(DropNotLoaded):
                    await self.engine.adjust_offer(
                        p.drop_id, sku_id, qty, offer.per_buyer_limit if offer else None
                    )
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
        return await self.get(order_id)

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
        p = await self.get(order_id)
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
        return await self.get(order_id)

    # ------------------------------------------------------------------ allocation
    async def allocate_lot(
        self, uow: UnitOfWork, lot: Mapping[str, Any], actor: str
    ) -> dict[str, int]:
        """Inside the QC gate's transaction: the lot passed. Its units go to waiting
        pre-orders of its run, first come first served by payment time
        (``quality_control → committed``, reason ``qc_pass``, ref the order), and the
        rest to ``available``. Orders whose every unit is allocated become ready."""
        sku_id, lot_id = lot["sku_id"], lot["id"]
        waiting = list(
            await uow.production.list_preorders(
                run_id=lot["run_id"], status=PreorderStatus.WAITING.value, sku_id=sku_id, lock=True
            )
        )
        by_id = {p.order_id: p for p in waiting}
        plan, left = allocate_fifo(
            int(lot["quantity"]),
            [
                Waiting(p.order_id, p.paid_at, p.lines[sku_id][0] - p.lines[sku_id][1])
                for p in waiting
                if sku_id in p.lines
            ],
        )
        movements = [
            Movement(
                sku_id,
                qty,
                Bucket.QUALITY_CONTROL,
                Bucket.COMMITTED,
                Reason.QC_PASS,
                order_id,
                actor,
                f"lot {lot_id} allocated to pre-order",
            )
            for order_id, qty in plan.items()
        ]
        if left:
            movements.append(
                Movement(
                    sku_id,
                    left,
                    Bucket.QUALITY_CONTROL,
                    Bucket.AVAILABLE,
                    Reason.QC_PASS,
                    lot_id,
                    actor,
                    "lot passed final inspection",
                )
            )
        levels = await uow.stock.apply(movements)
        sku = await uow.catalog.get_sku(sku_id)
        if sku is not None and left:
            rebalance = safety_rebalance(levels[sku_id], sku.safety_qty, sku.safety_pct)
            if rebalance is not None:
                await uow.stock.apply([rebalance])
        for order_id, qty in plan.items():
            await uow.production.allocate_line(order_id, sku_id, qty)
            await uow.production.add_allocation(lot_id, order_id, sku_id, qty)
            p = by_id[order_id]
            lines = dict(p.lines)
            q, a = lines[sku_id]
            lines[sku_id] = (q, a + qty)
            if all(a2 >= q2 for q2, a2 in lines.values()):
                await uow.production.update_preorder(p, status=PreorderStatus.READY.value)
                payload = self._payload(
                    order_id, p.buyer_id, p.drop_id, p.run_id, {s: v[0] for s, v in lines.items()}
                )
                payload |= {
                    "lots": [lot_id],
                    "ship_estimate": estimate_dict(
                        ShipEstimate(p.estimate_earliest, p.estimate_latest)
                    ),
                }
                payload.pop("cancel_url")
                await uow.production.add_notice(order_id, "ready_to_fulfil", payload)
                uow.record(DomainEvent("preorder.ready_to_fulfil", "order", order_id, 2, payload))
                if self.ready_hook is not None:
                    order = await uow.orders.get_order(order_id)
                    if order is not None:
                        await self.ready_hook(uow, order)
        return {**plan, "available": left}

    # ------------------------------------------------------------------ reorders
    async def check_reorders(self) -> list[str]:
        """Phased production: for each first batch with a reorder rule, propose the next
        batch once sell-through (pre-ordered units / planned units) reaches the
        threshold within the window. An event and an ops alert, never an order."""
        now = self._now()
        proposed: list[str] = []
        async with self.uow() as uow:
            for run in await uow.production.runs():
                if run["reorder_threshold_pct"] is None or run["reorder_proposed_at"] is not None:
                    continue
                lines = await uow.production.run_lines(run["id"])
                planned = {ln.sku_id: ln.quantity for ln in lines}
                sold: dict[str, int] = {}
                for p in await uow.production.list_preorders(run_id=run["id"]):
                    if p.status == PreorderStatus.CANCELLED.value:
                        continue
                    for s, (q, _) in p.lines.items():
                        sold[s] = sold.get(s, 0) + q
                if not reorder_due(
                    planned=sum(planned.values()),
                    sold=sum(sold.values()),
                    threshold_pct=int(run["reorder_threshold_pct"]),
                    window_days=int(run["reorder_window_days"]),
                    started=run["created_at"],
                    now=now,
                ):
                    continue
                suggestion = reorder_quantities(planned, sold, {ln.sku_id: ln.moq for ln in lines})
                await uow.production.update_run(run["id"], reorder_proposed_at=now)
                payload = {
                    "run_id": run["id"],
                    "manufacturer_id": run["manufacturer_id"],
                    "sell_through_pct": round(100 * sum(sold.values()) / sum(planned.values())),
                    "sold": sold,
                    "planned": planned,
                    "suggested_quantities": suggestion,
                    "note": "a proposal only: nothing is ordered automatically",
                }
                uow.record(DomainEvent("production.reorder_proposed", "run", run["id"], 1, payload))
                uow.record(
                    DomainEvent(
                        "ops.alert",
                        "run",
                        run["id"],
                        1,
                        {"kind": "reorder_proposed", "severity": "info", **payload},
                    )
                )
                proposed.append(run["id"])
            await uow.commit()
        return proposed

    # ------------------------------------------------------------------ reads
    async def get(self, order_id: str) -> PreorderRecord:
        async with self.uow(readonly=True) as uow:
            p = await uow.production.preorder(order_id)
        if p is None:
            raise NotFound(f"pre-order {order_id} not found")
        return p

    async def find(
        self, *, run_id: str | None = None, drop_id: str | None = None, status: str | None = None
    ) -> list[PreorderRecord]:
        if status is not None:
            parse_enum(PreorderStatus, status, "status")
        async with self.uow(readonly=True) as uow:
            return await uow.production.list_preorders(
                run_id=run_id, drop_id=drop_id, status=status
            )

    async def notices(self, order_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            return await uow.production.notices(order_id)


def preorder_dict(p: PreorderRecord) -> dict[str, Any]:
    return {
        "order_id": p.order_id,
        "drop_id": p.drop_id,
        "buyer_id": p.buyer_id,
        "run_id": p.run_id,
        "status": p.status,
        "payment_mode": p.payment_mode,
        "captured": p.captured,
        "authorization_expires_at": _iso(p.authorization_expires_at),
        "paid_at": _iso(p.paid_at),
        "promised_ship_by": _iso(p.promised_ship_by),
        "ship_estimate": estimate_dict(ShipEstimate(p.estimate_earliest, p.estimate_latest)),
        "consent": p.consent,
        "consent_deadline": _iso(p.consent_deadline),
        "cancelled_at": _iso(p.cancelled_at),
        "refunded_at": _iso(p.refunded_at),
        "lines": [
            {"sku_id": s, "quantity": q, "allocated": a} for s, (q, a) in sorted(p.lines.items())
        ],
        "version": p.version,
    }
