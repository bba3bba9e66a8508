"""Changing the catalog after the fact: edits and the archive.

Nothing is deleted: an item made by mistake or no longer sold is archived, keeping its
orders, stock and reports, and restored when needed. Edits that change what a buyer
sees (a name, a variant's attributes, a price) bump the catalog version of every drop
that sells the item, so every process's drop catalog cache reloads it; a price cannot
change while a drop selling the item is live or paused (a buyer's hold was priced at
the old one). ``CatalogService`` (``products.py``) inherits these use cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from dropline.domain.catalog.items import Bundle, Product, Sku, ensure_active
from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.live.drops import ENGINE_STATES
from dropline.store.uow import UnitOfWork, UowFactory

MAX_PRICE = 100_000_000_00


def check_price(amount: int) -> None:
    """0 to ``MAX_PRICE`` minor units."""
    if amount < 0 or amount > MAX_PRICE:
        raise InvalidInput("price must be between 0 and 10,000,000,000 minor units")


def check_code(code: str) -> str:
    """A SKU or bundle code: 1 to 80 characters once trimmed."""
    code = code.strip()
    if not code or len(code) > 80:
        raise InvalidInput("a code is 1 to 80 characters")
    return code


def check_name(name: str, what: str) -> str:
    """A product, bundle or drop name: 1 to 200 characters once trimmed."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput(f"a {what} name is 1 to 200 characters")
    return name


def _check_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for k, v in attributes.items():
        key, value = k.strip(), v.strip()
        if not key or not value or len(key) > 40 or len(value) > 80:
            raise InvalidInput("attribute names are 1 to 40 characters, values 1 to 80")
        out[key] = value
    return out


def _refuse_live_price(selling: Mapping[str, str], what: str) -> None:
    live = sorted(d for d, status in selling.items() if status in {s.value for s in ENGINE_STATES})
    if live:
        raise Conflict(
            f"the {what}'s price cannot change while drop {live[0]} sells it; "
            "end or wait for the drop first",
            drop_id=live[0],
        )


class CatalogEdits:
    """Edit, archive and restore products, SKUs and bundles."""

    uow: UowFactory
    _on_drops_changed: Callable[[str], None] | None

    def _changed(self, drop_ids: Iterable[str]) -> None:
        if self._on_drops_changed is not None:
            for drop_id in drop_ids:
                self._on_drops_changed(drop_id)

    async def get_bundle(self, bundle_id: str) -> Bundle:
        async with self.uow(readonly=True) as uow:
            return await _bundle(uow, bundle_id)

    async def edit_product(
        self, product_id: str, *, name: str | None = None, description: str | None = None
    ) -> Product:
        """Rename a product or change its description; drops selling it show the new
        name at once (their catalog version moves)."""
        values: dict[str, str] = {}
        if name is not None:
            values["name"] = check_name(name, "product")
        if description is not None:
            values["description"] = description
        selling: dict[str, str] = {}
        async with self.uow() as uow:
            product = await _product(uow, product_id)
            if values:
                await uow.catalog.update_product(product_id, **values)
                sku_ids = [s.id for s in await uow.catalog.list_skus(product_id)]
                selling = await uow.catalog.drops_selling(
                    sku_ids, await uow.catalog.bundles_with(sku_ids)
                )
                await uow.catalog.touch_drops(selling)
                uow.record(DomainEvent("product.updated", "product", product_id, 1, values))
            await uow.commit()
        self._changed(selling)
        return Product(
            product.id,
            values.get("name", product.name),
            values.get("description", product.description),
            product.archived,
        )

    async def edit_sku(
        self,
        sku_id: str,
        *,
        code: str | None = None,
        price_amount: int | None = None,
        attributes: Mapping[str, str] | None = None,
        bin_location: str | None = None,
    ) -> Sku:
        """Change a SKU's code, price (its currency stays), attributes or bin. The code
        must stay unique; the price is refused (409) while a drop selling the SKU is
        live or paused."""
        values: dict[str, object] = {}
        if code is not None:
            values["code"] = check_code(code)
        if price_amount is not None:
            check_price(price_amount)
            values["price_amount"] = price_amount
        if attributes is not None:
            values["attributes"] = _check_attributes(attributes)
        if bin_location is not None:
            if len(bin_location) > 40:
                raise InvalidInput("a bin location is at most 40 characters")
            values["bin_location"] = bin_location.strip()
        async with self.uow() as uow:
            sku = await _sku(uow, sku_id)
            new_code = values.get("code", sku.code)
            if new_code != sku.code and await uow.catalog.code_taken(str(new_code)):
                raise Conflict(f"code {new_code!r} is already used", code=new_code)
            selling = await uow.catalog.drops_selling(
                [sku_id], await uow.catalog.bundles_with([sku_id])
            )
            if price_amount is not None and price_amount != sku.price.amount:
                _refuse_live_price(selling, "SKU")
            if values:
                await uow.catalog.update_sku(sku_id, **values)
                await uow.catalog.touch_drops(selling)
                uow.record(DomainEvent("sku.updated", "sku", sku_id, 1, dict(values)))
            updated = await _sku(uow, sku_id)
            await uow.commit()
        if values:
            self._changed(selling)
        return updated

    async def edit_bundle(
        self, bundle_id: str, *, name: str | None = None, price_amount: int | None = None
    ) -> Bundle:
        """Rename a bundle or change its price (refused while a drop selling it is live
        or paused). Its components do not change: archive it and make another."""
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = check_name(name, "bundle")
        if price_amount is not None:
            check_price(price_amount)
            values["price_amount"] = price_amount
        async with self.uow() as uow:
            bundle = await _bundle(uow, bundle_id)
            selling = await uow.catalog.drops_selling(bundle_ids=[bundle_id])
            if price_amount is not None and price_amount != bundle.price.amount:
                _refuse_live_price(selling, "bundle")
            if values:
                await uow.catalog.update_bundle(bundle_id, **values)
                await uow.catalog.touch_drops(selling)
                uow.record(DomainEvent("bundle.updated", "bundle", bundle_id, 1, dict(values)))
            updated = await _bundle(uow, bundle_id)
            await uow.commit()
        if values:
            self._changed(selling)
        return updated

    # ------------------------------------------------------------------ archive
    async def archive_product(self, product_id: str, actor: str = "") -> Product:
        """Archive a product and every SKU of it not archived yet. Refused (409) while a
        drop that has not ended offers one of them: end the drop or take the offer out
        first. Orders, stock and reports keep naming the product."""
        async with self.uow() as uow:
            product = await _product(uow, product_id)
            skus = [s.id for s in await uow.catalog.list_skus(product_id) if not s.archived]
            await _refuse_offered(uow, skus)
            at = self.uow.now()
            if not product.archived:
                await uow.catalog.set_archived("products", [product_id], at)
            await uow.catalog.set_archived("skus", skus, at)
            uow.record(DomainEvent("product.archived", "product", product_id, 1, {"actor": actor}))
            await uow.commit()
        return Product(product.id, product.name, product.description, True)

    async def restore_product(self, product_id: str, actor: str = "") -> Product:
        """Restore an archived product and the SKUs archived with it (not those archived
        on their own before)."""
        async with self.uow() as uow:
            product = await _product(uow, product_id)
            at = await uow.catalog.archived_at("products", product_id)
            if at is not None:
                await uow.catalog.set_archived(
                    "skus", await uow.catalog.skus_archived_at(product_id, at), None
                )
                await uow.catalog.set_archived("products", [product_id], None)
                uow.record(
                    DomainEvent("product.restored", "product", product_id, 1, {"actor": actor})
                )
            await uow.commit()
        return Product(product.id, product.name, product.description, False)

    async def archive_sku(self, sku_id: str, actor: str = "") -> Sku:
        """Archive one variant; refused (409) while a drop that has not ended offers it
        or a bundle that such a drop sells contains it."""
        async with self.uow() as uow:
            sku = await _sku(uow, sku_id)
            await _refuse_offered(uow, [sku_id])
            if not sku.archived:
                await uow.catalog.set_archived("skus", [sku_id], self.uow.now())
                uow.record(DomainEvent("sku.archived", "sku", sku_id, 1, {"actor": actor}))
            updated = await _sku(uow, sku_id)
            await uow.commit()
        return updated

    async def restore_sku(self, sku_id: str, actor: str = "") -> Sku:
        """Restore an archived variant; its product must not be archived."""
        async with self.uow() as uow:
            sku = await _sku(uow, sku_id)
            ensure_active(await _product(uow, sku.product_id))
            if sku.archived:
                await uow.catalog.set_archived("skus", [sku_id], None)
                uow.record(DomainEvent("sku.restored", "sku", sku_id, 1, {"actor": actor}))
            updated = await _sku(uow, sku_id)
            await uow.commit()
        return updated

    async def archive_bundle(self, bundle_id: str, actor: str = "") -> Bundle:
        """Archive a bundle; refused (409) while a drop that has not ended sells it."""
        async with self.uow() as uow:
            bundle = await _bundle(uow, bundle_id)
            selling = await uow.catalog.drops_selling(bundle_ids=[bundle_id])
            if selling:
                drop_id = sorted(selling)[0]
                raise Conflict(
                    f"drop {drop_id} sells this bundle; end the drop first", drop_id=drop_id
                )
            if not bundle.archived:
                await uow.catalog.set_archived("bundles", [bundle_id], self.uow.now())
                uow.record(DomainEvent("bundle.archived", "bundle", bundle_id, 1, {"actor": actor}))
            updated = await _bundle(uow, bundle_id)
            await uow.commit()
        return updated

    async def restore_bundle(self, bundle_id: str, actor: str = "") -> Bundle:
        """Restore an archived bundle; every component must be active."""
        async with self.uow() as uow:
            bundle = await _bundle(uow, bundle_id)
            found = await uow.catalog.get_skus(c.sku_id for c in bundle.components)
            for sku in found.values():
                ensure_active(sku)
            if bundle.archived:
                await uow.catalog.set_archived("bundles", [bundle_id], None)
                uow.record(DomainEvent("bundle.restored", "bundle", bundle_id, 1, {"actor": actor}))
            updated = await _bundle(uow, bundle_id)
            await uow.commit()
        return updated


async def _product(uow: UnitOfWork, product_id: str) -> Product:
    product = await uow.catalog.get_product(product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found", product_id=product_id)
    return product


async def _sku(uow: UnitOfWork, sku_id: str) -> Sku:
    sku = await uow.catalog.get_sku(sku_id)
    if sku is None:
        raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
    return sku


async def _bundle(uow: UnitOfWork, bundle_id: str) -> Bundle:
    bundle = (await uow.catalog.get_bundles([bundle_id])).get(bundle_id)
    if bundle is None:
        raise NotFound(f"bundle {bundle_id} not found", bundle_id=bundle_id)
    return bundle


async def _refuse_offered(uow: UnitOfWork, sku_ids: Sequence[str]) -> None:
    """409 when a drop that has not ended offers one of the SKUs, or sells a bundle
    holding one: archiving must never pull an item out from under a drop."""
    offered = await uow.catalog.open_drops_offering(sku_ids)
    if offered:
        sku_id, drop_id = next(iter(offered.items()))
        raise Conflict(
            f"drop {drop_id} offers SKU {sku_id}; end the drop or take the offer out first",
            sku_id=sku_id,
            drop_id=drop_id,
        )
    selling = await uow.catalog.drops_selling(bundle_ids=await uow.catalog.bundles_with(sku_ids))
    if selling:
        drop_id = sorted(selling)[0]
        raise Conflict(
            f"drop {drop_id} sells a bundle holding this SKU; end the drop first",
            drop_id=drop_id,
        )
