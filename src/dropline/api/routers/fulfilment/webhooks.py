"""Webhook endpoints (admin) and their delivery log and replay (ops)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dropline.api.deps import Admin, ContainerDep, Ops
from dropline.api.fields import Digits
from dropline.api.plain import parse_time
from dropline.api.routers.fulfilment import schemas as s
from dropline.domain.fulfilment.rules import DeliveryStatus

router = APIRouter(tags=["webhooks"])


@router.post("/v1/webhook-endpoints", status_code=201, response_model=s.EndpointOut)
async def create_endpoint(body: s.EndpointIn, c: ContainerDep, _: Admin) -> s.EndpointOut:
    """Register a receiver. The response carries ``secret`` (``whsec_...``) — the only
    time it is shown; store it to verify signatures. ``event_types`` accepts exact types
    (``order.paid``), prefixes (``order.*``) or ``*``."""
    view = await c.webhooks.create_endpoint(
        body.url, body.event_types, body.description, warehouse=body.warehouse
    )
    return s.EndpointOut(**view)


@router.get("/v1/webhook-endpoints", response_model=list[s.EndpointOut])
async def list_endpoints(c: ContainerDep, _: Ops) -> list[s.EndpointOut]:
    return [s.EndpointOut(**e) for e in await c.webhooks.list_endpoints()]


@router.get("/v1/webhook-endpoints/{endpoint_id}", response_model=s.EndpointOut)
async def get_endpoint(endpoint_id: str, c: ContainerDep, _: Ops) -> s.EndpointOut:
    return s.EndpointOut(**await c.webhooks.get_endpoint(endpoint_id))


@router.patch("/v1/webhook-endpoints/{endpoint_id}", response_model=s.EndpointOut)
async def update_endpoint(
    endpoint_id: str, body: s.EndpointPatch, c: ContainerDep, _: Admin
) -> s.EndpointOut:
    """Change URL, event types, description, or ``enabled`` (re-enabling clears a pause
    or a 410 and lets the queued deliveries flow again)."""
    view = await c.webhooks.update_endpoint(
        endpoint_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        enabled=body.enabled,
        warehouse=body.warehouse,
    )
    return s.EndpointOut(**view)


@router.delete("/v1/webhook-endpoints/{endpoint_id}", status_code=204)
async def delete_endpoint(endpoint_id: str, c: ContainerDep, _: Admin) -> Response:
    await c.webhooks.delete_endpoint(endpoint_id)
    return Response(status_code=204)


@router.post("/v1/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=s.EndpointOut)
async def rotate_secret(
    endpoint_id: str, c: ContainerDep, _: Admin, body: s.RotateIn | None = None
) -> s.EndpointOut:
    """New secret, shown once. For ``overlap_s`` seconds deliveries carry signatures
    from both the old and the new secret, so the receiver can switch at its own pace."""
    overlap = body.overlap_s if body else None
    return s.EndpointOut(**await c.webhooks.rotate_secret(endpoint_id, overlap))


@router.get("/v1/webhook-deliveries", response_model=list[s.DeliveryOut])
async def list_deliveries(
    c: ContainerDep,
    _: Ops,
    endpoint_id: str | None = None,
    status: DeliveryStatus | None = None,
    event_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500), Digits] = 100,
) -> list[s.DeliveryOut]:
    """Newest first. ``status``: pending, failed (retry scheduled), delivered, dead."""
    rows = await c.webhooks.list_deliveries(
        endpoint_id=endpoint_id, status=status, event_id=event_id, limit=limit
    )
    return [s.DeliveryOut(**d) for d in rows]


@router.get("/v1/webhook-deliveries/{delivery_id}", response_model=s.DeliveryOut)
async def get_delivery(delivery_id: str, c: ContainerDep, _: Ops) -> s.DeliveryOut:
    """One delivery with its attempt log (status code, duration, response excerpt)."""
    return s.DeliveryOut(**await c.webhooks.get_delivery(delivery_id))


@router.post("/v1/webhook-deliveries/{delivery_id}/replay", response_model=s.DeliveryOut)
async def replay_delivery(delivery_id: str, c: ContainerDep, _: Ops) -> s.DeliveryOut:
    """Send one delivery again (same ``webhook-id``) with a fresh retry schedule."""
    return s.DeliveryOut(**await c.webhooks.replay(delivery_id))


@router.post("/v1/webhook-deliveries/replay", response_model=s.ReplayOut)
async def replay_failed(body: s.ReplayIn, c: ContainerDep, _: Ops) -> s.ReplayOut:
    """Queue again every failed or dead delivery created since ``since``."""
    since = parse_time(body.since, "since")
    assert since is not None
    return s.ReplayOut(replayed=await c.webhooks.replay_failed(since, body.endpoint_id))
