"""The demo shop: a hoodie in 3 colours × 4 sizes, a cap, a hoodie+cap bundle, and a
live drop offering them. Seeding is idempotent: a second run changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from dropline.bootstrap import Container
from dropline.domain.drops import DropStatus

COLOURS = ("Black", "Sand", "Forest")
SIZES = ("S", "M", "L", "XL")
DEMO_DROP = "Friday night live drop"


@dataclass(frozen=True)
class DemoShop:
    drop_id: str
    created: bool


async def seed(c: Container) -> DemoShop:
    """Create the demo catalog, stock and live drop unless they already exist."""
    for drop in await c.drops.list_drops():
        if drop.name == DEMO_DROP and drop.status is not DropStatus.ENDED:
            return DemoShop(drop.id, False)
    async with c.uow(readonly=True) as uow:
        existing = await uow.catalog.get_sku_by_code("HOOD-BLK-M")
    if existing is None:
        hoodie = await c.catalog.create_product("Logo Hoodie", "Heavyweight 450 gsm fleece")
        skus = []
        for colour in COLOURS:
            for size in SIZES:
                sku = await c.catalog.create_sku(
                    hoodie.id,
                    f"HOOD-{colour[:3].upper()}-{size}",
                    6500,
                    "USD",
                    {"colour": colour, "size": size},
                    safety_pct=5,
                    bin_location=f"A-{COLOURS.index(colour) + 1:02d}-{SIZES.index(size) + 1:02d}",
                )
                await c.stock.receive(sku.id, 60, actor="demo", note="opening stock")
                skus.append(sku)
        cap = await c.catalog.create_product("Dad Cap", "Embroidered cotton twill")
        cap_sku = await c.catalog.create_sku(
            cap.id,
            "CAP-ONE",
            2500,
            "USD",
            {"size": "One size"},
            safety_qty=5,
            bin_location="B-01-01",
        )
        await c.stock.receive(cap_sku.id, 205, actor="demo", note="opening stock")
        black_m = next(s for s in skus if s.code == "HOOD-BLA-M")
        await c.catalog.create_bundle(
            "BNDL-HOOD-CAP",
            "Hoodie + Cap (Black / M)",
            8000,
            "USD",
            [(black_m.id, 1), (cap_sku.id, 1)],
        )
    async with c.uow(readonly=True) as uow:
        all_skus = await uow.catalog.list_skus()
        bundles = await uow.catalog.get_bundles()
    drop = await c.drops.create(DEMO_DROP, "USD", hold_ttl_s=90)
    for sku in all_skus:
        qty = 150 if sku.code == "CAP-ONE" else 50
        await c.drops.set_offer(drop.id, sku.id, qty, per_buyer_limit=2)
    for b in bundles.values():
        if b.code == "BNDL-HOOD-CAP":
            await c.drops.add_bundle(drop.id, b.id)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED, actor="demo")
    await c.drops.transition(drop.id, DropStatus.LIVE, actor="demo")
    return DemoShop(drop.id, True)
