"""Pre-orders: a drop sells units a production run has not made yet. This module holds
the offers, the promise recorded at checkout, the ship-date estimate and the reads;
after the sale see ``services.preorder_lifecycle`` (delays, consent, cancel and refund,
capture, ship), ``services.preorder_allocation`` (lots to waiting orders, reorders) and
``services.preorder_links`` (the buyer's signed links).

How a pre-order offer is represented, and why:

- The cap and the sold count live in the drop's ordinary ``drop_offers`` row
  (``offered`` = cap). The reservation engine therefore holds against
  ``remaining = cap − sold`` exactly as for in-stock units, and checkout's conditional
  ``record_sale`` is the same last guard: a cap can never be oversold.
- A ``preorder_offers`` row marks that offer as a pre-order and links it to its run, the
  window's closing time and the payment mode. No stock moves when it is offered: the
  units do not exist yet (and units in ``quality_control`` are never offered). Each
  change of the cap is appended to ``preorder_cap_changes`` instead (the pre-order cap
  ledger): the post-stream report counts a pre-order SKU's offered units from it, as it
  counts an in-stock SKU's from its ``offer`` stock movements.
- At checkout, pre-order units get no sale movement. A ``preorders`` row with its lines
  records the promise (payment time, the units, the ship-by date promised, the
  estimate, consent state; the report counts them as sold until cancelled) and waits
  for a lot of the run to pass final QC (``services.preorder_allocation``).

Buyer-facing messages are recorded as outbox events (``preorder.*``) with everything a
message needs in the payload, plus a per-order ``preorder_notices`` row.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.catalog.items import ensure_active
from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.live.drops import ENGINE_STATES, DropStatus, Offer, engine_update
from dropline.domain.stock.buckets import MAX_QUANTITY
from dropline.domain.supply.production import (
    Consent,
    Milestone,
    PaymentMode,
    PreorderStatus,
    ShipEstimate,
    parse_enum,
    ship_estimate,
)
from dropline.services.ports import Clock, DropNotLoaded, PaymentProvider, StockEngine
from dropline.services.supply.preorder_links import PreorderLinks
from dropline.store.live.order_records import OrderRecord
from dropline.store.supply.preorders_repo import PreorderRecord
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

#: Card authorisations lapse; Stripe's default for online card payments is 7 days.
DEFAULT_AUTHORIZATION_LIFETIME_S = 7 * 24 * 3600
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


def notice_payload(
    order_id: str, buyer_id: str, drop_id: str, run_id: str, lines: Mapping[str, int]
) -> dict[str, Any]:
    """What every buyer notice of one pre-order carries (outbox event and notice row), so
    a message can be written from the payload alone; callers add the notice's own keys
    (its links, the estimate, ...)."""
    return {
        "order_id": order_id,
        "buyer_id": buyer_id,
        "drop_id": drop_id,
        "run_id": run_id,
        "lines": [{"sku_id": s, "quantity": q} for s, q in sorted(lines.items())],
    }


class PreorderService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        provider: PaymentProvider,
        clock: Clock,
        links: PreorderLinks,
        *,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.clock = clock
        self.links = links
        self._on_change = on_change
        self.authorization_lifetime_s = int(
            getattr(provider, "authorization_lifetime_s", DEFAULT_AUTHORIZATION_LIFETIME_S)
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

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
            if cap > 0:
                ensure_active(sku)
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
            offer = Offer(
                sku_id,
                cap,
                current.sold if current else 0,
                per_buyer_limit,
                current.paused if current else False,
            )
            await uow.drops.upsert_offer(drop_id, offer)
            if delta:
                await uow.production.add_cap_change(drop_id, sku_id, run_id, delta=delta, cap=cap)
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
        update = engine_update(current, offer)
        if live and update is not None:
            # An engine that lost the drop reads units and limit from the ledger anew.
            with contextlib.suppress(DropNotLoaded):
                await self.engine.adjust_offer(drop_id, sku_id, update, per_buyer_limit)
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
        payload = notice_payload(order.id, order.buyer_id, order.drop_id, run_id, pre)
        payload["cancel_url"] = self.links.link(order.id, "cancel")
        payload |= {"ship_estimate": estimate_dict(estimate), "captured": captured}
        await uow.production.add_notice(order.id, "placed", payload)
        uow.record(DomainEvent("preorder.placed", "order", order.id, 1, payload))

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
