"""Seeding helpers shared by the test suites."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.holds import HoldItem, ItemKind
from dropline.store.live.tables import drop_offers

_SEEDS = itertools.count(1)


def unique_suffix() -> str:
    """A suffix no other seed of this test run uses, for codes that must be unique.
    (``id(container)`` was not: a freed container's address is soon reused, and tests
    sharing one database then collided on SKU codes.)"""
    return f"{os.getpid() % 100_000}.{next(_SEEDS)}"


@dataclass
class Shop:
    drop_id: str
    skus: list[str]
    bundle_id: str | None = None
    prices: dict[str, int] = field(default_factory=dict)


async def seed_shop(
    c: Container,
    *,
    units: int = 10,
    skus: int = 1,
    limit: int | None = None,
    bundle: bool = False,
    live: bool = True,
    received: int | None = None,
    ttl: int = 90,
) -> Shop:
    """A product with ``skus`` variants at 2,500 minor units each, ``units`` offered of
    each, optionally a 2-SKU bundle (first two SKUs) at 4,000, and the drop live."""
    product = await c.catalog.create_product("Tee")
    suffix = unique_suffix()
    ids = []
    prices = {}
    for n in range(skus):
        sku = await c.catalog.create_sku(
            product.id,
            f"TEE-{n}-{suffix}",
            2500,
            "USD",
            {"size": f"S{n}"},
            bin_location=f"A-{n:02d}",
        )
        await c.stock.receive(sku.id, received if received is not None else units)
        ids.append(sku.id)
        prices[sku.id] = 2500
    drop = await c.drops.create("Test drop", "USD", hold_ttl_s=ttl)
    for sku_id in ids:
        await c.drops.set_offer(drop.id, sku_id, units, per_buyer_limit=limit)
    bundle_id = None
    if bundle:
        b = await c.catalog.create_bundle(
            f"BNDL-{suffix}", "Tee pair", 4000, "USD", [(ids[0], 1), (ids[1], 1)]
        )
        await c.drops.add_bundle(drop.id, b.id)
        bundle_id = b.id
        prices[b.id] = 4000
    if live:
        await c.drops.transition(drop.id, DropStatus.SCHEDULED)
        await c.drops.transition(drop.id, DropStatus.LIVE)
    return Shop(drop.id, ids, bundle_id, prices)


def sku_item(sku_id: str, quantity: int = 1) -> HoldItem:
    return HoldItem(ItemKind.SKU, sku_id, quantity)


def bundle_item(bundle_id: str, quantity: int = 1) -> HoldItem:
    return HoldItem(ItemKind.BUNDLE, bundle_id, quantity)


class ProviderWrapper:
    """The real provider (``self.inner``) behind a test's own versions of some calls.

    It is a provider of its own, as Stripe is: its authorisations and captures are calls
    made between the checkout's steps, never rows of the checkout's own transaction
    (``services.ports.WritesInTransaction`` is hidden), so the test's versions are the
    ones that run."""

    inner: Any
    _IN_TRANSACTION = frozenset({"writes_in", "authorize_in", "capture_in"})

    def __getattr__(self, name: str) -> Any:
        if name in self._IN_TRANSACTION:
            raise AttributeError(name)
        return getattr(self.inner, name)


async def sell_elsewhere(c: Container, drop_id: str, sku: str, units: int = 1) -> None:
    """Count ``units`` of ``sku`` as sold in the ledger behind the engine's back: the
    ledger then has fewer units than the engine believes, and refuses the last sale."""
    async with c.uow() as uow:
        await uow.conn.execute(
            update(drop_offers)
            .where(drop_offers.c.drop_id == drop_id, drop_offers.c.sku_id == sku)
            .values(sold=drop_offers.c.sold + units)
        )
        await uow.commit()
