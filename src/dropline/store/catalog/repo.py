"""Products, SKUs and bundles."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, insert, select, type_coerce, update

from dropline.domain.catalog.items import Bundle, BundleComponent, Product, Sku
from dropline.domain.money import Money
from dropline.store.base import Repository
from dropline.store.catalog.tables import bundle_components, bundles, products, skus
from dropline.store.live.tables import drop_bundles, drop_offers, drops
from dropline.store.stock.tables import stock_levels


def _sku(row: Any) -> Sku:
    return Sku(
        id=row.id,
        product_id=row.product_id,
        code=row.code,
        price=Money(int(row.price_amount), row.currency),
        attributes=dict(row.attributes or {}),
        safety_qty=row.safety_qty,
        safety_pct=row.safety_pct,
        bin_location=row.bin_location,
        archived=row.archived_at is not None,
    )


def _product(row: Any) -> Product:
    return Product(row.id, row.name, row.description, row.archived_at is not None)


_SKU_COLUMNS = [c for c in skus.c if c.name not in ("attributes", "created_at")]
#: Ids per ``IN (...)`` query: below SQLite's smallest bound-parameter limit (999).
_IN_BATCH = 900


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _IN_BATCH):
        yield ids[i : i + _IN_BATCH]


class CatalogRepository(Repository):
    async def add_product(self, product: Product) -> None:
        await self.conn.execute(
            insert(products).values(
                id=product.id,
                name=product.name,
                description=product.description,
                created_at=self.now(),
            )
        )

    async def get_product(self, product_id: str) -> Product | None:
        row = (await self.conn.execute(select(products).where(products.c.id == product_id))).first()
        return _product(row) if row else None

    async def get_products(self, product_ids: Iterable[str]) -> dict[str, Product]:
        """Products by id in a few batched queries (a large drop has thousands)."""
        out: dict[str, Product] = {}
        for chunk in _chunks(sorted(set(product_ids))):
            rows = await self.conn.execute(select(products).where(products.c.id.in_(chunk)))
            out.update({r.id: _product(r) for r in rows})
        return out

    async def list_products(self, *, archived: bool = True) -> list[Product]:
        """Products oldest first; ``archived=False`` leaves archived ones out."""
        stmt = select(products).order_by(products.c.created_at, products.c.id)
        if not archived:
            stmt = stmt.where(products.c.archived_at.is_(None))
        return [_product(r) for r in await self.conn.execute(stmt)]

    async def add_sku(self, sku: Sku) -> None:
        await self.conn.execute(
            insert(skus).values(
                id=sku.id,
                product_id=sku.product_id,
                code=sku.code,
                price_amount=sku.price.amount,
                currency=sku.price.currency,
                attributes=dict(sku.attributes),
                safety_qty=sku.safety_qty,
                safety_pct=sku.safety_pct,
                bin_location=sku.bin_location,
                created_at=self.now(),
            )
        )
        await self.conn.execute(insert(stock_levels).values(sku_id=sku.id))

    async def update_sku_safety(self, sku_id: str, qty: int, pct: int) -> None:
        await self.conn.execute(
            skus.update().where(skus.c.id == sku_id).values(safety_qty=qty, safety_pct=pct)
        )

    async def get_sku(self, sku_id: str) -> Sku | None:
        row = (await self.conn.execute(select(skus).where(skus.c.id == sku_id))).first()
        return _sku(row) if row else None

    async def get_sku_by_code(self, code: str) -> Sku | None:
        row = (await self.conn.execute(select(skus).where(skus.c.code == code))).first()
        return _sku(row) if row else None

    async def get_skus(self, sku_ids: Iterable[str]) -> dict[str, Sku]:
        """SKUs by id in a few batched queries (a large drop has thousands). The JSON
        ``attributes`` are read as text and each distinct text parsed once: variants
        repeat a handful of values, and parsing was most of a 10,000-SKU load."""
        out: dict[str, Sku] = {}
        parsed: dict[str | None, dict[str, str]] = {}
        for chunk in _chunks(sorted(set(sku_ids))):
            rows = await self.conn.execute(
                select(
                    *_SKU_COLUMNS, type_coerce(skus.c.attributes, Text).label("attributes")
                ).where(skus.c.id.in_(chunk))
            )
            for r in rows:
                raw = r.attributes
                if isinstance(raw, str | None):  # SQLite: text; asyncpg decodes JSON itself
                    attrs = parsed.get(raw)
                    if attrs is None:
                        attrs = parsed[raw] = json.loads(raw) if raw else {}
                else:
                    attrs = raw
                out[r.id] = Sku(
                    r.id,
                    r.product_id,
                    r.code,
                    Money(int(r.price_amount), r.currency),
                    dict(attrs),
                    r.safety_qty,
                    r.safety_pct,
                    r.bin_location,
                    r.archived_at is not None,
                )
        return out

    async def list_skus(self, product_id: str | None = None) -> list[Sku]:
        stmt = select(skus).order_by(skus.c.created_at, skus.c.code)
        if product_id:
            stmt = stmt.where(skus.c.product_id == product_id)
        return [_sku(r) for r in await self.conn.execute(stmt)]

    async def add_bundle(self, bundle: Bundle) -> None:
        await self.conn.execute(
            insert(bundles).values(
                id=bundle.id,
                code=bundle.code,
                name=bundle.name,
                price_amount=bundle.price.amount,
                currency=bundle.price.currency,
                created_at=self.now(),
            )
        )
        await self.conn.execute(
            insert(bundle_components),
            [
                {"bundle_id": bundle.id, "sku_id": c.sku_id, "quantity": c.quantity}
                for c in bundle.components
            ],
        )

    async def get_bundles(self, bundle_ids: Sequence[str] | None = None) -> dict[str, Bundle]:
        stmt = select(bundles).order_by(bundles.c.created_at)
        if bundle_ids is not None:
            if not bundle_ids:
                return {}
            stmt = stmt.where(bundles.c.id.in_(list(bundle_ids)))
        rows = list(await self.conn.execute(stmt))
        if not rows:
            return {}
        comps: dict[str, list[BundleComponent]] = {}
        crow = await self.conn.execute(
            select(bundle_components)
            .where(bundle_components.c.bundle_id.in_([r.id for r in rows]))
            .order_by(bundle_components.c.sku_id)
        )
        for c in crow:
            comps.setdefault(c.bundle_id, []).append(BundleComponent(c.sku_id, c.quantity))
        return {
            r.id: Bundle(
                r.id,
                r.code,
                r.name,
                Money(int(r.price_amount), r.currency),
                tuple(comps[r.id]),
                r.archived_at is not None,
            )
            for r in rows
        }

    async def code_taken(self, code: str) -> bool:
        """SKU and bundle codes share one namespace so a code names one thing."""
        for table in (skus, bundles):
            if (await self.conn.execute(select(table.c.id).where(table.c.code == code))).first():
                return True
        return False

    # ------------------------------------------------------------------ edits
    async def update_product(self, product_id: str, **values: Any) -> None:
        """Change a product's ``name`` and/or ``description``."""
        await self.conn.execute(update(products).where(products.c.id == product_id).values(values))

    async def update_sku(self, sku_id: str, **values: Any) -> None:
        """Change a SKU's ``code``, ``price_amount``, ``attributes`` or ``bin_location``."""
        if "attributes" in values:
            values["attributes"] = dict(values["attributes"])
        await self.conn.execute(update(skus).where(skus.c.id == sku_id).values(values))

    async def update_bundle(self, bundle_id: str, **values: Any) -> None:
        """Change a bundle's ``name`` and/or ``price_amount``."""
        await self.conn.execute(update(bundles).where(bundles.c.id == bundle_id).values(values))

    async def set_archived(self, table: str, ids: Sequence[str], at: datetime | None) -> None:
        """Archive (``at``: when) or restore (None) rows of ``products``, ``skus`` or
        ``bundles``."""
        t = _ARCHIVABLE[table]
        if ids:
            await self.conn.execute(update(t).where(t.c.id.in_(list(ids))).values(archived_at=at))

    async def archived_at(self, table: str, item_id: str) -> datetime | None:
        t = _ARCHIVABLE[table]
        value: datetime | None = await self.conn.scalar(
            select(t.c.archived_at).where(t.c.id == item_id)
        )
        return value

    async def skus_archived_at(self, product_id: str, at: datetime) -> list[str]:
        """The product's SKUs archived at ``at`` (with the product, not before it)."""
        rows = await self.conn.execute(
            select(skus.c.id).where(skus.c.product_id == product_id, skus.c.archived_at == at)
        )
        return [r.id for r in rows]

    async def open_drops_offering(self, sku_ids: Sequence[str]) -> dict[str, str]:
        """``{sku_id: drop_id}`` for SKUs offered in a drop that has not ended."""
        if not sku_ids:
            return {}
        rows = await self.conn.execute(
            select(drop_offers.c.sku_id, drop_offers.c.drop_id, drops.c.status)
            .join(drops, drops.c.id == drop_offers.c.drop_id)
            .where(drop_offers.c.sku_id.in_(list(sku_ids)), drops.c.status != "ended")
            .order_by(drops.c.created_at)
        )
        return {r.sku_id: r.drop_id for r in rows}

    async def drops_selling(
        self, sku_ids: Sequence[str] = (), bundle_ids: Sequence[str] = ()
    ) -> dict[str, str]:
        """``{drop_id: status}`` of drops that have not ended and sell any of the SKUs
        or bundles (directly, or a bundle through one of its components)."""
        out: dict[str, str] = {}
        if sku_ids:
            rows = await self.conn.execute(
                select(drops.c.id, drops.c.status)
                .join(drop_offers, drop_offers.c.drop_id == drops.c.id)
                .where(drop_offers.c.sku_id.in_(list(sku_ids)), drops.c.status != "ended")
            )
            out.update({r.id: r.status for r in rows})
        if bundle_ids:
            rows = await self.conn.execute(
                select(drops.c.id, drops.c.status)
                .join(drop_bundles, drop_bundles.c.drop_id == drops.c.id)
                .where(drop_bundles.c.bundle_id.in_(list(bundle_ids)), drops.c.status != "ended")
            )
            out.update({r.id: r.status for r in rows})
        return out

    async def bundles_with(self, sku_ids: Sequence[str]) -> list[str]:
        """Ids of bundles that contain any of the SKUs."""
        if not sku_ids:
            return []
        rows = await self.conn.execute(
            select(bundle_components.c.bundle_id)
            .where(bundle_components.c.sku_id.in_(list(sku_ids)))
            .distinct()
        )
        return [r.bundle_id for r in rows]

    async def touch_drops(self, drop_ids: Iterable[str]) -> None:
        """Bump the catalog version of drops whose names, labels or prices changed, so
        every process's drop catalog cache reloads them."""
        ids = sorted(set(drop_ids))
        if ids:
            await self.conn.execute(
                update(drops)
                .where(drops.c.id.in_(ids))
                .values(catalog_version=drops.c.catalog_version + 1)
            )


_ARCHIVABLE: Mapping[str, Table] = {"products": products, "skus": skus, "bundles": bundles}
