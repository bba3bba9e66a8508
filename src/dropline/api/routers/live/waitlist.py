"""Waitlists (storefront + buyer token: join, see one's place, leave, open a claim;
ops: order and claim window, demand) and restock waves (ops)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from dropline.api.deps import Buyer, BuyerWho, ContainerDep, Ops, Storefront
from dropline.api.openapi import errors
from dropline.api.strict import Strict
from dropline.domain.live.waitlist import (
    DEFAULT_CLAIM_WINDOW_S,
    MAX_CLAIM_WINDOW_S,
    MIN_CLAIM_WINDOW_S,
    WaitlistOrder,
)

router = APIRouter(prefix="/v1", tags=["waitlist"], responses=errors(503))

Id = Annotated[str, Field(min_length=1, max_length=40)]


class JoinIn(Strict):
    sku_id: Id
    email: str = Field("", max_length=254, description="where the claim message goes")
    payment_method: str | None = Field(
        None,
        min_length=1,
        max_length=80,
        description="Optional: a payment method to save and charge automatically when a "
        "unit is allocated to the buyer, instead of sending the claim link (with Stripe a "
        "`pm_...` id from Stripe.js; with the sandbox a test card). It is set up for "
        "off-session charges first: a card refused then (402 `payment_declined`, also for "
        "a card that needs authentication to be saved) changes nothing. A failed charge "
        "passes the unit to the next in line. Joining again while waiting replaces it; "
        "leaving deletes it.",
    )


class EntryOut(BaseModel):
    id: str
    drop_id: str
    sku_id: str
    buyer_id: str
    status: Literal["waiting", "offered", "claimed", "lost", "skipped", "left"]
    position: int | None = Field(
        description="1-based place in line while waiting: the buyers served before this "
        "one, plus one (with access windows, counted when this buyer's window is open)"
    )
    window_opens_at: str | None = Field(
        description="while waiting for the buyer's access window to open (the line passes "
        "over the entry until then, and it keeps its place): when it opens"
    )
    message: str = Field(description="where the entry stands, in words for the buyer")
    pre_queue: bool = Field(description="joined before the drop opened (the draw)")
    joined_at: str | None
    hold_id: str | None = Field(description="the claim's hold, once a unit is offered")
    claim_expires_at: str | None
    card_saved: bool = Field(description="a saved payment method is charged on allocation")
    auto_charge: Literal["charging", "succeeded", "failed"] | None = Field(
        description="what the saved method's charge did, once a unit was allocated"
    )


class ClaimIn(Strict):
    token: str = Field(min_length=1, max_length=1000, description="the claim link's token")


class ClaimOut(EntryOut):
    expires_at: str | None = Field(description="when the hold lapses if not paid")
    checkout_url: str


class SettingsIn(Strict):
    order: WaitlistOrder = Field(
        description="fifo: join order; draw: the pre-queue shuffled once by a recorded seed"
    )
    claim_window_s: StrictInt = Field(
        DEFAULT_CLAIM_WINDOW_S, ge=MIN_CLAIM_WINDOW_S, le=MAX_CLAIM_WINDOW_S
    )


class SettingsOut(BaseModel):
    drop_id: str
    order: WaitlistOrder
    claim_window_s: int


class DemandOut(BaseModel):
    """Buyers count once each however often they joined; entries count every join;
    claims count every claim offered."""

    drop_id: str
    sku_id: str
    joined: int = Field(description="buyers who joined (once or again)")
    entries: int = Field(description="joins: a buyer who left and joined again counts twice")
    offered: int = Field(description="claims offered")
    claimed: int = Field(description="claims paid")
    lost: int = Field(description="claims lost (passed on to the next in line)")
    waiting: int = Field(description="buyers in line now")
    left: int = Field(description="buyers whose latest entry left the line")
    skipped: int = Field(description="buyers whose latest entry the line skipped")
    unserved: int = Field(description="buyers who joined and got no unit through the line")
    autocharge_succeeded: int = Field(description="saved methods charged on allocation")
    autocharge_failed: int = Field(description="saved-method charges that failed (passed on)")


class RestockIn(Strict):
    sku_id: Id
    quantity: StrictInt = Field(ge=1, le=10_000_000)
    at: AwareDatetime | None = Field(None, description="RFC 3339; now when left out")
    source_kind: Literal["lot", "run"] | None = None
    source_id: Id | None = None
    ends_at: AwareDatetime | None = Field(
        None,
        description="RFC 3339; only for a wave on an ended drop, which reopens it: when the "
        "reopened sale ends again (after `at` and now; every wave reopening the drop gives "
        "the same). Left out: the drop stays live until ended by hand.",
    )


class WaveOut(BaseModel):
    id: str
    drop_id: str
    sku_id: str
    quantity: int
    at: str | None
    source_kind: str | None
    source_id: str | None
    status: Literal["scheduled", "applying", "done", "failed", "cancelled"]
    reopens: bool = Field(description="planned on an ended drop: applying it reopens the drop")
    ends_at: str | None = Field(description="when the drop it reopens ends again")
    waitlisted: int = Field(
        description="units claims took: the claims offered to the waitlist with them, when "
        "the wave was applied or later, while they were kept for the line"
    )
    for_waitlist: int | None = Field(
        description="units still behind the SKU's latched waitlist gate, kept for buyers in "
        "line whose access window has not opened (or whose open windows' units are taken): "
        "not on sale (set once the wave is done)"
    )
    on_sale: int | None = Field(
        description="units that went on sale: at once, or when the gate opened with nobody "
        "left waiting (set once the wave is done)"
    )
    back_in_stock: int | None = Field(
        description="units still kept for the line when the drop ended: back in available "
        "stock with the unsold rest (set once the wave is done). Done, waitlisted + "
        "for_waitlist + on_sale + back_in_stock = quantity"
    )
    error: str | None
    created_at: str | None
    applied_at: str | None


# ------------------------------------------------------------------ buyers


@router.post(
    "/drops/{drop_id}/waitlist",
    status_code=201,
    response_model=EntryOut,
    responses={
        200: {"description": "already in line: the same entry", "model": EntryOut},
        **errors(402, 409, 502),
        403: {
            "description": "`window_closed`: the buyer's access window has not opened "
            "(`opens_at`: when it does; null when no window admits the token's tiers)"
        },
    },
)
async def join_waitlist(
    drop_id: str, body: JoinIn, c: ContainerDep, _: Storefront, who: BuyerWho
) -> JSONResponse:
    """Stand in a sold-out SKU's line (201; 200 with the same entry when already in
    it). Refused with 409 ``not_sold_out`` while the SKU can be held: the problem
    carries ``hold_url`` and a ``hint`` with the hold to place instead. Before the drop
    opens anyone may join (the pre-queue, served by draw when the drop says so). With
    access windows, 403 ``window_closed`` (``opens_at``) before the buyer's window opens
    (the token's ``tiers``); a buyer whose window's allocation is taken may join.
    With ``payment_method`` the method is saved and charged the moment a unit is
    allocated (402 ``payment_declined`` when it cannot be saved; 409 ``conflict`` when
    the payment provider cannot save methods; 502 when it cannot be reached)."""
    if body.payment_method is not None:
        entry, added = await c.waitlist_autocharge.join(
            drop_id, body.sku_id, who.buyer_id, body.email, body.payment_method, tiers=who.tiers
        )
        return JSONResponse(entry, status_code=201 if added else 200)
    entry, added = await c.waitlist.join(
        drop_id, body.sku_id, who.buyer_id, body.email, tiers=who.tiers
    )
    return JSONResponse(entry, status_code=201 if added else 200)


@router.get("/drops/{drop_id}/waitlist", response_model=list[EntryOut])
async def my_waitlist(
    drop_id: str, c: ContainerDep, _: Storefront, buyer: Buyer
) -> list[dict[str, Any]]:
    """The buyer's entries in the drop's lines: place while waiting (and, with access
    windows, ``window_opens_at`` while the buyer's window has not opened: the line
    serves those whose window is open first), the claim's hold once offered, and how
    each ended; ``message`` says it in words."""
    return await c.waitlist.mine(drop_id, buyer)


@router.delete("/drops/{drop_id}/waitlist", response_model=EntryOut, responses=errors(409))
async def leave_waitlist(
    drop_id: str,
    c: ContainerDep,
    _: Storefront,
    buyer: Buyer,
    sku_id: Annotated[str, Query(min_length=1, max_length=40)],
) -> dict[str, Any]:
    """Leave a SKU's line (404 when not in it); a claim already offered is given up and
    its unit goes to the next in line, and a saved payment method is deleted. 409 while
    the saved method is being charged for the unit held for the buyer."""
    return await c.waitlist.leave(drop_id, sku_id, buyer)


@router.post(
    "/drops/{drop_id}/waitlist/claim",
    response_model=ClaimOut,
    responses=errors(403, 409),
)
async def open_claim(
    drop_id: str, body: ClaimIn, c: ContainerDep, _: Storefront, buyer: Buyer
) -> dict[str, Any]:
    """Open a claim link: the hold placed for this buyer, to pay with ``POST
    /v1/checkouts``. Refused: 403 ``invalid_token`` (not a link of ours),
    403 ``claim_not_yours`` (offered to another buyer), 409 ``claim_used`` (opened
    before), 409 ``claim_lost`` (the window passed; the unit went on)."""
    return await c.waitlist.claim(body.token, buyer, drop_id)


# ------------------------------------------------------------------ ops


@router.get("/drops/{drop_id}/waitlist/settings", response_model=SettingsOut)
async def waitlist_settings(drop_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    return await c.waitlist.settings(drop_id)


@router.put("/drops/{drop_id}/waitlist/settings", response_model=SettingsOut)
async def set_waitlist_settings(
    drop_id: str, body: SettingsIn, c: ContainerDep, _: Ops
) -> dict[str, Any]:
    """The line's order and the claim window (default 600 s). A pre-queue already drawn
    keeps its draw."""
    return await c.waitlist.configure(drop_id, body.order, body.claim_window_s)


@router.get("/drops/{drop_id}/waitlist/demand", response_model=list[DemandOut])
async def waitlist_demand(drop_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """Per SKU: buyers who joined (each once) and ``entries`` (every join); claims
    offered, made (paid) and lost; buyers still waiting, and ``unserved`` (buyers who
    joined and got no unit through the line): the demand left after the sell-out."""
    return await c.waitlist_demand.demand(drop_id)


@router.post("/drops/{drop_id}/restocks", status_code=201, response_model=WaveOut)
async def schedule_restock(
    drop_id: str, body: RestockIn, c: ContainerDep, _: Ops
) -> dict[str, Any]:
    """Add units to a live, paused or ended drop at ``at`` (now when left out): the
    waitlist is served first, the rest goes on sale. The units come from ``available``
    stock (a received lot: ``source_kind`` ``lot``; or name the production ``run``).
    A wave on an ended drop reopens it at ``at`` (``reopens``), until ``ends_at`` when
    given. 409 ``conflict`` for a draft or scheduled drop (raise the offer instead);
    422 ``validation_error`` (``field``: ``ends_at``) for an ``ends_at`` on a live or
    paused drop, not after ``at`` and now, or unlike that of another wave already
    planned to reopen the drop."""
    at: datetime | None = body.at
    return await c.restocks.schedule(
        drop_id,
        body.sku_id,
        body.quantity,
        at,
        source_kind=body.source_kind,
        source_id=body.source_id,
        ends_at=body.ends_at,
    )


@router.get("/drops/{drop_id}/restocks", response_model=list[WaveOut])
async def list_restocks(drop_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """The drop's waves, in time order, with what each did."""
    return await c.restocks.waves(drop_id)


@router.post("/restocks/{wave_id}/cancel", response_model=WaveOut)
async def cancel_restock(wave_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Cancel a wave that has not run (409 once it has)."""
    return await c.restocks.cancel(wave_id)
