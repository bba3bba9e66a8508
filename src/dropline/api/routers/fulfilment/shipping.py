"""Fulfilment: signed warehouse updates, tracking import, pick lists, packing slips,
the shipping SLA, and buyer messages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from dropline.api.deps import ContainerDep, Ops
from dropline.api.fields import Digits
from dropline.api.limits import MAX_CSV_BYTES
from dropline.api.routers.fulfilment import schemas as s
from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.fulfilment.rules import FulfilmentUpdate, MessageKind, MessageStatus
from dropline.services.fulfilment.handoff import shipment_view
from dropline.services.fulfilment.pick_lists import (
    render_packing_slips_csv,
    render_packing_slips_html,
    render_pick_list_csv,
    render_pick_list_html,
)

router = APIRouter(tags=["fulfilment"])
Format = Literal["json", "csv", "html"]

TEXT: dict[str, Any] = {"schema": {"type": "string"}}
SIGNED_UPDATE: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {
            "type": "string",
            "enum": [p + u.value for p in ("", "fulfillment.") for u in FulfilmentUpdate],
        },
        "data": {
            "type": "object",
            "required": ["order_id"],
            "properties": {
                name: {"type": "string"}
                for name in (
                    "order_id",
                    "carrier",
                    "tracking_number",
                    "tracking_url",
                    "reason",
                    "occurred_at",
                )
            },
        },
    },
}
WEBHOOK_HEADERS = [
    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
]


@router.post(
    "/v1/fulfillment-events",
    response_model=s.UpdateOut,
    responses={
        400: {"description": "invalid_signature: unknown endpoint, stale or wrong signature"},
        409: {
            "description": "invalid_transition, e.g. delivered before shipped; conflict, "
            "a pre-order shipped while it still waits for its units"
        },
        502: {"description": "payment_provider_error: capturing a pre-order's payment failed"},
    },
    openapi_extra={
        "parameters": WEBHOOK_HEADERS,
        "requestBody": {
            "required": True,
            "description": "Signed over its raw bytes (Standard Webhooks)",
            "content": {"application/json": {"schema": SIGNED_UPDATE}},
        },
    },
)
async def fulfillment_event(
    request: Request,
    c: ContainerDep,
    x_dropline_endpoint: Annotated[
        str, Header(description="the webhook endpoint whose secret signed this request")
    ] = "",
) -> s.UpdateOut:
    """A warehouse/carrier update, signed per Standard Webhooks with the endpoint's
    secret (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) and naming the
    endpoint in ``X-Dropline-Endpoint``. Body:
    ``{"type": "picked|packed|shipped|delivered|exception|delayed", "data": {"order_id":
    ..., "carrier": ..., "tracking_number": ..., "tracking_url": ..., "reason": ...,
    "occurred_at": ...}}``. Idempotent on ``webhook-id``: a repeat answers
    ``applied: false`` and changes nothing."""
    body = await request.body()
    result = await c.fulfilment.receive_signed(x_dropline_endpoint, body, request.headers)
    return s.UpdateOut(order_id=result.order_id, status=result.status, applied=result.applied)


@router.post(
    "/v1/fulfillment-events/tracking-import",
    response_model=s.ImportOut,
    max_body_size=MAX_CSV_BYTES,
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": TEXT}},
    },
)
async def tracking_import(request: Request, c: ContainerDep, _: Ops) -> s.ImportOut:
    """Upload a CSV (``text/csv`` body) with ``order_id,carrier,tracking_number[,
    tracking_url]``: good rows mark orders shipped, bad rows are reported by line."""
    raw = await request.body()  # at most MAX_CSV_BYTES: a larger body is a 413 before this
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV must be UTF-8") from None
    report = await c.fulfilment.import_tracking(text, source="csv")
    return s.ImportOut(
        applied=len(report.applied),
        duplicates=len(report.duplicates),
        errors=[s.ImportRowError(line=n, code=code, detail=d) for n, code, d in report.errors],
    )


@router.get(
    "/v1/drops/{drop_id}/pick-list",
    response_model=s.PickListOut,
    responses={200: {"content": {"text/csv": TEXT, "text/html": TEXT}}},
)
async def pick_list(
    drop_id: str, c: ContainerDep, _: Ops, format: Format = "json"
) -> Response | s.PickListOut:
    """Units to pick for the drop's unshipped orders, grouped by bin then SKU (bundles
    expanded). ``format=csv`` for a spreadsheet, ``format=html`` for a printable page."""
    pick = await c.pick_lists.pick_list(drop_id)
    if format == "csv":
        return PlainTextResponse(
            render_pick_list_csv(pick),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="pick-list-{drop_id}.csv"'},
        )
    if format == "html":
        return HTMLResponse(render_pick_list_html(pick))
    return s.PickListOut(**{k: v for k, v in pick.items() if k != "bins"})


@router.get(
    "/v1/drops/{drop_id}/packing-slips",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": TEXT, "text/csv": TEXT}}},
)
async def packing_slips(
    drop_id: str, c: ContainerDep, _: Ops, format: Literal["html", "csv"] = "html"
) -> Response:
    """One printable packing slip per unshipped order of the drop (HTML, page breaks
    between slips) or the same as CSV rows."""
    slips = await c.pick_lists.packing_slips(drop_id=drop_id)
    if format == "csv":
        return PlainTextResponse(render_packing_slips_csv(slips), media_type="text/csv")
    return HTMLResponse(render_packing_slips_html(slips))


@router.get(
    "/v1/orders/{order_id}/packing-slip",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": TEXT}}},
)
async def packing_slip(order_id: str, c: ContainerDep, _: Ops) -> HTMLResponse:
    return HTMLResponse(
        render_packing_slips_html(await c.pick_lists.packing_slips(order_id=order_id))
    )


@router.get("/v1/orders/{order_id}/shipment", response_model=s.ShipmentOut)
async def order_shipment(order_id: str, c: ContainerDep, _: Ops) -> s.ShipmentOut:
    """Ship-to, ship-by, warehouse stage and tracking of an order."""
    async with c.uow(readonly=True) as uow:
        ship = await uow.shipments.for_order(order_id)
    if ship is None:
        raise NotFound(f"no shipment for order {order_id}")
    return s.ShipmentOut(**shipment_view(ship))


@router.get("/v1/fulfilment/sla", response_model=s.SlaOut)
async def sla(
    c: ContainerDep,
    _: Ops,
    drop_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000), Digits] = 500,
) -> s.SlaOut:
    """Unshipped orders past their ship-by (``breached``) or inside the warning window
    (``at_risk``, DROPLINE_SLA_AT_RISK_HOURS), soonest deadline first."""
    return s.SlaOut(**await c.fulfilment.sla_report(drop_id, limit))


@router.get("/v1/messages", response_model=list[s.MessageOut])
async def list_messages(
    c: ContainerDep,
    _: Ops,
    order_id: str | None = None,
    status: MessageStatus | None = None,
    kind: MessageKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500), Digits] = 100,
) -> list[s.MessageOut]:
    """Buyer messages, oldest first: what was (or will be) sent, with its status
    (queued, failed, sent, stored, dead, skipped)."""
    rows = await c.messages.list(order_id=order_id, status=status, kind=kind, limit=limit)
    return [s.MessageOut(**m) for m in rows]
