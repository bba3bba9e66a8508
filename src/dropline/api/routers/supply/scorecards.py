"""Supplier scorecards (ops): dates kept, first-pass lots, defect and return rates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dropline.api.deps import ContainerDep, Ops
from dropline.api.plain import plain_dict, plain_list

router = APIRouter(prefix="/v1/suppliers", tags=["supplier scorecards"])


@router.get("/scorecards")
async def scorecards(c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """Every manufacturer's scorecard, by name (definitions in docs/learning.md)."""
    return plain_list(await c.scorecards.suppliers())


@router.get("/{manufacturer_id}/scorecard")
async def scorecard(manufacturer_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """Milestones on time and average slip per kind, lead-time delta, lots passed first
    time, defect rate and return rate (basis points) of one manufacturer."""
    return plain_dict(await c.scorecards.supplier(manufacturer_id))
