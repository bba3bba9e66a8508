"""``/ui`` preparing a drop: create it, choose its offers (every active variant, sizes in
wearing order, one form) and bundles, set when it starts, then go live from the
monitor. Times are typed and shown in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from dropline.api.deps import ContainerDep
from dropline.bootstrap import Container
from dropline.domain.catalog.items import full_label
from dropline.domain.catalog.variants import variant_key
from dropline.domain.errors import DroplineError, InvalidInput
from dropline.domain.live.drops import EDITABLE_STATES, DropStatus
from dropline.web.common import Csrf, back, form_time, page, require_login, require_post

router = APIRouter(prefix="/ui", include_in_schema=False)


def _at(value: str) -> float | None:
    """A form's time as a Unix timestamp (what the drop services take)."""
    at = form_time(value)
    return at.timestamp() if at else None


@router.post("/drops")
async def create_drop(
    request: Request,
    c: ContainerDep,
    csrf_token: Csrf = "",
    name: Annotated[str, Form(max_length=200)] = "",
    currency: Annotated[str, Form(max_length=3)] = "USD",
    starts_at: Annotated[str, Form(max_length=40)] = "",
    hold_ttl_s: Annotated[str, Form(max_length=6)] = "90",
) -> Response:
    await require_post(request, c, csrf_token)
    try:
        if not hold_ttl_s.strip().isdigit():
            raise InvalidInput("the hold time is a whole number of seconds")
        drop = await c.drops.create(name, currency, int(hold_ttl_s), _at(starts_at))
    except DroplineError as exc:
        return back("/ui", exc.detail, "error")
    return back(f"/ui/drops/{drop.id}/setup", f"{drop.name} created: choose what it offers")


@router.get("/drops/{drop_id}/setup")
async def setup_page(drop_id: str, request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    drop, offers, bundle_ids = await c.drops.get(drop_id)
    rows = []
    for p, skus in await c.catalog.list_products(archived=True):
        for x in skus:
            if x.id in offers or (not x.archived and x.price.currency == drop.currency):
                key = variant_key(p.name, x.attributes, x.code)
                rows.append((key, x, full_label(p.name, x), offers.get(x.id)))
    rows.sort(key=lambda r: r[0])
    levels = await c.stock.levels()
    bundles = [
        b
        for b in await c.catalog.list_bundles(archived=True)
        if b.id in bundle_ids or (not b.archived and b.price.currency == drop.currency)
    ]
    return page(
        request,
        "drop_setup.html",
        s,
        drop=drop,
        rows=[(x, label, offer) for _, x, label, offer in rows],
        levels=levels,
        bundles=bundles,
        bundle_ids=set(bundle_ids),
        editable=drop.status in EDITABLE_STATES,
        access=await _access_panel(c, drop_id, {x.id: x.code for _, x, _, _ in rows}),
        live=drop.status in (DropStatus.LIVE, DropStatus.PAUSED),
        starts_value=(
            datetime.fromtimestamp(drop.starts_at, UTC).strftime("%Y-%m-%dT%H:%M")
            if drop.starts_at
            else ""
        ),
    )


#: Blank window rows the access panel offers beyond the drop's windows.
BLANK_WINDOW_ROWS = 2
LIMIT_FIELDS = (
    "holds_per_buyer",
    "holds_per_address",
    "checkouts_per_buyer",
    "checkouts_per_address",
    "token_max_age_s",
)


async def _access_panel(c: Container, drop_id: str, codes: dict[str, str]) -> dict[str, Any]:
    """What ``_access_panel.html`` shows (its forms post to ``web/access.py``): a row per
    window, then blank ones, allocations written by SKU code; and the limits."""
    policy = await c.access_windows.get(drop_id)
    rows = [
        {
            "name": w.name,
            "starts": datetime.fromtimestamp(w.starts_at, UTC).strftime("%Y-%m-%dT%H:%M"),
            "tiers": ", ".join(w.tiers),
            "alloc": ""
            if w.allocation is None
            else ", ".join(f"{codes.get(s, s)}: {n}" for s, n in w.allocation.items()),
        }
        for w in policy.windows
    ]
    rows += [{"name": "", "starts": "", "tiers": "", "alloc": ""}] * BLANK_WINDOW_ROWS
    return {"rows": rows, "limits": {k: getattr(policy.limits, k) for k in LIMIT_FIELDS}}


@router.post("/drops/{drop_id}/offers")
async def save_offers(
    drop_id: str, request: Request, c: ContainerDep, csrf_token: Csrf = ""
) -> Response:
    """``qty_<sku>`` (and ``limit_<sku>``) for each variant with a quantity, and
    ``bundle`` for each bundle to sell; an empty quantity leaves that offer alone."""
    await require_post(request, c, csrf_token)
    form = await request.form()
    to = f"/ui/drops/{drop_id}/setup"
    changed = 0
    try:
        _, current, _ = await c.drops.get(drop_id)
        for key, value in form.multi_items():
            if not key.startswith("qty_") or not str(value).strip():
                continue
            sku_id, qty = key[4:], str(value).strip()
            limit = str(form.get(f"limit_{sku_id}", "")).strip()
            if not qty.isdigit() or (limit and not limit.isdigit()):
                raise InvalidInput("quantities and limits are whole numbers")
            new = (int(qty), int(limit) if limit else None)
            had = current.get(sku_id)
            if (had.offered, had.per_buyer_limit) == new if had else new[0] == 0:
                continue
            await c.drops.set_offer(drop_id, sku_id, *new)
            changed += 1
        _, _, selling = await c.drops.get(drop_id)
        for bundle_id in form.getlist("bundle"):
            if str(bundle_id) not in selling:
                await c.drops.add_bundle(drop_id, str(bundle_id))
                changed += 1
    except DroplineError as exc:
        return back(to, exc.detail, "error")
    return back(to, f"offers saved ({changed} change{'s' if changed != 1 else ''})")


@router.post("/drops/{drop_id}/schedule")
async def schedule(
    drop_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Csrf = "",
    starts_at: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Save the name and start time; a draft becomes scheduled."""
    s = await require_post(request, c, csrf_token)
    to = f"/ui/drops/{drop_id}/setup"
    try:
        start = _at(starts_at)
        drop = await c.drops.edit(
            drop_id, name=name or None, starts_at=start, clear_start=start is None
        )
        if drop.status is DropStatus.DRAFT:
            drop = await c.drops.transition(drop_id, DropStatus.SCHEDULED, actor=s.name)
    except DroplineError as exc:
        return back(to, exc.detail, "error")
    return back(to, f"{drop.name} is {drop.status}: go live from the monitor when it starts")
