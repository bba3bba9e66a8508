"""Orders: ops see all; a storefront sees a buyer's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from dropline.api import schemas as s
from dropline.api import views
from dropline.api.deps import ContainerDep, MaybeBuyer, Ops, Storefront
from dropline.api.fields import Digits
from dropline.api.openapi import errors
from dropline.domain.errors import NotFound
from dropline.domain.live.orders import OrderStatus

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.get("", response_model=list[s.OrderOut])
async def list_orders(
    c: ContainerDep,
    _: Ops,
    drop_id: str | None = None,
    status: OrderStatus | None = None,
    buyer_id: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500), Digits] = 100,
) -> list[s.OrderOut]:
    """Oldest first; page with ``after=<last order id>``."""
    async with c.uow(readonly=True) as uow:
        rows = await uow.orders.list_orders(drop_id, buyer_id, status, limit, after)
    return [views.order(o) for o in rows]


@router.get("/{order_id}", response_model=s.OrderOut)
async def get_order(
    order_id: str, c: ContainerDep, who: Storefront, buyer: MaybeBuyer
) -> s.OrderOut:
    """One order by its id or its human number (``DL-1042``)."""
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.find_order(order_id)
    # A storefront key only sees the order of the buyer whose token it presents.
    if order is None or (not who.allows("ops") and order.buyer_id != buyer):
        raise NotFound(f"order {order_id} not found")
    return views.order(order)


class CancelOrderIn(s.Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500, examples=["buyer asked"])]


@router.post("/{order_id}/cancel", response_model=s.OrderOut, responses=errors(502, 503))
async def cancel_order(order_id: str, body: CancelOrderIn, c: ContainerDep, who: Ops) -> s.OrderOut:
    """Cancel an order that has not shipped (``paid`` or ``handed_off``) and refund it in
    full: its units go back to the drop's offer (to ``available`` once the drop has
    ended), ``order.cancelled`` tells the warehouse to stop, and the buyer gets the
    ``refunded`` message. 409 ``invalid_transition`` once it has shipped (return it
    instead, ``POST /v1/orders/{id}/returns``); 409 ``conflict`` for a pre-order (use
    ``POST /v1/preorders/{id}/cancel``). Repeating the call finishes a refund that
    failed; until then the order stays ``cancelled`` with the failure in its reason."""
    return views.order(await c.cancellations.cancel(order_id, reason=body.reason, by=who.name))
