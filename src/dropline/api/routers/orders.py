"""Orders: ops see all; a storefront sees a buyer's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dropline.api import schemas as s
from dropline.api import views
from dropline.api.deps import ContainerDep, MaybeBuyer, Ops, Storefront
from dropline.domain.errors import NotFound

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.get("", response_model=list[s.OrderOut])
async def list_orders(
    c: ContainerDep,
    _: Ops,
    drop_id: str | None = None,
    status: str | None = None,
    buyer_id: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[s.OrderOut]:
    """Oldest first; page with ``after=<last order id>``."""
    async with c.uow(readonly=True) as uow:
        rows = await uow.orders.list_orders(drop_id, buyer_id, status, limit, after)
    return [views.order(o) for o in rows]


@router.get("/{order_id}", response_model=s.OrderOut)
async def get_order(
    order_id: str, c: ContainerDep, who: Storefront, buyer: MaybeBuyer
) -> s.OrderOut:
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(order_id)
    # A storefront key only sees the order of the buyer whose token it presents.
    if order is None or (not who.allows("ops") and order.buyer_id != buyer):
        raise NotFound(f"order {order_id} not found")
    return views.order(order)
