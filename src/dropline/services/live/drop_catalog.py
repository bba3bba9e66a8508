"""A read-mostly snapshot of what a drop sells, cached for the hot path.

Placing a hold must not touch the database: the bundle expansion and prices it needs
come from this cache.

Freshness, and why it is cheap:

- A change made by this process (``DropService``, pre-order and production changes)
  drops the entry at once (``invalidate``/``clear``): the next caller waits for a load.
- Another process may change a drop too. Each entry remembers the drop's
  ``catalog_version`` (bumped in the same transaction as every change to its status,
  offers, pauses or bundles, see ``store/live/drop_repo.py``). Once an entry is half its
  TTL old, the next request starts a *revalidation* in the background and is served
  the entry it has (stale-while-revalidate): one tiny query reads the version and the
  drop's pre-order infos (their ship estimates follow production runs, so they are
  re-read each time; a drop has few); only if the version moved is the whole catalog
  reloaded. So another process's change is seen within ``ttl_s``, and a drop with
  10,000 SKUs is not reloaded (and parsed on the event loop) every couple of seconds.
- Only an entry older than the full ``ttl_s`` (no request for that long, or a
  revalidation that failed) makes callers wait, for the revalidation in flight.
- SKU, product and bundle rows change only through ``CatalogService`` edits (a name,
  a variant's attributes, a price), which bump the catalog version of every drop that
  sells the item (and drop this process's entries); a SKU's safety-stock policy and
  its archive flag change without a bump, as no reader of this cache uses them.
- ``offers[...].sold`` is as fresh as the last catalog change: recording a sale does
  not bump the version (sales are frequent). While a drop sells, live counts come from
  the engine; once it has stopped, ``sold`` no longer moves except through ``unsell``,
  which does bump it.

A (re)load reads the drop in a handful of batched queries (no query per SKU or
product), in one read transaction with the version it is stored under.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dropline.domain.catalog.items import Bundle, Product, Sku, full_label
from dropline.domain.catalog.variants import variant_key
from dropline.domain.errors import NotFound
from dropline.domain.live.drops import Drop, Offer
from dropline.services.supply.preorders import PreorderInfo, preorder_infos
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)


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
        """``Logo Hoodie — Black / M`` (``domain/catalog/items.full_label``)."""
        sku = self.skus[sku_id]
        product = self.products.get(sku.product_id)
        return full_label(product.name if product else sku.code, sku)

    def sort_key(self, sku_id: str) -> tuple[object, ...]:
        """Where the SKU goes in any list a person reads: by product, colour, then size
        in wearing order (``domain/catalog/variants.variant_key``)."""
        sku = self.skus.get(sku_id)
        if sku is None:
            return variant_key("", {}, sku_id)
        product = self.products.get(sku.product_id)
        return variant_key(product.name if product else "", sku.attributes, sku.code)


@dataclass(frozen=True)
class _Entry:
    catalog: DropCatalog
    #: ``drops.catalog_version`` the catalog was loaded (or last confirmed) at.
    version: int
    #: ``time.monotonic()`` when that load or confirmation started.
    checked: float


class DropCatalogCache:
    def __init__(
        self,
        uow: UowFactory,
        ttl_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uow = uow
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[DropCatalog]] = {}
        #: Full loads and version checks done (for tests and profiling).
        self.loads = 0
        self.checks = 0

    def invalidate(self, drop_id: str) -> None:
        """This process changed the drop: the next ``get`` waits for a fresh load."""
        self._entries.pop(drop_id, None)
        self._loading.pop(drop_id, None)  # a load in flight may predate the change

    def clear(self) -> None:
        """Forget every entry (a production run's estimate moved: many drops may show it)."""
        self._entries.clear()
        self._loading.clear()  # loads in flight may predate the change: do not store them

    async def get(self, drop_id: str) -> DropCatalog:
        """The drop's catalog, at most ``ttl_s`` behind the database.

        An entry older than ``ttl_s / 2`` is still returned at once while one
        revalidation runs behind it; only a missing entry, or one older than ``ttl_s``,
        makes the caller wait. Concurrent waiters share one load (single flight): under
        a burst of taps the database is read once, not once per waiting request."""
        entry = self._entries.get(drop_id)
        if entry is not None:
            age = self._monotonic() - entry.checked
            if age < self.ttl_s / 2:
                return entry.catalog
            pending = self._revalidate(drop_id, entry)
            if age < self.ttl_s:
                return entry.catalog
        else:
            pending = self._revalidate(drop_id, None)
        return await asyncio.shield(pending)

    def _revalidate(self, drop_id: str, entry: _Entry | None) -> asyncio.Future[DropCatalog]:
        pending = self._loading.get(drop_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fill(drop_id, entry))
            pending.add_done_callback(_retrieve)
            self._loading[drop_id] = pending
        return pending

    async def _fill(self, drop_id: str, entry: _Entry | None) -> DropCatalog:
        me = asyncio.current_task()
        mono = self._monotonic()
        try:
            async with self.uow(readonly=True) as uow:
                version = await uow.drops.catalog_version(drop_id)
                if version is None:
                    raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
                if entry is not None and entry.version == version:
                    self.checks += 1
                    catalog = entry.catalog
                    preorders = await preorder_infos(uow, drop_id)
                    if preorders != catalog.preorders:
                        catalog = dataclasses.replace(catalog, preorders=preorders)
                else:
                    catalog = await self._read(uow, drop_id)
            if self._loading.get(drop_id) is me:  # not invalidated while loading
                self._entries[drop_id] = _Entry(catalog, version, mono)
            return catalog
        finally:
            if self._loading.get(drop_id) is me:
                del self._loading[drop_id]

    async def load(self, drop_id: str) -> DropCatalog:
        """Read the drop's catalog from the database now (no cache)."""
        async with self.uow(readonly=True) as uow:
            return await self._read(uow, drop_id)

    async def _read(self, uow: UnitOfWork, drop_id: str) -> DropCatalog:
        self.loads += 1
        drop = await uow.drops.get(drop_id)
        if drop is None:
            raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
        offers = await uow.drops.offers(drop_id)
        bundles = await uow.catalog.get_bundles(await uow.drops.bundle_ids(drop_id))
        sku_ids = set(offers) | {c.sku_id for b in bundles.values() for c in b.components}
        skus = await uow.catalog.get_skus(sku_ids)
        products = await uow.catalog.get_products({s.product_id for s in skus.values()})
        preorders = await preorder_infos(uow, drop_id)
        return DropCatalog(drop, offers, skus, products, bundles, preorders)


def _retrieve(fut: asyncio.Future[DropCatalog]) -> None:
    """A background revalidation nobody awaited may fail: log it (the stale entry stays
    and, once ``ttl_s`` old, makes the next caller wait and see the error)."""
    exc = None if fut.cancelled() else fut.exception()
    if exc is not None and not isinstance(exc, NotFound):
        log.warning("drop catalog revalidation failed: %r", exc)
