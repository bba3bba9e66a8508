"""``/ui`` drops list, orders list, and the drop and SKU controls (pause, resume, end)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dropline.api.deps import ContainerDep
from dropline.domain.aftersales.returns import (
    ReturnReason,
)
from dropline.domain.errors import DroplineError, NotReady
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.orders import OrderStatus
from dropline.services.aftersales.cancellations import CANCELLABLE
from dropline.web import common
from dropline.web.common import (
    page,
    require_login,
    require_post,
)

router = APIRouter(prefix="/ui", include_in_schema=False)

ORDER_STATUSES = ("", *(s.value for s in OrderStatus))
RETURNABLE = frozenset({OrderStatus.SHIPPED.value, OrderStatus.DELIVERED.value})


@router.get("")
@router.get("/")
async def drops_page(request: Request, c: ContainerDep) -> Response:
    """Every drop, newest first, with units sold of offered, sell-through and revenue
    kept; and the form that creates the next one."""
    s = await require_login(request, c)
    sums = await c.drops.summaries()
    drops = []
    for d in await c.drops.list_drops():
        offered, sold, revenue = sums.get(d.id, (0, 0, 0))
        drops.append(
            {
                "id": d.id,
                "name": d.name,
                "status": d.status.value,
                "currency": d.currency,
                "starts_at": d.starts_at,
                "offered": offered,
                "sold": sold,
                "sell_through_pct": round(100.0 * sold / offered, 1) if offered else None,
                "revenue": revenue,
            }
        )
    return page(request, "drops.html", s, drops=drops)


DROP_ACTIONS = {
    DropStatus.DRAFT: [("scheduled", "Schedule", "")],
    DropStatus.SCHEDULED: [("live", "Go live", "primary")],
    DropStatus.LIVE: [("paused", "Pause drop", "")],
    DropStatus.PAUSED: [("live", "Resume drop", "primary")],
    DropStatus.ENDED: [],
}


def _back(drop_id: str, message: str, level: str = "info") -> Response:
    return RedirectResponse(
        f"/ui/drops/{drop_id}?flash={quote(message)}&level={level}", status_code=303
    )


@router.post("/drops/{drop_id}/skus/{sku_id}/{action}")
async def sku_action(
    drop_id: str,
    sku_id: str,
    action: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    await require_post(request, c, csrf_token)
    if action not in ("pause", "resume"):
        return Response("unknown action", status_code=404)
    try:
        await c.drops.pause_sku(drop_id, sku_id, action == "pause")
    except DroplineError as exc:
        return _back(drop_id, exc.detail, "error")
    label = sku_id
    catalog = await c.drops.cache.get(drop_id)
    if sku_id in catalog.skus:
        label = catalog.describe_sku(sku_id)  # "Logo Hoodie — Black / M"
    return _back(drop_id, f"{label} {'paused' if action == 'pause' else 'resumed'}")


@router.post("/drops/{drop_id}/transition")
async def drop_transition(
    drop_id: str,
    request: Request,
    c: ContainerDep,
    to: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    try:
        await c.drops.transition(drop_id, DropStatus(to), actor=s.name)
    except ValueError:
        return _back(drop_id, f"unknown status {to!r}", "error")
    except NotReady as exc:
        # the gate refused: the readiness panel lists the blocks and takes an override
        return RedirectResponse(
            f"/ui/drops/{drop_id}/readiness?flash={quote(exc.detail)}&level=error",
            status_code=303,
        )
    except DroplineError as exc:
        return _back(drop_id, exc.detail, "error")
    return _back(drop_id, f"drop is now {to}")


@router.get("/orders")
async def orders_page(
    request: Request, c: ContainerDep, status: str = "", drop_id: str = "", buyer_id: str = ""
) -> Response:
    """The newest orders: what each buyer bought, paid and got back, where the order is;
    an unshipped one can be cancelled (and refunded in full) from here."""
    s = await require_login(request, c)
    async with c.uow(readonly=True) as uow:
        rows = await uow.orders.list_orders(
            drop_id or None,
            buyer_id or None,
            status if status in ORDER_STATUSES and status else None,
            common.PAGE_ROWS,
            newest_first=True,
        )
        shipments = await uow.shipments.for_orders([o.id for o in rows])
    drop_names = {d.id: d.name for d in await c.drops.list_drops()}
    return page(
        request, "orders.html", s, orders=rows, status=status, drop_id=drop_id,
        buyer_id=buyer_id, statuses=ORDER_STATUSES, drop_names=drop_names,
        shipments=shipments,
        cancellable={st.value for st in CANCELLABLE}, returnable=RETURNABLE,
        reasons=[r.value for r in ReturnReason], page_rows=common.PAGE_ROWS,
    )  # fmt: skip
