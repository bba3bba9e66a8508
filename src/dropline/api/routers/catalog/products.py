"""Products, SKUs and bundles (ops)."""

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
async def list_products(c: ContainerDep, _: Ops) -> list[s.ProductOut]:
    return [views.product(p, skus) for p, skus in await c.catalog.list_products()]


@router.get("/products/{product_id}", response_model=s.ProductOut)
async def get_product(product_id: str, c: ContainerDep, _: Ops) -> s.ProductOut:
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
async def list_bundles(c: ContainerDep, _: Ops) -> list[s.BundleOut]:
    return [views.bundle(b) for b in await c.catalog.list_bundles()]
