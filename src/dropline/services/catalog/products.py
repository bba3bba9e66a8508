"""Catalog use cases: products (with their colour × size matrix of variants in one
step), SKUs and bundles; finding them by id, code or name. Editing and archiving are in
``edits.py``, which ``CatalogService`` inherits."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from dropline.domain.catalog.items import (
    Bundle,
    BundleComponent,
    Product,
    Sku,
    ensure_active,
    validate_bundle_components,
)
from dropline.domain.catalog.variants import variant_matrix
from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.money import Money, check_currency
from dropline.domain.stock.buckets import safety_target
from dropline.services.catalog.edits import (
    CatalogEdits,
    check_code,
    check_name,
    check_price,
)
from dropline.store.uow import UowFactory


class CatalogService(CatalogEdits):
    def __init__(
        self, uow: UowFactory, on_drops_changed: Callable[[str], None] | None = None
    ) -> None:
        self.uow = uow
        #: Told each drop whose catalog an edit changed (this process's drop cache).
        self._on_drops_changed = on_drops_changed

    async def create_product(self, name: str, description: str = "") -> Product:
        if not name.strip():
            raise InvalidInput("a product needs a name")
        product = Product(new_id("prd"), check_name(name, "product"), description)
        async with self.uow() as uow:
            await uow.catalog.add_product(product)
            uow.record(DomainEvent("product.created", "product", product.id, 1, {"name": name}))
            await uow.commit()
        return product

    async def create_product_with_variants(
        self,
        name: str,
        *,
        description: str = "",
        price_amount: int,
        currency: str,
        colours: Sequence[str] = (),
        sizes: Sequence[str] = (),
        code_prefix: str = "",
        safety_pct: int = 0,
    ) -> tuple[Product, list[Sku]]:
        """A product and its colour × size matrix of variants in one step and one
        transaction: every SKU or none (a code already used fails the whole product).
        Codes are ``PREFIX-COLOUR-SIZE`` (``LOGO-HOODIE-BLACK-M``), the prefix defaulting
        to the product's name."""
        check_price(price_amount)
        safety_target(0, 0, safety_pct)
        product = Product(new_id("prd"), check_name(name, "product"), description)
        money = Money(price_amount, check_currency(currency))
        skus = [
            Sku(new_id("sku"), product.id, check_code(code), money, attrs, 0, safety_pct)
            for code, attrs in variant_matrix(code_prefix or name, colours, sizes)
        ]
        async with self.uow() as uow:
            await uow.catalog.add_product(product)
            for sku in skus:
                if await uow.catalog.code_taken(sku.code):
                    raise Conflict(
                        f"code {sku.code!r} is already used; give another --code-prefix",
                        code=sku.code,
                    )
                await uow.catalog.add_sku(sku)
                uow.record(DomainEvent("sku.created", "sku", sku.id, 1, {"code": sku.code}))
            uow.record(
                DomainEvent("product.created", "product", product.id, 1, {"name": product.name})
            )
            await uow.commit()
        return product, skus

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
        check_price(price_amount)
        safety_target(0, safety_qty, safety_pct)  # validates the policy
        sku = Sku(
            new_id("sku"),
            product_id,
            check_code(code),
            Money(price_amount, check_currency(currency)),
            dict(attributes or {}),
            safety_qty,
            safety_pct,
            bin_location,
        )
        async with self.uow() as uow:
            product = await uow.catalog.get_product(product_id)
            if product is None:
                raise NotFound(f"product {product_id} not found", product_id=product_id)
            ensure_active(product)
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
        check_price(price_amount)
        comps = tuple(BundleComponent(s, q) for s, q in components)
        validate_bundle_components(comps)
        bundle = Bundle(
            new_id("bdl"),
            check_code(code),
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
                ensure_active(sku)
                if sku.price.currency != bundle.price.currency:
                    raise InvalidInput("bundle and component currencies differ", sku_id=c.sku_id)
            if await uow.catalog.code_taken(bundle.code):
                raise Conflict(f"code {bundle.code!r} is already used", code=bundle.code)
            await uow.catalog.add_bundle(bundle)
            uow.record(DomainEvent("bundle.created", "bundle", bundle.id, 1, {"code": code}))
            await uow.commit()
        return bundle

    async def list_products(self, *, archived: bool = True) -> list[tuple[Product, list[Sku]]]:
        """Every product with its SKUs, except the dummy products of dress rehearsals;
        ``archived=False`` leaves archived products and SKUs out."""
        async with self.uow(readonly=True) as uow:
            hidden = await uow.readiness.rehearsal_products()
            products = [
                p for p in await uow.catalog.list_products(archived=archived) if p.id not in hidden
            ]
            skus = await uow.catalog.list_skus()
        by_product: dict[str, list[Sku]] = {}
        for s in skus:
            if archived or not s.archived:
                by_product.setdefault(s.product_id, []).append(s)
        return [(p, by_product.get(p.id, [])) for p in products]

    async def get_product(self, product_id: str) -> tuple[Product, list[Sku]]:
        async with self.uow(readonly=True) as uow:
            product = await uow.catalog.get_product(product_id)
            if product is None:
                raise NotFound(f"product {product_id} not found", product_id=product_id)
            return product, await uow.catalog.list_skus(product_id)

    async def find_product(self, ref: str) -> tuple[Product, list[Sku]]:
        """A product by id, or by its exact name when one product has it."""
        if ref.startswith("prd_"):
            return await self.get_product(ref)
        matches = [p for p, _ in await self.list_products() if p.name == ref]
        if len(matches) != 1:
            what = "no product is" if not matches else f"{len(matches)} products are"
            raise NotFound(f"{what} named {ref!r}; give the product id", product_id=ref)
        return await self.get_product(matches[0].id)

    async def find_sku(self, ref: str) -> Sku:
        """A SKU by id (``sku_...``) or by code (``LOGO-HOODIE-BLACK-M``)."""
        if ref.startswith("sku_"):
            return await self.get_sku(ref)
        async with self.uow(readonly=True) as uow:
            sku = await uow.catalog.get_sku_by_code(ref)
        if sku is None:
            raise NotFound(f"no SKU has the id or code {ref!r}", sku_id=ref)
        return sku

    async def find_bundle(self, ref: str) -> Bundle:
        """A bundle by id (``bdl_...``) or by code."""
        if ref.startswith("bdl_"):
            return await self.get_bundle(ref)
        for b in await self.list_bundles():
            if b.code == ref:
                return b
        raise NotFound(f"no bundle has the id or code {ref!r}", bundle_id=ref)

    async def get_sku(self, sku_id: str) -> Sku:
        async with self.uow(readonly=True) as uow:
            sku = await uow.catalog.get_sku(sku_id)
        if sku is None:
            raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
        return sku

    async def list_bundles(self, *, archived: bool = True) -> list[Bundle]:
        async with self.uow(readonly=True) as uow:
            found = (await uow.catalog.get_bundles()).values()
        return [b for b in found if archived or not b.archived]
