"""The readiness gate (ops): a drop's computed checklist, and signed test deliveries
to webhook endpoints (the gate's evidence that the warehouse answers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dropline.api.deps import ContainerDep, Ops

router = APIRouter(tags=["readiness"])


@router.get("/v1/drops/{drop_id}/readiness")
async def readiness(drop_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Every checklist item ``pass``, ``warn`` or ``block`` with its evidence and what
    to do; ``verdict`` is the worst. With ``DROPLINE_READINESS_GATE=enforce`` a
    ``block`` refuses going live unless the transition gives an ``override_reason``."""
    return await c.readiness.checklist(drop_id)


@router.post("/v1/webhook-endpoints/{endpoint_id}/test", status_code=201)
async def test_delivery(endpoint_id: str, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """POST a signed ``webhook.test`` event to the endpoint now; returns (and keeps)
    what it answered. A 2xx within 24 h passes the gate's endpoint item."""
    return await c.readiness.send_test_delivery(endpoint_id, who.name)
