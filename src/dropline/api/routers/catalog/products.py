"""Products, SKUs and bundles (ops): create, list, edit, archive and restore.

Nothing is deleted: archiving keeps an item's history (orders, stock, reports) and
makes offering or bundling it a 409 ``archived`` problem until it is restored."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dropline.api import idempotency, views
from dropline.api import schemas as s
from dropline.api.deps import ContainerDep, IdempotencyKey, Ops

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.post("/products", status_code=201, response_model=s.ProductOut)
async def create_product(
    body: s.ProductIn, c: ContainerDep, who: Ops, request: Request, key: IdempotencyKey = None
) -> Response:
    async def do() -> s.ProductOut:
        return views.product(await c.catalog.create_product(body.name, body.description), [])

    return await idempotency.run(c, request, who, key, do)


@router.get("/products", response_model=list[s.ProductOut])
async def list_products(c: ContainerDep, _: Ops, archived: bool = False) -> list[s.ProductOut]:
    """Products with their SKUs; archived ones only with ``?archived=true``."""
    return [views.product(p, skus) for p, skus in await c.catalog.list_products(archived=archived)]


@router.get("/products/{product_id}", response_model=s.ProductOut)
async def get_product(product_id: str, c: ContainerDep, _: Ops) -> s.ProductOut:
    return views.product(*await c.catalog.get_product(product_id))


@router.patch("/products/{product_id}", response_model=s.ProductOut)
async def edit_product(
    product_id: str, body: s.ProductEdit, c: ContainerDep, _: Ops
) -> s.ProductOut:
    """Rename a product or change its description."""
    await c.catalog.edit_product(product_id, name=body.name, description=body.description)
    return views.product(*await c.catalog.get_product(product_id))


@router.post("/products/{product_id}/archive", response_model=s.ProductOut)
async def archive_product(product_id: str, c: ContainerDep, who: Ops) -> s.ProductOut:
    """Archive a product and its SKUs (409 while a drop that has not ended offers one)."""
    await c.catalog.archive_product(product_id, actor=who.name)
    return views.product(*await c.catalog.get_product(product_id))


@router.post("/products/{product_id}/restore", response_model=s.ProductOut)
async def restore_product(product_id: str, c: ContainerDep, who: Ops) -> s.ProductOut:
    """Restore an archived product and the SKUs archived with it."""
    await c.catalog.restore_product(product_id, actor=who.name)
    return views.product(*await c.catalog.get_product(product_id))


@router.post("/products/{product_id}/skus", status_code=201, response_model=s.SkuOut)
async def create_sku(
    product_id: str,
    body: s.SkuIn,
    c: ContainerDep,
    who: Ops,
    request: Request,
    key: IdempotencyKey = None,
) -> Response:
    async def do() -> s.SkuOut:
        return views.sku(
            await c.catalog.create_sku(
                product_id,
                body.code,
                body.price.amount,
                body.price.currency,
                body.attributes,
                body.safety_qty,
                body.safety_pct,
                body.bin_location,
            )
        )

    return await idempotency.run(c, request, who, key, do)


@router.get("/skus/{sku_id}", response_model=s.SkuOut)
async def get_sku(sku_id: str, c: ContainerDep, _: Ops) -> s.SkuOut:
    return views.sku(await c.catalog.get_sku(sku_id))


@router.patch("/skus/{sku_id}", response_model=s.SkuOut)
async def edit_sku(sku_id: str, body: s.SkuEdit, c: ContainerDep, _: Ops) -> s.SkuOut:
    """Change a SKU's code, price, attributes or bin (a price change is a 409 while a
    drop selling it is live or paused)."""
    return views.sku(
        await c.catalog.edit_sku(
            sku_id,
            code=body.code,
            price_amount=body.price_amount,
            attributes=body.attributes,
            bin_location=body.bin_location,
        )
    )


@router.post("/skus/{sku_id}/archive", response_model=s.SkuOut)
async def archive_sku(sku_id: str, c: ContainerDep, who: Ops) -> s.SkuOut:
    """Archive one variant (409 while a drop that has not ended offers it)."""
    return views.sku(await c.catalog.archive_sku(sku_id, actor=who.name))


@router.post("/skus/{sku_id}/restore", response_model=s.SkuOut)
async def restore_sku(sku_id: str, c: ContainerDep, who: Ops) -> s.SkuOut:
    """Restore an archived variant (409 while its product is archived)."""
    return views.sku(await c.catalog.restore_sku(sku_id, actor=who.name))


@router.post("/bundles", status_code=201, response_model=s.BundleOut)
async def create_bundle(
    body: s.BundleIn, c: ContainerDep, who: Ops, request: Request, key: IdempotencyKey = None
) -> Response:
    async def do() -> s.BundleOut:
        return views.bundle(
            await c.catalog.create_bundle(
                body.code,
                body.name,
                body.price.amount,
                body.price.currency,
                [(x.sku_id, x.quantity) for x in body.components],
            )
        )

    return await idempotency.run(c, request, who, key, do)


@router.get("/bundles", response_model=list[s.BundleOut])
async def list_bundles(c: ContainerDep, _: Ops, archived: bool = False) -> list[s.BundleOut]:
    """Bundles; archived ones only with ``?archived=true``."""
    return [views.bundle(b) for b in await c.catalog.list_bundles(archived=archived)]


@router.get("/bundles/{bundle_id}", response_model=s.BundleOut)
async def get_bundle(bundle_id: str, c: ContainerDep, _: Ops) -> s.BundleOut:
    return views.bundle(await c.catalog.get_bundle(bundle_id))


@router.patch("/bundles/{bundle_id}", response_model=s.BundleOut)
async def edit_bundle(bundle_id: str, body: s.BundleEdit, c: ContainerDep, _: Ops) -> s.BundleOut:
    """Rename a bundle or change its price (409 while a drop selling it is live)."""
    return views.bundle(
        await c.catalog.edit_bundle(bundle_id, name=body.name, price_amount=body.price_amount)
    )


@router.post("/bundles/{bundle_id}/archive", response_model=s.BundleOut)
async def archive_bundle(bundle_id: str, c: ContainerDep, who: Ops) -> s.BundleOut:
    """Archive a bundle (409 while a drop that has not ended sells it)."""
    return views.bundle(await c.catalog.archive_bundle(bundle_id, actor=who.name))


@router.post("/bundles/{bundle_id}/restore", response_model=s.BundleOut)
async def restore_bundle(bundle_id: str, c: ContainerDep, who: Ops) -> s.BundleOut:
    """Restore an archived bundle (409 while one of its SKUs is archived)."""
    return views.bundle(await c.catalog.restore_bundle(bundle_id, actor=who.name))
