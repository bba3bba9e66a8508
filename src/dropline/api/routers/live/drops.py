"""Drops: build the offer and run the lifecycle (ops); the public view (storefront)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dropline.api import idempotency, views
from dropline.api import schemas as s
from dropline.api.deps import ContainerDep, IdempotencyKey, Ops, Storefront
from dropline.api.openapi import errors
from dropline.domain.errors import InvalidInput
from dropline.domain.live.drops import DropStatus
from dropline.services.live.public_view import public_drop

router = APIRouter(prefix="/v1/drops", tags=["drops"], responses=errors(503))


def _parse_time(value: str | None, field: str = "starts_at") -> float | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} must be an RFC 3339 time") from None
    if dt.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (use Z for UTC)")
    return dt.timestamp()


@router.post("", status_code=201, response_model=s.DropOut)
async def create_drop(
    body: s.DropIn, c: ContainerDep, who: Ops, request: Request, key: IdempotencyKey = None
) -> Response:
    starts = _parse_time(body.starts_at)
    ends = _parse_time(body.ends_at, "ends_at")

    async def do() -> s.DropOut:
        return views.drop(
            await c.drops.create(body.name, body.currency, body.hold_ttl_s, starts, ends)
        )

    return await idempotency.run(c, request, who, key, do)


@router.get("", response_model=list[s.DropOut])
async def list_drops(c: ContainerDep, _: Ops, status: DropStatus | None = None) -> list[s.DropOut]:
    return [views.drop(d) for d in await c.drops.list_drops(status)]


@router.get("/{drop_id}", response_model=s.DropOut)
async def get_drop(drop_id: str, c: ContainerDep, _: Ops) -> s.DropOut:
    return views.drop(*await c.drops.get(drop_id))


@router.get("/{drop_id}/public", tags=["storefront"])
async def get_public(drop_id: str, c: ContainerDep, _: Storefront) -> dict[str, Any]:
    """Products, prices, remaining units per SKU and bundle, and the drop's status."""
    return await public_drop(c.engine, c.drops, c.drops.cache, drop_id)


@router.put("/{drop_id}/offers/{sku_id}", response_model=s.OfferOut)
async def set_offer(
    drop_id: str, sku_id: str, body: s.OfferIn, c: ContainerDep, _: Ops
) -> s.OfferOut:
    """Offer units of a SKU (moved from ``available`` to ``reserved``). 0 removes a
    draft offer. Once live, an offer can only grow."""
    return views.offer(
        await c.drops.set_offer(drop_id, sku_id, body.quantity, body.per_buyer_limit)
    )


@router.post("/{drop_id}/bundles", status_code=201, response_model=s.DropOut)
async def add_bundle(drop_id: str, body: s.DropBundleIn, c: ContainerDep, _: Ops) -> s.DropOut:
    await c.drops.add_bundle(drop_id, body.bundle_id)
    return views.drop(*await c.drops.get(drop_id))


@router.post("/{drop_id}/transitions", response_model=s.DropOut)
async def transition(drop_id: str, body: s.TransitionIn, c: ContainerDep, who: Ops) -> s.DropOut:
    """Move the drop: draft → scheduled → live ⇄ paused → ended."""
    await c.drops.transition(drop_id, body.to, actor=who.name)
    return views.drop(*await c.drops.get(drop_id))


@router.post("/{drop_id}/skus/{sku_id}/pause", response_model=s.DropOut)
async def pause_sku(drop_id: str, sku_id: str, c: ContainerDep, _: Ops) -> s.DropOut:
    await c.drops.pause_sku(drop_id, sku_id, True)
    return views.drop(*await c.drops.get(drop_id))


@router.post("/{drop_id}/skus/{sku_id}/resume", response_model=s.DropOut)
async def resume_sku(drop_id: str, sku_id: str, c: ContainerDep, _: Ops) -> s.DropOut:
    await c.drops.pause_sku(drop_id, sku_id, False)
    return views.drop(*await c.drops.get(drop_id))
