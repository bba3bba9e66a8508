"""The quality loop (ops): defect Pareto, alert thresholds, quality alerts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field, StrictFloat, StrictInt

from dropline.api.deps import ContainerDep, Ops
from dropline.api.plain import plain_dict, plain_list
from dropline.api.schemas import Strict
from dropline.domain.supply.quality import MAX_CORRECTIVE_ACTION, AlertStatus

router = APIRouter(prefix="/v1/quality", tags=["quality loop"])

ManufacturerKey = Annotated[
    str, Path(max_length=40, description="a manufacturer id, or * for the global threshold")
]


class ThresholdIn(Strict):
    threshold_pct: (
        Annotated[StrictInt, Field(ge=0, le=100)] | Annotated[StrictFloat, Field(ge=0, le=100)]
    ) = Field(
        description="defect rate in percent (0 to 100, two decimals) above which a lot alerts"
    )


class CloseIn(Strict):
    corrective_action: Annotated[str, Field(max_length=MAX_CORRECTIVE_ACTION)]
    closing_lot_id: Annotated[str, Field(max_length=40)]


@router.get("/pareto")
async def pareto(
    c: ContainerDep,
    _: Ops,
    by: Annotated[Literal["sku", "lot", "manufacturer"], Query()] = "sku",
) -> list[dict[str, Any]]:
    """Buyer-reported defects per SKU, lot or manufacturer, most defective first: units,
    delivered units and rate (basis points), reports, photos, reasons, cumulative share."""
    return plain_list(await c.quality.pareto(by))


@router.get("/lots/{lot_id}")
async def lot_figures(lot_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """A lot's delivered, remaining and defective units and its defect rate."""
    return plain_dict(await c.quality.lot_figures(lot_id))


@router.get("/thresholds")
async def thresholds(c: ContainerDep, _: Ops) -> dict[str, Any]:
    return plain_dict(await c.quality.thresholds())


@router.put("/thresholds/{manufacturer_id}")
async def set_threshold(
    manufacturer_id: ManufacturerKey, body: ThresholdIn, c: ContainerDep, _: Ops
) -> dict[str, Any]:
    """Set a manufacturer's threshold (``*``: every manufacturer without its own);
    outside 0 to 100 % is refused (422)."""
    return plain_dict(await c.quality.set_threshold(manufacturer_id, body.threshold_pct))


@router.get("/alerts")
async def alerts(
    c: ContainerDep, _: Ops, status: AlertStatus | None = None
) -> list[dict[str, Any]]:
    return plain_list(await c.quality.alerts(status.value if status else None))


@router.get("/alerts/{alert_id}")
async def alert(alert_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    return plain_dict(await c.quality.alert(alert_id))


@router.post("/alerts/{alert_id}/close")
async def close_alert(alert_id: str, body: CloseIn, c: ContainerDep, who: Ops) -> dict[str, Any]:
    """Close with the manufacturer's corrective action and a later lot of theirs that
    passed final inspection; anything else is refused (422 or 409)."""
    return plain_dict(
        await c.quality.close(alert_id, body.corrective_action, body.closing_lot_id, by=who.name)
    )
