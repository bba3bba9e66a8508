"""``/ui`` a drop's waitlist and restock waves (``templates/waitlist.html``, linked from
the drop's setup page and its monitor): the line's order and claim window, each SKU's
demand, and the waves: plan one (on an ended drop, the second wave that reopens it,
with its optional end), list them, cancel one not yet run.

The forms call the services the API's ops routes call (``api/routers/live/waitlist.py``),
so a value is refused by the same rule with the same code; the refusal comes back as
the page's flash message. Times are typed and shown in UTC."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dropline.api.deps import ContainerDep
from dropline.domain.errors import DroplineError, InvalidInput, NotFound
from dropline.domain.live.drops import ENGINE_STATES, DropStatus
from dropline.domain.live.waitlist import MAX_CLAIM_WINDOW_S, MIN_CLAIM_WINDOW_S, WaitlistOrder
from dropline.domain.stock.buckets import MAX_QUANTITY
from dropline.services.live.restocks import SOURCE_KINDS
from dropline.web.common import Csrf, back, form_time, page, require_login, require_post
from dropline.web.render import exact_time

router = APIRouter(prefix="/ui", include_in_schema=False)


def _path(drop_id: str) -> str:
    return f"/ui/drops/{drop_id}/waitlist"


def _whole(value: str, what: str, field: str) -> int:
    value = value.strip()
    if not value.isdigit():
        raise InvalidInput(f"{what} is a whole number", field=field)
    return int(value)


@router.get("/drops/{drop_id}/waitlist")
async def waitlist_page(drop_id: str, request: Request, c: ContainerDep) -> Response:
    """The line's settings, the demand per SKU and the waves, with their forms."""
    s = await require_login(request, c)
    drop, offers, _ = await c.drops.get(drop_id)  # NotFound: the "Not found" page
    catalog = await c.drops.cache.get(drop_id)

    def named(row: dict[str, Any]) -> dict[str, Any]:
        """The row with its SKU's ``label`` (``Tee — Black / M``) and ``code``."""
        sku = catalog.skus.get(row["sku_id"])
        return row | {
            "label": catalog.describe_sku(sku.id) if sku else row["sku_id"],
            "code": sku.code if sku else "",
        }

    skus = [named({"sku_id": sku_id}) for sku_id in sorted(offers, key=catalog.sort_key)]
    demand = [named(d) for d in await c.waitlist_demand.demand(drop_id)]
    waves = [named(w) for w in await c.restocks.waves(drop_id)]
    # the waves that reopen the drop together end it together: their end is the default
    planned = next((w["ends_at"] for w in waves if w["reopens"] and w["status"] == "scheduled"), "")
    planned_end = form_time(planned or "", "ends_at")
    return page(
        request,
        "waitlist.html",
        s,
        drop=drop,
        settings=await c.waitlist.settings(drop_id),
        orders=[o.value for o in WaitlistOrder],
        min_window=MIN_CLAIM_WINDOW_S,
        max_window=MAX_CLAIM_WINDOW_S,
        max_quantity=MAX_QUANTITY,
        skus=skus,
        demand=demand,
        waves=waves,
        can_plan=drop.status in ENGINE_STATES or drop.status is DropStatus.ENDED,
        reopens=drop.status is DropStatus.ENDED,
        planned_end=planned_end.strftime("%Y-%m-%dT%H:%M") if planned_end else "",
        now=c.clock.now(),
        source_kinds=SOURCE_KINDS,
    )


@router.post("/drops/{drop_id}/waitlist/settings")
async def save_settings(
    drop_id: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    """``order`` (fifo or draw) and ``claim_window_s``, as ``PUT .../waitlist/settings``."""
    await require_post(request, c, csrf_token)
    form = await request.form()
    to = _path(drop_id)
    try:
        raw = str(form.get("order", "")).strip()
        if raw not in {o.value for o in WaitlistOrder}:
            raise InvalidInput("the line order is fifo or draw", field="order")
        window = _whole(str(form.get("claim_window_s", "")), "the claim window", "claim_window_s")
        saved = await c.waitlist.configure(drop_id, WaitlistOrder(raw), window)
    except DroplineError as exc:
        return back(to, f"{exc.detail} ({exc.code})", "error")
    return back(
        to, f"waitlist saved: {saved['order']} order, claim window {saved['claim_window_s']} s"
    )


@router.post("/drops/{drop_id}/restocks")
async def plan_wave(
    drop_id: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    """``sku_id``, ``quantity``, ``at`` (UTC; empty is now), ``source_kind`` and
    ``source_id`` (both or neither), ``ends_at`` (UTC; an ended drop's wave only), as
    ``POST .../restocks``."""
    await require_post(request, c, csrf_token)
    form = await request.form()
    to = _path(drop_id)
    try:
        sku_id = str(form.get("sku_id", "")).strip()
        if not sku_id:
            raise InvalidInput("choose the SKU to restock", field="sku_id")
        quantity = _whole(str(form.get("quantity", "")), "the quantity", "quantity")
        kind = str(form.get("source_kind", "")).strip() or None
        source = str(form.get("source_id", "")).strip() or None
        wave = await c.restocks.schedule(
            drop_id,
            sku_id,
            quantity,
            form_time(str(form.get("at", "")), "at"),
            source_kind=kind,
            source_id=source,
            ends_at=form_time(str(form.get("ends_at", "")), "ends_at"),
        )
    except DroplineError as exc:
        return back(to, f"{exc.detail} ({exc.code})", "error")
    catalog = await c.drops.cache.get(drop_id)
    what = catalog.describe_sku(sku_id) if sku_id in catalog.skus else sku_id
    reopens = " (reopens the drop)" if wave["reopens"] else ""
    return back(
        to, f"restock wave planned: {quantity} × {what} at {exact_time(wave['at'])}{reopens}"
    )


@router.post("/drops/{drop_id}/restocks/{wave_id}/cancel")
async def cancel_wave(
    drop_id: str, wave_id: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    """Cancel a wave of this drop that has not run (``conflict`` once it has)."""
    await require_post(request, c, csrf_token)
    to = _path(drop_id)
    try:
        if wave_id not in {w["id"] for w in await c.restocks.waves(drop_id)}:
            raise NotFound(f"restock wave {wave_id} is not one of this drop's")
        await c.restocks.cancel(wave_id)
    except DroplineError as exc:
        return back(to, f"{exc.detail} ({exc.code})", "error")
    return back(to, f"restock wave {wave_id} cancelled")
