"""Holds (storefront + buyer token): the hot path of a live drop."""

from __future__ import annotations

from fastapi import APIRouter

from dropline.api import schemas as s
from dropline.api import views
from dropline.api.deps import (
    Buyer,
    BuyerWho,
    ClientAddress,
    ContainerDep,
    IdempotencyKey,
    Storefront,
)
from dropline.api.openapi import errors

router = APIRouter(prefix="/v1", tags=["holds"], responses=errors(410, 503))


@router.post(
    "/drops/{drop_id}/holds",
    status_code=201,
    response_model=s.HoldOut,
    responses=errors(429)
    | {
        403: {
            "description": "`window_closed`: the buyer's access window has not opened "
            "(`opens_at`: when it does; null when no window admits the token's tiers)"
        }
    },
)
async def place_hold(
    drop_id: str,
    body: s.HoldIn,
    c: ContainerDep,
    _: Storefront,
    who: BuyerWho,
    client: ClientAddress,
    key: IdempotencyKey = None,
) -> s.HoldOut:
    """Take every item's units for the drop's hold TTL, all or none.

    Refusals: ``sold_out`` / ``insufficient_stock`` (with ``sku_id`` and ``remaining``),
    ``limit_exceeded``, ``drop_not_live``; the drop's access rules (``docs/audience.md``):
    403 ``window_closed`` with ``opens_at``, 409 ``window_sold_out`` (this window's
    allocation is taken; ``next_window_at``), 429 ``rate_limited`` with ``Retry-After``,
    401 ``token_too_old``. The same ``Idempotency-Key`` returns the same hold; with a
    different body it is refused with ``idempotency_mismatch``."""
    hold = await c.holds.place(
        drop_id,
        who.buyer_id,
        body.hold_items(),
        idempotency_key=key,
        attribution=body.attribution,
        tiers=who.tiers,
        client=client,
        issued_at=who.issued_at,
    )
    return views.hold(hold)


@router.get("/holds/{hold_id}", response_model=s.HoldOut)
async def get_hold(hold_id: str, c: ContainerDep, _: Storefront, buyer: Buyer) -> s.HoldOut:
    return views.hold(await c.holds.get(hold_id, buyer))


@router.post("/holds/{hold_id}/release", response_model=s.HoldOut)
async def release_hold(hold_id: str, c: ContainerDep, _: Storefront, buyer: Buyer) -> s.HoldOut:
    """Give the units back now (the buyer changed their mind)."""
    return views.hold(await c.holds.release(hold_id, buyer))
