"""A read-mostly snapshot of what a drop sells, cached for the hot path.

Placing a hold must not touch the database: the bundle expansion and prices it needs
come from this cache. Entries live a couple of seconds (other processes may change a
draft drop) and are dropped at once when this process changes the drop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from dropline.domain.catalog import Bundle, Product, Sku
from dropline.domain.drops import Drop, Offer
from dropline.domain.errors import NotFound
from dropline.services.preorders import PreorderInfo, preorder_infos
from dropline.store.uow import UowFactory


@dataclass(frozen=True)
class DropCatalog:
    drop: Drop
    offers: dict[str, Offer]
    skus: dict[str, Sku]
    products: dict[str, Product]
    bundles: dict[str, Bundle]
    #: SKUs offered as pre-orders (their ``offers`` entry holds the cap and sold count).
    preorders: dict[str, PreorderInfo] = field(default_factory=dict)

    def describe_sku(self, sku_id: str) -> str:
        sku = self.skus[sku_id]
        product = self.products.get(sku.product_id)
        name = product.name if product else sku.code
        label = sku.label()
        return f"{name} — {label}" if label != sku.code else name


class DropCatalogCache:
    def __init__(self, uow: UowFactory, ttl_s: float = 2.0) -> None:
        self.uow = uow
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, DropCatalog]] = {}
        self._loading: dict[str, asyncio.Future[DropCatalog]] = {}

    def invalidate(self, drop_id: str) -> None:
        self._entries.pop(drop_id, None)
        self._loading.pop(drop_id, None)

    def clear(self) -> None:
        """Forget every entry (a production run's estimate moved: many drops may show it)."""
        self._entries.clear()
        self._loading.clear()  # loads in flight may predate the change: do not store them

    async def get(self, drop_id: str) -> DropCatalog:
        """The drop's catalog, at most ``ttl_s`` old. Concurrent misses share one load
        (single flight): when an entry expires under a burst of taps, the database is
        read once, not once per waiting request."""
        hit = self._entries.get(drop_id)
        mono = time.monotonic()
        if hit is not None and mono - hit[0] < self.ttl_s:
            return hit[1]
        pending = self._loading.get(drop_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fill(drop_id, mono))
            self._loading[drop_id] = pending
        return await asyncio.shield(pending)

    async def _fill(self, drop_id: str, mono: float) -> DropCatalog:
        me = asyncio.current_task()
        try:
            catalog = await self.load(drop_id)
            if self._loading.get(drop_id) is me:  # not invalidated while loading
                self._entries[drop_id] = (mono, catalog)
            return catalog
        finally:
            if self._loading.get(drop_id) is me:
                del self._loading[drop_id]

    async def load(self, drop_id: str) -> DropCatalog:
        async with self.uow(readonly=True) as uow:
            drop = await uow.drops.get(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            offers = await uow.drops.offers(drop_id)
            bundles = await uow.catalog.get_bundles(await uow.drops.bundle_ids(drop_id))
            sku_ids = set(offers) | {c.sku_id for b in bundles.values() for c in b.components}
            skus = await uow.catalog.get_skus(sku_ids)
            products = {}
            for pid in sorted({s.product_id for s in skus.values()}):
                p = await uow.catalog.get_product(pid)
                if p is not None:
                    products[pid] = p
            preorders = await preorder_infos(uow, drop_id)
        return DropCatalog(drop, offers, skus, products, bundles, preorders)
