"""Pre-orders: offers linked to a run (ops), the orders waiting for units (ops), and
the buyer's one-click links from delay notices (authorised by their signed token)."""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import Field, StrictInt

from dropline.api.deps import ContainerDep, Ops
from dropline.api.fields import Rfc3339
from dropline.api.openapi import errors
from dropline.api.plain import parse_time
from dropline.api.schemas import Strict, Text
from dropline.domain.supply.production import PaymentMode, PreorderStatus
from dropline.services.serialize import rfc3339
from dropline.services.supply.preorders import preorder_dict

router = APIRouter(prefix="/v1", tags=["pre-orders"])

#: What a buyer's link can do (``services/supply/preorder_links``).
Action = Literal["cancel", "consent"]


class PreorderOfferIn(Strict):
    run_id: str
    cap: Annotated[StrictInt, Field(ge=0, le=10_000_000)]
    closes_at: Rfc3339 = Field(description="when the pre-order window closes")
    payment_mode: PaymentMode = PaymentMode.CHARGE_NOW
    per_buyer_limit: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None


class CancelIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


@router.put("/drops/{drop_id}/preorders/{sku_id}")
async def set_preorder_offer(
    drop_id: str, sku_id: str, body: PreorderOfferIn, c: ContainerDep, _: Ops
) -> dict[str, Any]:
    """Offer a SKU as a pre-order of a production run: a cap (never more than the run
    makes less what other drops promised), a closing time and the payment mode."""
    closes = parse_time(body.closes_at, "closes_at")
    assert closes is not None
    return await c.preorders.set_offer(
        drop_id, sku_id, body.run_id, body.cap, closes, body.payment_mode, body.per_buyer_limit
    )


@router.get("/drops/{drop_id}/preorders")
async def list_preorder_offers(drop_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    return await c.preorders.offers(drop_id)


@router.get("/preorders")
async def list_preorders(
    c: ContainerDep,
    _: Ops,
    run_id: str | None = None,
    drop_id: str | None = None,
    status: PreorderStatus | None = None,
) -> list[dict[str, Any]]:
    """Pre-orders oldest payment first; ``status`` waiting / ready / shipped / cancelled."""
    found = await c.preorders.find(run_id=run_id, drop_id=drop_id, status=status)
    return [preorder_dict(p) for p in found]


@router.get("/preorders/{order_id}")
async def get_preorder(order_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """The pre-order with its notices (placed, delay, consent, cancelled, refunded...)."""
    p = await c.preorders.get(order_id)
    notices = await c.preorders.notices(order_id)
    return preorder_dict(p) | {
        "notices": [
            {"kind": n["kind"], "at": rfc3339(n["created_at"]), "payload": n["payload"]}
            for n in notices
        ]
    }


@router.post("/preorders/{order_id}/cancel", responses=errors(502, 503))
async def cancel_preorder(
    order_id: str, body: CancelIn, c: ContainerDep, who: Ops
) -> dict[str, Any]:
    """Cancel a pre-order that has not shipped — waiting for its units or ready with
    them allocated — and refund it in full (void an authorisation). Its units go back
    as for any cancelled order: allocated lot units to ``available``, in-stock units to
    the drop's offer (``available`` once it ended), the pre-order units to the cap.
    409 ``invalid_transition`` once it has shipped."""
    return preorder_dict(
        await c.preorder_lifecycle.cancel(order_id, reason=body.reason, by=who.name)
    )


@router.post("/preorders/{order_id}/ship", responses=errors(502))
async def ship_preorder(order_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Mark a ready pre-order shipped; an authorised payment is captured now."""
    return preorder_dict(await c.preorder_lifecycle.ship(order_id))


# --------------------------------------------------------------------------- buyer links

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""


LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "`invalid_token`: the link is malformed, forged or expired"}
}


@router.get(
    "/preorder-links/{action}", response_class=HTMLResponse, tags=["buyers"], responses=LINK_ERRORS
)
async def link_page(action: Action, token: str, c: ContainerDep) -> HTMLResponse:
    """What the link in a delay notice opens: a page with one button. Opening the link
    changes nothing (mail scanners open links too); the button POSTs the same URL."""
    order_id = c.preorder_links.verify(token, action)
    p = await c.preorders.get(order_id)
    if action == "cancel":
        title, text = "Cancel your pre-order", "Cancel and get a full refund of your payment."
    else:
        title, text = "Keep your pre-order", "Accept the new ship date and keep your order."
    form = (
        f'<form method="post" action="/v1/preorder-links/{action}?token={html.escape(token)}">'
        f'<button type="submit">{html.escape(title)}</button></form>'
        if p.status == "waiting"
        else f"<p>This order is {html.escape(p.status)}.</p>"
    )
    return HTMLResponse(_PAGE.format(title=title, text=text, form=form))


@router.post(
    "/preorder-links/{action}",
    tags=["buyers"],
    responses={**LINK_ERRORS, **errors(502, 503)},
)
async def link_act(
    action: Action, token: str, c: ContainerDep, reason: Text = ""
) -> dict[str, Any]:
    """Perform the link's action: ``cancel`` (full refund) or ``consent`` (accept a long
    or indefinite delay). The signed token names the order; no API key is needed."""
    order_id = c.preorder_links.verify(token, action)
    if action == "cancel":
        p = await c.preorder_lifecycle.cancel(
            order_id, reason=reason or "buyer cancelled from the delay notice", by="buyer"
        )
    else:
        p = await c.preorder_lifecycle.consent(order_id, via="link")
    return preorder_dict(p)
