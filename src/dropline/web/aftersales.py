"""``/ui`` returns (receive, refund, cancel) and the order actions that start
after-sales: cancel with refund, authorise a return."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dropline.api.deps import ContainerDep
from dropline.domain.aftersales.returns import (
    Disposition,
    ReturnLineRequest,
    ReturnReason,
    ReturnStatus,
)
from dropline.domain.errors import DroplineError, InvalidInput, NotFound
from dropline.domain.live.orders import OrderStatus
from dropline.web import common
from dropline.web.common import (
    page,
    require_login,
    require_post,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


RETURN_STATUSES = ("", *(s.value for s in ReturnStatus))
RETURN_ACTIONS = ("receive", "refund", "cancel")


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    order_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    why = reason.strip() or "cancelled in the ops view"
    try:
        o = await c.cancellations.cancel(order_id, reason=why, by=s.name)
        message, level = f"order {o.id}: {o.status}", "info"
        if o.status is OrderStatus.CANCELLED:  # the refund did not go through yet
            message, level = f"order {o.id}: cancelled, refund pending ({o.status_reason})", "error"
    except DroplineError as exc:
        message, level = exc.detail, "error"
    return RedirectResponse(f"/ui/orders?flash={quote(message)}&level={level}", 303)


@router.post("/orders/{order_id}/return")
async def return_order(
    order_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Authorise a return for a buyer who asked support: ``qty_<line>`` units of each line
    with ``reason_<line>``; the return then waits on ``/ui/returns`` for the parcel."""
    s = await require_post(request, c, csrf_token)
    form = await request.form()
    try:
        lines = []
        for key, value in form.items():
            if key.startswith("qty_") and key[4:].isdigit() and str(value).strip() not in ("", "0"):
                line_no = int(key[4:])
                reason = ReturnReason(str(form.get(f"reason_{line_no}") or ReturnReason.OTHER))
                lines.append(ReturnLineRequest(line_no, int(str(value)), reason))
        if not lines:
            raise InvalidInput("pick at least one unit to return")
        r = await c.returns.request(order_id, lines, note=note.strip(), by=s.name)
        message, level = f"return {r.id} authorised for order {order_id}", "info"
    except (DroplineError, ValueError) as exc:
        message, level = getattr(exc, "detail", str(exc)), "error"
    return RedirectResponse(f"/ui/orders?flash={quote(message)}&level={level}", 303)


@router.get("/returns")
async def returns_page(
    request: Request, c: ContainerDep, status: str = "", drop_id: str = ""
) -> Response:
    """Returns, newest first: what is coming back and why, where it went, the refund; a
    requested return is received here (each line to its reason's default disposition
    or the one chosen), cancelled, or a failed refund retried."""
    s = await require_login(request, c)
    rows = await c.returns.list_returns(
        status=status if status in RETURN_STATUSES and status else None,
        drop_id=drop_id or None,
        limit=common.PAGE_ROWS,
        newest_first=True,
    )
    return page(
        request, "returns.html", s, returns=rows, status=status,
        drop_id=drop_id, statuses=RETURN_STATUSES, dispositions=[d.value for d in Disposition],
    )  # fmt: skip


@router.post("/returns/{return_id}/{action}")
async def return_action(
    return_id: str,
    action: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    s = await require_post(request, c, csrf_token)
    if action not in RETURN_ACTIONS:
        raise NotFound(f"no action {action!r} on a return")
    form = await request.form()
    try:
        if action == "receive":
            chosen = {}
            for key, value in form.items():
                if key.startswith("line_") and key[5:].isdigit() and value:
                    chosen[int(key[5:])] = Disposition(str(value))
            r = await c.returns.receive(return_id, chosen, by=s.name)
        elif action == "refund":
            r = await c.returns.refund(return_id)
        else:
            r = await c.returns.cancel(return_id, reason="cancelled in the ops view", by=s.name)
        message = f"return {r.id}: {r.status}" + (f" ({r.refund_error})" if r.refund_error else "")
        level = "error" if r.refund_error else "info"
    except (DroplineError, ValueError) as exc:
        message, level = getattr(exc, "detail", str(exc)), "error"
    return RedirectResponse(f"/ui/returns?flash={quote(message)}&level={level}", 303)
