"""Dress rehearsals (ops): run one on a copy of a drop, and the drop's rehearsals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dropline.api.deps import ContainerDep, Ops

router = APIRouter(prefix="/v1/drops/{drop_id}/rehearsals", tags=["readiness"])


@router.post("", status_code=201)
async def rehearse(drop_id: str, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Run the whole line on a rehearsal copy of the drop (a dummy SKU, simulated buyers,
    test payments, the warehouse hand-off flagged ``test``, tracking, a cancellation and
    a return) and answer its verdict: each stage pass, fail or skip with its detail and
    seconds, and the timings. 409 for a drop that is live, paused or ended. Takes seconds."""
    return await c.rehearsals.run(drop_id, actor=who.name)


@router.get("")
async def rehearsals(drop_id: str, c: ContainerDep, _: Ops) -> list[dict[str, Any]]:
    """The drop's rehearsals, newest first."""
    await c.drops.get(drop_id)  # 404 for an unknown drop
    return await c.rehearsals.history(drop_id)
