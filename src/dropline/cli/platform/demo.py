"""``dropline demo``: the demo shop (a hoodie in 3 colours × 4 sizes, a cap, a
hoodie+cap bundle) and a live drop offering them. Seeding is idempotent: a second run
changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dropline.bootstrap import Container
from dropline.cli.console import console, run
from dropline.domain.live.drops import DropStatus

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
    # The demo is not a real drop: an enforced readiness gate is overridden, on record.
    await c.drops.transition(
        drop.id, DropStatus.LIVE, actor="demo", override_reason="the demo shop, not a real drop"
    )
    return DemoShop(drop.id, True)


def demo() -> None:
    """Seed the demo shop (hoodie 3 colours × 4 sizes, cap, bundle) and a live drop,
    then print an admin and a storefront key and a buyer token to try the API."""

    async def go(c: Container) -> None:
        shop = await seed(c)
        admin, _ = await c.access.create_key("demo admin", "admin")
        store, _ = await c.access.create_key("demo storefront", "storefront")
        token = c.access.mint("buyer-demo-1", ttl_s=7 * 24 * 3600)
        base = c.settings.base_url
        env = Path(c.settings.data_dir) / "demo.env"
        env.parent.mkdir(parents=True, exist_ok=True)
        env.write_text(
            f"export DL={base}\nexport ADMIN_KEY={admin}\nexport STORE_KEY={store}\n"
            f"export BUYER_TOKEN={token}\nexport DROP={shop.drop_id}\n"
        )
        env.chmod(0o600)
        console.print(
            f"demo drop [bold]{shop.drop_id}[/bold] "
            f"({'created' if shop.created else 'already there'})\n"
            f"  admin key:      {admin}\n  storefront key: {store}\n"
            f"  buyer token:    {token}\n"
            f"  API docs:       {base}/docs\n"
            f"  public view:    curl -H 'Authorization: Bearer {store}' "
            f"{base}/v1/drops/{shop.drop_id}/public\n"
            f"  shell:          source {env}   (sets DL, ADMIN_KEY, STORE_KEY, BUYER_TOKEN, DROP)\n"
            f"  live monitor:   {base}/ui/drops/{shop.drop_id} (log in with the admin key)\n"
            f"  ops pages:      {base}/ui/orders, /ui/messages, /ui/webhooks, /ui/returns\n"
            f"  rehearse:       DROPLINE_OPS_KEY={admin} dropline simulate {shop.drop_id} "
            "--viewers 200 --duration 60"
        )

    run(go)
