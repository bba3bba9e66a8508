"""Catalog use cases: products, SKUs (variants) and bundles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dropline.domain.catalog.items import (
    Bundle,
    BundleComponent,
    Product,
    Sku,
    validate_bundle_components,
)
from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.money import Money, check_currency
from dropline.domain.stock.buckets import safety_target
from dropline.store.uow import UowFactory

MAX_PRICE = 100_000_000_00


def _check_price(amount: int) -> None:
    if amount < 0 or amount > MAX_PRICE:
        raise InvalidInput("price must be between 0 and 10,000,000,000 minor units")


def _check_code(code: str) -> str:
    code = code.strip()
    if not code or len(code) > 80:
        raise InvalidInput("a code is 1 to 80 characters")
    return code


class CatalogService:
    def __init__(self, uow: UowFactory) -> None:
        self.uow = uow

    async def create_product(self, name: str, description: str = "") -> Product:
        if not name.strip():
            raise InvalidInput("a product needs a name")
        product = Product(new_id("prd"), name.strip(), description)
        async with self.uow() as uow:
            await uow.catalog.add_product(product)
            uow.record(DomainEvent("product.created", "product", product.id, 1, {"name": name}))
            await uow.commit()
        return product

    async def create_sku(
        self,
        product_id: str,
        code: str,
        price_amount: int,
        currency: str,
        attributes: Mapping[str, str] | None = None,
        safety_qty: int = 0,
        safety_pct: int = 0,
        bin_location: str = "",
    ) -> Sku:
        """A new variant of ``product_id``; its stock starts at zero in every bucket."""
        _check_price(price_amount)
        safety_target(0, safety_qty, safety_pct)  # validates the policy
        sku = Sku(
            new_id("sku"),
            product_id,
            _check_code(code),
            Money(price_amount, check_currency(currency)),
            dict(attributes or {}),
            safety_qty,
            safety_pct,
            bin_location,
        )
        async with self.uow() as uow:
            if await uow.catalog.get_product(product_id) is None:
                raise NotFound(f"product {product_id} not found", product_id=product_id)
            if await uow.catalog.code_taken(sku.code):
                raise Conflict(f"code {sku.code!r} is already used", code=sku.code)
            await uow.catalog.add_sku(sku)
            uow.record(DomainEvent("sku.created", "sku", sku.id, 1, {"code": sku.code}))
            await uow.commit()
        return sku

    async def create_bundle(
        self,
        code: str,
        name: str,
        price_amount: int,
        currency: str,
        components: Sequence[tuple[str, int]],
    ) -> Bundle:
        """A bundle of existing SKUs of the bundle's currency; it has no stock of its own."""
        _check_price(price_amount)
        comps = tuple(BundleComponent(s, q) for s, q in components)
        validate_bundle_components(comps)
        bundle = Bundle(
            new_id("bdl"),
            _check_code(code),
            name,
            Money(price_amount, check_currency(currency)),
            comps,
        )
        async with self.uow() as uow:
            found = await uow.catalog.get_skus(c.sku_id for c in comps)
            for c in comps:
                sku = found.get(c.sku_id)
                if sku is None:
                    raise NotFound(f"SKU {c.sku_id} not found", sku_id=c.sku_id)
                if sku.price.currency != bundle.price.currency:
                    raise InvalidInput("bundle and component currencies differ", sku_id=c.sku_id)
            if await uow.catalog.code_taken(bundle.code):
                raise Conflict(f"code {bundle.code!r} is already used", code=bundle.code)
            await uow.catalog.add_bundle(bundle)
            uow.record(DomainEvent("bundle.created", "bundle", bundle.id, 1, {"code": code}))
            await uow.commit()
        return bundle

    async def list_products(self) -> list[tuple[Product, list[Sku]]]:
        """Every product with its SKUs, except the dummy products of dress rehearsals."""
        async with self.uow(readonly=True) as uow:
            hidden = await uow.readiness.rehearsal_products()
            products = [p for p in await uow.catalog.list_products() if p.id not in hidden]
            skus = await uow.catalog.list_skus()
        by_product: dict[str, list[Sku]] = {}
        for s in skus:
            by_product.setdefault(s.product_id, []).append(s)
        return [(p, by_product.get(p.id, [])) for p in products]

    async def get_product(self, product_id: str) -> tuple[Product, list[Sku]]:
        async with self.uow(readonly=True) as uow:
            product = await uow.catalog.get_product(product_id)
            if product is None:
                raise NotFound(f"product {product_id} not found", product_id=product_id)
            return product, await uow.catalog.list_skus(product_id)

    async def get_sku(self, sku_id: str) -> Sku:
        async with self.uow(readonly=True) as uow:
            sku = await uow.catalog.get_sku(sku_id)
        if sku is None:
            raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
        return sku

    async def list_bundles(self) -> list[Bundle]:
        async with self.uow(readonly=True) as uow:
            return list((await uow.catalog.get_bundles()).values())
