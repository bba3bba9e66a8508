"""What a storefront or stream overlay may see of a drop: no costs, no buyers."""

from __future__ import annotations

from typing import Any

from dropline.domain.catalog.items import bundle_availability
from dropline.domain.live.drops import ENGINE_STATES
from dropline.services.live.drop_catalog import DropCatalog, DropCatalogCache
from dropline.services.live.drops import DropService
from dropline.services.live.schedule import schedule_view
from dropline.services.ports import DropNotLoaded, StockEngine
from dropline.services.serialize import rfc3339
from dropline.services.supply.preorders import estimate_dict


async def remaining_units(
    engine: StockEngine, drops: DropService, cache: DropCatalogCache, drop_id: str
) -> dict[str, int]:
    """Units still holdable per SKU: the engine's count while live, else the ledger's.
    Units behind a latched waitlist gate are held back for the line: 0 here, so the
    storefront shows the SKU sold out (and offers the waitlist)."""
    catalog = await cache.get(drop_id)
    if catalog.drop.status in ENGINE_STATES:
        try:
            counts = await engine.counts(drop_id)
        except DropNotLoaded:
            await drops.rebuild(drop_id)
            counts = await engine.counts(drop_id)
        return {s: 0 if c.waitlist == "latched" else c.remaining for s, c in counts.items()}
    return {s: o.unsold for s, o in catalog.offers.items()}


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
    engine: StockEngine, drops: DropService, cache: DropCatalogCache, drop_id: str
) -> dict[str, Any]:
    catalog = await cache.get(drop_id)
    remaining = await remaining_units(engine, drops, cache, drop_id)
    products: dict[str, dict[str, Any]] = {}
    ordered = sorted(catalog.offers.items(), key=lambda kv: catalog.skus[kv[0]].code)
    for sku_id, offer in ordered:
        sku = catalog.skus[sku_id]
        prod = catalog.products.get(sku.product_id)
        entry = products.setdefault(
            sku.product_id,
            {"id": sku.product_id, "name": prod.name if prod else "", "skus": []},
        )
        left = remaining.get(sku_id, 0)
        entry["skus"].append(
            {
                "id": sku_id,
                "code": sku.code,
                "attributes": dict(sku.attributes),
                "label": sku.label(),
                "price": {"amount": sku.price.amount, "currency": sku.price.currency},
                "remaining": left,
                "sold_out": left == 0,
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
        **schedule_view(d, drops.uow.now().timestamp()),
        "products": list(products.values()),
        "bundles": bundles,
    }
