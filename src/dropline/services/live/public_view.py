"""What a storefront or stream overlay may see of a drop: no costs, no buyers."""

from __future__ import annotations

from typing import Any

from dropline.domain.catalog.items import bundle_availability
from dropline.domain.live.access import AccessPolicy
from dropline.domain.live.availability import Availability, SkuAvailability, sku_availability
from dropline.domain.live.drops import ENGINE_STATES
from dropline.services.live.drop_catalog import DropCatalog, DropCatalogCache
from dropline.services.live.drops import DropService
from dropline.services.live.schedule import schedule_view
from dropline.services.ports import DropNotLoaded, StockEngine
from dropline.services.serialize import rfc3339
from dropline.services.supply.preorders import estimate_dict


async def availabilities(
    engine: StockEngine,
    drops: DropService,
    catalog: DropCatalog,
    policy: AccessPolicy,
    now: float,
) -> dict[str, SkuAvailability]:
    """Per SKU what the audience is told (``domain/live/availability.py``): from the
    engine's counts and the access windows while live, else from the ledger. Units
    behind a latched waitlist gate are held back for the line: not holdable, so the
    storefront shows the SKU sold out (and offers the waitlist), unless the open
    windows' units are taken and a later window releases more (then "more at")."""
    drop_id = catalog.drop.id
    if catalog.drop.status in ENGINE_STATES:
        try:
            counts = await engine.counts(drop_id)
        except DropNotLoaded:
            await drops.rebuild(drop_id)
            counts = await engine.counts(drop_id)
        return {
            s: sku_availability(
                policy.windows,
                now,
                s,
                offered=catalog.offers[s].offered if s in catalog.offers else 0,
                remaining=c.remaining,
                latched=c.waitlist == "latched",
            )
            for s, c in counts.items()
        }
    return {
        s: sku_availability((), now, s, offered=o.offered, remaining=o.unsold, latched=False)
        for s, o in catalog.offers.items()
    }


def _preorder(catalog: DropCatalog, sku_id: str) -> dict[str, Any] | None:
    """A pre-order SKU's window, payment mode and ship-date range; None if in stock."""
    info = catalog.preorders.get(sku_id)
    if info is None:
        return None
    return {
        "closes_at": rfc3339(info.closes_at),
        "payment_mode": info.payment_mode.value,
        "ship_estimate": estimate_dict(info.estimate),
    }


async def public_drop(
    engine: StockEngine,
    drops: DropService,
    cache: DropCatalogCache,
    drop_id: str,
    policy: AccessPolicy | None = None,
) -> dict[str, Any]:
    """The drop for the storefront. Per SKU: ``remaining`` (units left on sale),
    ``sold_out``, and ``availability`` (``on_sale``, ``sold_out`` or
    ``window_allocation_taken``) with ``more_at``, when the next window releasing more
    opens. ``policy``: the drop's access rules, when the caller has read them."""
    catalog = await cache.get(drop_id)
    now = drops.uow.now().timestamp()
    if policy is None:
        async with drops.uow(readonly=True) as uow:
            policy = await uow.drop_access.get(drop_id)
    avail = await availabilities(engine, drops, catalog, policy, now)
    remaining = {s: a.holdable for s, a in avail.items()}
    products: dict[str, dict[str, Any]] = {}
    ordered = sorted(catalog.offers.items(), key=lambda kv: catalog.skus[kv[0]].code)
    for sku_id, offer in ordered:
        sku = catalog.skus[sku_id]
        prod = catalog.products.get(sku.product_id)
        entry = products.setdefault(
            sku.product_id,
            {"id": sku.product_id, "name": prod.name if prod else "", "skus": []},
        )
        a = avail.get(sku_id) or SkuAvailability(Availability.SOLD_OUT, 0)
        entry["skus"].append(
            {
                "id": sku_id,
                "code": sku.code,
                "attributes": dict(sku.attributes),
                "label": sku.label(),
                "price": {"amount": sku.price.amount, "currency": sku.price.currency},
                "remaining": a.holdable,
                "sold_out": a.state is Availability.SOLD_OUT,
                "availability": a.state.value,
                "more_at": rfc3339(a.more_at),
                "paused": offer.paused,
                "per_buyer_limit": offer.per_buyer_limit,
                "preorder": _preorder(catalog, sku_id),
            }
        )
    bundles = [
        {
            "id": b.id,
            "code": b.code,
            "name": b.name,
            "price": {"amount": b.price.amount, "currency": b.price.currency},
            "components": [{"sku_id": c.sku_id, "quantity": c.quantity} for c in b.components],
            "remaining": bundle_availability(b, remaining),
        }
        for b in catalog.bundles.values()
    ]
    d = catalog.drop
    return {
        "id": d.id,
        "name": d.name,
        "status": d.status.value,
        "currency": d.currency,
        "hold_ttl_s": d.hold_ttl_s,
        **schedule_view(d, now),
        "products": list(products.values()),
        "bundles": bundles,
    }
