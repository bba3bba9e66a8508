"""Seeding helpers for the production, QC and pre-order suites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.domain.supply.production import RunLine
from dropline.store.live.order_records import OrderRecord
from support import sku_item, unique_suffix

VISA = "4242424242424242"

SPEC = {
    "measurements": [{"name": "chest width", "nominal": "52.0", "tolerance": "1.0", "unit": "cm"}],
    "attribute_checks": [{"name": "print", "description": "no cracks, colour matches sample"}],
    "packaging_checks": [{"name": "label", "description": "size label matches SKU"}],
    "aqls": {"critical": "0.065", "major": "2.5", "minor": "4.0"},
    "inspection_level": "II",
}


@dataclass
class Factory:
    product_id: str
    sku_id: str
    manufacturer_id: str
    spec_id: str
    run_id: str
    intake: datetime


def now(c: Container) -> datetime:
    return datetime.fromtimestamp(c.clock.now(), UTC)


async def seed_run(
    c: Container, *, quantity: int = 500, intake_days: int = 20, code: str = "HOOD"
) -> Factory:
    """A product with one SKU, a manufacturer, an approved (frozen) QC spec and a run of
    ``quantity`` units whose warehouse intake is planned ``intake_days`` from now
    (handling 2-5 days)."""
    product = await c.catalog.create_product("Hoodie")
    sku = await c.catalog.create_sku(product.id, f"{code}-{unique_suffix()}", 2500, "USD", {})
    mfr = await c.production.create_manufacturer(
        "Knit Co", sample_approver="Dana", escalation_contact="ops@knit.example"
    )
    spec = await c.qc_specs.create_spec(product.id, "Hoodie v1", SPEC, actor="lee")
    sample = await c.qc_specs.register_sample(spec["spec_id"], 1, "size M, black", actor="lee")
    await c.qc_specs.approve_sample(sample["id"], approver="Dana")
    run = await c.production.create_run(
        mfr["id"],
        "Hoodie batch 1",
        "USD",
        [RunLine(sku.id, quantity, moq=100, tiers=((100, 1400), (500, 1200)))],
        moq=100,
        qc_spec=(spec["spec_id"], 1),
        actor="lee",
    )
    intake = now(c) + timedelta(days=intake_days)
    await c.production.set_milestone(
        run["id"], "warehouse_intake", planned_at=intake, actor="lee", owner="Sam"
    )
    return Factory(product.id, sku.id, mfr["id"], spec["spec_id"], run["id"], intake)


async def preorder_drop(
    c: Container,
    f: Factory,
    *,
    cap: int,
    mode: str = "charge_now",
    closes_in_days: int = 7,
    limit: int | None = None,
) -> str:
    drop = await c.drops.create("Pre-order drop", "USD")
    await c.preorders.set_offer(
        drop.id,
        f.sku_id,
        f.run_id,
        cap,
        now(c) + timedelta(days=closes_in_days),
        mode,
        per_buyer_limit=limit,
    )
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    return drop.id


async def buy(c: Container, drop_id: str, buyer: str, sku_id: str, qty: int = 1) -> OrderRecord:
    hold = await c.holds.place(drop_id, buyer, [sku_item(sku_id, qty)])
    result = await c.checkout.start(hold.id, buyer, VISA)
    assert result.order is not None
    return result.order


async def pass_lot(c: Container, run_id: str, sku_id: str, qty: int, batch: str) -> str:
    """Receive a lot and pass its final inspection; returns the lot id."""
    lot = await c.production.receive(run_id, sku_id, qty, batch, actor="wh")
    ins = await c.qc.inspect(lot["id"], "final_random", {}, inspector="ivy")
    await c.qc.sign_off(ins["id"], approver="Dana")
    return str(lot["id"])
