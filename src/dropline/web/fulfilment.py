"""``/ui`` buyer messages (the mailer's outbox) and webhook deliveries with replay."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dropline.api.deps import ContainerDep
from dropline.domain.errors import DroplineError
from dropline.domain.fulfilment.rules import DeliveryStatus, MessageStatus
from dropline.web import common
from dropline.web.common import (
    page,
    require_login,
    require_post,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


MESSAGE_STATUSES = ("", *(s.value for s in MessageStatus))
DELIVERY_STATUSES = ("", *(s.value for s in DeliveryStatus))


@router.get("/messages")
async def messages_page(
    request: Request, c: ContainerDep, status: str = "", order_id: str = ""
) -> Response:
    """Newest buyer messages with their status; click one to read what the buyer got."""
    s = await require_login(request, c)
    rows = await c.messages.list(
        order_id=order_id or None,
        status=status if status in MESSAGE_STATUSES and status else None,
        limit=common.PAGE_ROWS,
        newest_first=True,
    )
    return page(
        request, "messages.html", s, messages=rows, status=status,
        order_id=order_id, statuses=MESSAGE_STATUSES,
    )  # fmt: skip


@router.get("/webhooks")
async def deliveries_page(request: Request, c: ContainerDep, status: str = "") -> Response:
    """Recent webhook deliveries, failing ones first in mind: status, attempts, the last
    answer, and a replay button."""
    s = await require_login(request, c)
    rows = await c.webhooks.list_deliveries(
        status=status if status in DELIVERY_STATUSES and status else None, limit=common.PAGE_ROWS
    )
    return page(
        request, "webhooks.html", s, deliveries=rows, status=status,
        statuses=DELIVERY_STATUSES,
    )  # fmt: skip


@router.post("/webhooks/{delivery_id}/replay")
async def replay_delivery(
    delivery_id: str,
    request: Request,
    c: ContainerDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    await require_post(request, c, csrf_token)
    try:
        await c.webhooks.replay(delivery_id)
        message, level = f"delivery {delivery_id} queued again", "info"
    except DroplineError as exc:
        message, level = exc.detail, "error"
    return RedirectResponse(f"/ui/webhooks?flash={quote(message)}&level={level}", 303)
