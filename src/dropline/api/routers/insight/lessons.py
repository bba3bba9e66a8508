"""Next-drop insight across drops (ops): JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from dropline.api.deps import ContainerDep, Ops
from dropline.api.fields import Digits
from dropline.api.openapi import errors
from dropline.domain.insight.funnel import DEFAULT_LIFT_WINDOW_S
from dropline.services.insight.lessons import lessons_csv

router = APIRouter(prefix="/v1/insight", tags=["insight"])
OPENAPI: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}},
        }
    },
    **errors(404),  # a drop_id that is not a drop
}


@router.get("/lessons", response_model=None, responses=OPENAPI)
async def lessons(
    c: ContainerDep,
    _: Ops,
    drop_id: Annotated[list[str], Query(max_length=50)],
    format: Literal["json", "csv"] = "json",
    cue_window_s: Annotated[int, Query(ge=60, le=3600), Digits] = DEFAULT_LIFT_WINDOW_S,
) -> dict[str, Any] | Response:
    """Across the given drops (``?drop_id=a&drop_id=b``): per-variant sell-through and
    fastest sell-out, conversion by channel/UTM/promo code, each drop's 90-day
    repeat-purchase cohort, its funnel (views → held → paid, per SKU and channel), its
    unserved demand after sell-out and its host cues with the lift in the
    ``cue_window_s`` seconds after each (definitions: ``docs/learning.md``).
    ``?format=csv``: ``section,name,metric,value`` rows."""
    got = await c.lessons.across(drop_id, cue_window_s)
    if format == "csv":
        return Response(
            lessons_csv(got),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="lessons.csv"'},
        )
    return got
