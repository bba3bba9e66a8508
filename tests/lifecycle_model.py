"""The model behind ``tests/integration/test_lifecycle_model.py``: one drop's world as
the test believes it to be, and what the stock buckets must hold because of it.

The model only ever learns from what it told the services and what they answered
(an order id, an allocation, a refund amount), never from the database it checks. From
that it derives, per SKU, what every bucket must hold:

    committed       = units of paid orders not shipped and not cancelled
                      (in-stock lines, and lot units allocated to pre-orders)
    reserved        = offered − sold while the drop is on sale, 0 once it ended
    quality_control = units of lots not yet passed or disposed of
                      + returned units sent to inspection (and not released since)
    damaged         = units of scrapped lots + returned units scrapped
    on_hand         = received + lots received − lots returned to the manufacturer
                      − units shipped + units returned
    available       = on_hand − everything above (safety is 0 in this world)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.holds import HoldItem, ItemKind
from dropline.domain.stock.buckets import Bucket
from dropline.domain.supply.production import RunLine
from preorders_support import SPEC, now
from support import unique_suffix

PRICES = {"A": 2500, "B": 1500, "P": 4000, "AB": 3500}
DAY = 24 * 3600


@dataclass
class World:
    """What was seeded: ids by the model's short names (A, B in stock, P pre-order, AB
    the bundle of one A and one B) and the fixed facts about them."""

    drop_id: str
    sku: dict[str, str]  # short name -> SKU id
    bundle_id: str
    run_id: str
    manufacturer_id: str
    product_id: str
    limits: dict[str, int | None]  # per SKU id
    received: dict[str, int]  # per SKU id, units received before the drop
    offered: dict[str, int]  # per SKU id (the pre-order's cap for P)
    payment_mode: str
    preorder_closes_at: float

    def item(self, name: str, qty: int) -> HoldItem:
        if name == "AB":
            return HoldItem(ItemKind.BUNDLE, self.bundle_id, qty)
        return HoldItem(ItemKind.SKU, self.sku[name], qty)

    def units(self, items: list[tuple[str, int]]) -> dict[str, int]:
        out: Counter[str] = Counter()
        for name, qty in items:
            for part in ("A", "B") if name == "AB" else (name,):
                out[self.sku[part]] += qty
        return dict(out)


async def seed_world(
    c: Container,
    *,
    offered_a: int,
    offered_b: int,
    extra: int,
    cap: int,
    limit: int | None,
    payment_mode: str,
    ttl: int,
) -> World:
    """A product with two in-stock SKUs (A, B: ``offered_* + extra`` received each), a
    bundle of one A and one B, a pre-order SKU P made by a production run (which also
    makes A: a restock) with a frozen QC spec and warehouse intake in a day, and a live
    drop offering A, B, the bundle and P (``cap`` units, window open three days)."""
    suffix = unique_suffix()
    product = await c.catalog.create_product("Hoodie")
    sku: dict[str, str] = {}
    for name in ("A", "B", "P"):
        s = await c.catalog.create_sku(
            product.id, f"H-{name}-{suffix}", PRICES[name], "USD", {"size": name}
        )
        sku[name] = s.id
    received = {sku["A"]: offered_a + extra, sku["B"]: offered_b + extra, sku["P"]: 0}
    for sku_id, qty in received.items():
        if qty:
            await c.stock.receive(sku_id, qty)
    bundle = await c.catalog.create_bundle(
        f"AB-{suffix}", "A and B", PRICES["AB"], "USD", [(sku["A"], 1), (sku["B"], 1)]
    )
    mfr = await c.production.create_manufacturer("Knit Co", sample_approver="Dana")
    spec = await c.qc_specs.create_spec(product.id, "Hoodie v1", SPEC, actor="lee")
    sample = await c.qc_specs.register_sample(spec["spec_id"], 1, "size M", actor="lee")
    await c.qc_specs.approve_sample(sample["id"], approver="Dana")
    run = await c.production.create_run(
        mfr["id"],
        "Batch 1",
        "USD",
        [RunLine(sku["P"], 500), RunLine(sku["A"], 500)],
        qc_spec=(spec["spec_id"], 1),
        actor="lee",
    )
    await c.production.set_milestone(
        run["id"], "warehouse_intake", planned_at=now(c) + timedelta(days=1), actor="lee"
    )
    drop = await c.drops.create("Model drop", "USD", hold_ttl_s=ttl)
    limits = {sku["A"]: limit, sku["B"]: limit, sku["P"]: limit}
    await c.drops.set_offer(drop.id, sku["A"], offered_a, per_buyer_limit=limit)
    await c.drops.set_offer(drop.id, sku["B"], offered_b, per_buyer_limit=limit)
    await c.drops.add_bundle(drop.id, bundle.id)
    closes = now(c) + timedelta(days=3)
    await c.preorders.set_offer(
        drop.id, sku["P"], run["id"], cap, closes, payment_mode, per_buyer_limit=limit
    )
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    return World(
        drop_id=drop.id,
        sku=sku,
        bundle_id=bundle.id,
        run_id=run["id"],
        manufacturer_id=mfr["id"],
        product_id=product.id,
        limits=limits,
        received=received,
        offered={sku["A"]: offered_a, sku["B"]: offered_b, sku["P"]: cap},
        payment_mode=payment_mode,
        preorder_closes_at=closes.timestamp(),
    )


@dataclass
class ModelOrder:
    """A paid order as the model knows it. ``lines`` are (short name, quantity) in line
    order (line numbers from 1); ``units`` all its SKU units, ``pre`` those of the
    pre-order SKU (waiting for the run), ``allocated`` the pre-order units a lot gave it."""

    id: str
    buyer: str
    lines: list[tuple[str, int]]
    units: dict[str, int]
    pre: dict[str, int]
    total: int
    paid_at: float
    status: str = "paid"
    refunded: int = 0
    cancelled: bool = False  # its units were given back
    shipped: bool = False  # its units left the building
    allocated: dict[str, int] = field(default_factory=dict)
    returned: dict[int, int] = field(default_factory=dict)  # line_no -> units asked back

    @property
    def is_preorder(self) -> bool:
        return bool(self.pre)

    @property
    def in_stock(self) -> dict[str, int]:
        return {s: q for s, q in self.units.items() if s not in self.pre}

    @property
    def ready(self) -> bool:
        """Every unit is in the building: nothing waits for the run."""
        return all(self.allocated.get(s, 0) >= q for s, q in self.pre.items())

    @property
    def waiting(self) -> bool:
        return self.is_preorder and not self.ready and not self.cancelled


@dataclass
class ModelLot:
    id: str
    sku_id: str
    quantity: int
    status: str = "quality_control"  # passed, rejected, rework, returned, scrapped


@dataclass
class Model:
    world: World
    orders: dict[str, ModelOrder] = field(default_factory=dict)
    lots: dict[str, ModelLot] = field(default_factory=dict)
    # units that came back in returns, per SKU and the bucket they went to
    returned: Counter[tuple[str, Bucket]] = field(default_factory=Counter)
    released_from_qc: Counter[str] = field(default_factory=Counter)  # by hand, after a look
    ended: bool = False

    def sold(self, sku_id: str) -> int:
        """Units of the SKU in orders that were not cancelled (the offer's ``sold``)."""
        return sum(o.units.get(sku_id, 0) for o in self.orders.values() if not o.cancelled)

    def bought(self, buyer: str, sku_id: str) -> int:
        """Units of the SKU the buyer has in orders not cancelled."""
        return sum(
            o.units.get(sku_id, 0)
            for o in self.orders.values()
            if o.buyer == buyer and not o.cancelled
        )

    def expected_levels(self) -> dict[str, dict[Bucket, int]]:
        """Every bucket of every SKU, from the model alone (see the module docstring)."""
        out = {}
        for sku_id in self.world.sku.values():
            is_pre = sku_id == self.world.sku["P"]
            committed = shipped = 0
            for o in self.orders.values():
                held_here = (0 if is_pre else o.in_stock.get(sku_id, 0)) + o.allocated.get(
                    sku_id, 0
                )
                if o.shipped:
                    shipped += held_here
                elif not o.cancelled:
                    committed += held_here
            reserved = 0
            if not is_pre and not self.ended:
                reserved = self.world.offered[sku_id] - self.sold(sku_id)
            lots = [lot for lot in self.lots.values() if lot.sku_id == sku_id]
            qc = sum(
                lot.quantity
                for lot in lots
                if lot.status in ("quality_control", "rejected", "rework")
            )
            qc += self.returned[(sku_id, Bucket.QUALITY_CONTROL)] - self.released_from_qc[sku_id]
            damaged = sum(lot.quantity for lot in lots if lot.status == "scrapped")
            damaged += self.returned[(sku_id, Bucket.DAMAGED)]
            on_hand = (
                self.world.received[sku_id]
                + sum(lot.quantity for lot in lots)
                - sum(lot.quantity for lot in lots if lot.status == "returned")
                - shipped
                + sum(n for (s, _), n in self.returned.items() if s == sku_id)
            )
            available = on_hand - committed - reserved - qc - damaged
            out[sku_id] = {
                Bucket.AVAILABLE: available,
                Bucket.COMMITTED: committed,
                Bucket.RESERVED: reserved,
                Bucket.SAFETY: 0,
                Bucket.QUALITY_CONTROL: qc,
                Bucket.DAMAGED: damaged,
            }
        return out

    def fifo_allocation(self, sku_id: str, units: int) -> dict[str, int]:
        """What a passed lot of ``units`` must give to waiting pre-orders: first paid,
        first served (ties by order id), the rest to ``available``."""
        plan: dict[str, int] = {}
        left = units
        waiting = sorted(
            (o for o in self.orders.values() if o.waiting and sku_id in o.pre),
            key=lambda o: (o.paid_at, o.id),
        )
        for o in waiting:
            give = min(left, o.pre[sku_id] - o.allocated.get(sku_id, 0))
            if give > 0:
                plan[o.id] = give
                left -= give
        return plan | {"available": left}
