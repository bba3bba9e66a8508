"""``/ui/quality``: the defect Pareto, the quality alerts (closing one) and thresholds;
``/ui/suppliers``: the supplier scorecards."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dropline.api.deps import ContainerDep
from dropline.domain.errors import DroplineError
from dropline.services.supply.quality import PARETO_KEYS
from dropline.web import common
from dropline.web.common import page, require_login, require_post

router = APIRouter(prefix="/ui", include_in_schema=False)

for _entry in (("Quality", "/ui/quality"), ("Suppliers", "/ui/suppliers")):
    if _entry not in common.NAV:
        common.NAV.append(_entry)


@router.get("/quality")
async def quality_page(request: Request, c: ContainerDep, by: str = "sku") -> Response:
    s = await require_login(request, c)
    by = by if by in PARETO_KEYS else "sku"
    return page(
        request,
        "quality.html",
        s,
        by=by,
        keys=PARETO_KEYS,
        pareto=await c.quality.pareto(by),
        alerts=await c.quality.alerts(),
        thresholds=await c.quality.thresholds(),
    )


@router.post("/quality/alerts/{alert_id}/close")
async def close_alert(
    alert_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    corrective_action: Annotated[str, Form(max_length=2000)] = "",
    closing_lot_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    try:
        await c.quality.close(alert_id, corrective_action, closing_lot_id.strip(), by=s.name)
        message, level = f"alert {alert_id} closed", "info"
    except DroplineError as exc:
        message, level = exc.detail, "error"
    return RedirectResponse(f"/ui/quality?flash={quote(message)}&level={level}", 303)


@router.get("/suppliers")
async def suppliers_page(request: Request, c: ContainerDep) -> Response:
    s = await require_login(request, c)
    return page(request, "suppliers.html", s, cards=await c.scorecards.suppliers())
