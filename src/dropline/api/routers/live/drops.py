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
            await c.drops.create(body.name, body.currency, body.hold_ttl_s, starts, ends_at=ends)
        )

    return await idempotency.run(c, request, who, key, do)


@router.get("", response_model=list[s.DropOut])
async def list_drops(c: ContainerDep, _: Ops, status: DropStatus | None = None) -> list[s.DropOut]:
    """Newest first, each with a summary: units offered and sold, sell-through and
    revenue kept (paid totals less refunds)."""
    sums = await c.drops.summaries()
    return [
        views.drop(d, summary=views.drop_summary(d.currency, *sums.get(d.id, (0, 0, 0))))
        for d in await c.drops.list_drops(status)
    ]


@router.get("/{drop_id}", response_model=s.DropOut)
async def get_drop(drop_id: str, c: ContainerDep, _: Ops) -> s.DropOut:
    """The drop and its offers (each with the SKU's code, label and price, sizes in
    wearing order) and bundles."""
    drop, offers, bundle_ids = await c.drops.get(drop_id)
    catalog = await c.drops.cache.get(drop_id)
    return views.drop(drop, offers, bundle_ids, catalog)


@router.patch("/{drop_id}", response_model=s.DropOut)
async def edit_drop(drop_id: str, body: s.DropEdit, c: ContainerDep, _: Ops) -> s.DropOut:
    """Rename a drop, or (before it goes live) set its start time and hold time."""
    clear = "starts_at" in body.model_fields_set and body.starts_at is None
    await c.drops.edit(
        drop_id,
        name=body.name,
        starts_at=_parse_time(body.starts_at),
        clear_start=clear,
        hold_ttl_s=body.hold_ttl_s,
    )
    return await get_drop(drop_id, c, _)


@router.get("/{drop_id}/public", tags=["storefront"])
async def get_public(drop_id: str, c: ContainerDep, _: Storefront) -> dict[str, Any]:
    """Products, prices, remaining units per SKU and bundle, each SKU's
    ``availability`` (``on_sale``, ``sold_out``, or ``window_allocation_taken`` with
    ``more_at``: the open windows' units are taken, a later window releases more), the
    drop's status, and its access windows (``access``: each window's start, tiers,
    whether it has opened and is the one open now, ``current_window`` (its index, null
    before the first opens) and ``next_window_at``)."""
    policy = await c.access_windows.get(drop_id)
    view = await public_drop(c.engine, c.drops, c.drops.cache, drop_id, policy)
    return view | {"access": c.access_windows.public_of(policy)}


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
    """Move the drop: draft → scheduled → live ⇄ paused → ended. With the readiness
    gate enforced, going live is 409 ``not_ready`` while the checklist blocks, unless
    ``override_reason`` says why it may go live anyway."""
    await c.drops.transition(drop_id, body.to, actor=who.name, override_reason=body.override_reason)
    return views.drop(*await c.drops.get(drop_id))


@router.post("/{drop_id}/skus/{sku_id}/pause", response_model=s.DropOut)
async def pause_sku(drop_id: str, sku_id: str, c: ContainerDep, _: Ops) -> s.DropOut:
    await c.drops.pause_sku(drop_id, sku_id, True)
    return views.drop(*await c.drops.get(drop_id))


@router.post("/{drop_id}/skus/{sku_id}/resume", response_model=s.DropOut)
async def resume_sku(drop_id: str, sku_id: str, c: ContainerDep, _: Ops) -> s.DropOut:
    await c.drops.pause_sku(drop_id, sku_id, False)
    return views.drop(*await c.drops.get(drop_id))
