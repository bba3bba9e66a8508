"""The live monitor (ops), the overlay stream (storefront) and the post-stream report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field, StrictInt

from dropline.api.deps import ContainerDep, Ops, Storefront
from dropline.api.fields import Rfc3339
from dropline.api.openapi import errors
from dropline.api.schemas import Strict
from dropline.api.sse import SSE_OPENAPI, EventStream, sse_response
from dropline.domain.errors import InvalidInput
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import MonitorSettings
from dropline.web.render import report_csv

router = APIRouter(prefix="/v1/drops", tags=["monitor"], responses=errors(503))
REPORT_OPENAPI: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}},
        }
    }
}


class MonitorSettingsIn(Strict):
    stream_mode: Literal["exact", "coarse"] | None = Field(
        None, description="'coarse' shows in_stock/low/sold_out instead of the units left"
    )
    low_stock_default: StrictInt | None = Field(None, ge=0, le=1_000_000)
    low_stock: dict[str, Annotated[StrictInt, Field(ge=0, le=1_000_000)]] | None = Field(
        None, description="sku_id → low-stock threshold"
    )
    conversion_window_h: StrictInt | None = Field(None, ge=0, le=720)
    creator: str | None = Field(None, max_length=120)
    stream_ended_at: Rfc3339 | None = Field(None, description="when the stream ended")


def settings_out(s: MonitorSettings) -> dict[str, Any]:
    return {
        "drop_id": s.drop_id,
        "stream_mode": s.stream_mode,
        "low_stock_default": s.low_stock_default,
        "low_stock": s.low_stock,
        "conversion_window_h": s.conversion_window_h,
        "creator": s.creator,
        "stream_ended_at": rfc3339(s.stream_ended_at),
    }


@router.get("/{drop_id}/report", response_model=None, responses=REPORT_OPENAPI)
async def get_report(
    drop_id: str, c: ContainerDep, _: Ops, format: Literal["json", "csv"] = "json"
) -> dict[str, Any] | Response:
    """The post-stream report: reconciliation (``balanced`` is false and each failing
    check carries its ``difference`` when something does not add up), sell-through,
    timeline, conversion by channel/UTM/promo code, abandonment, payment failures,
    first-time vs repeat buyers, the post-stream window, returns (by reason, defects,
    refunds) and earlier drops.
    ``?format=csv`` gives the same numbers as ``section,name,metric,value`` rows."""
    report = await c.reports.build(drop_id)
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="report-{drop_id}.csv"'},
        )
    return report


@router.get("/{drop_id}/monitor")
async def get_monitor(drop_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    """One snapshot of everything the live monitor shows."""
    return await c.monitor.snapshot(drop_id)


@router.get("/{drop_id}/monitor/stream", response_class=EventStream, responses=SSE_OPENAPI)
async def monitor_stream(drop_id: str, request: Request, c: ContainerDep, _: Ops) -> Any:
    """Server-Sent Events: a ``snapshot`` event (same body as ``/monitor``) whenever
    anything changes, checked every half second."""
    await c.monitor.settings(drop_id)  # 404 before the stream starts
    return sse_response(request, lambda: c.monitor.shared_snapshot(drop_id))


@router.get(
    "/{drop_id}/stream", tags=["storefront"], response_class=EventStream, responses=SSE_OPENAPI
)
async def public_stream(drop_id: str, request: Request, c: ContainerDep, _: Storefront) -> Any:
    """Server-Sent Events for the stream overlay: the drop's status and, per SKU,
    ``state`` (in_stock/low/sold_out) and — when the drop's ``stream_mode`` is
    ``exact`` — ``remaining``; ``access``: the access window open now
    (``current_window``), the next one (``next_window``) and ``next_window_at``, for a
    countdown (all null without windows)."""
    await c.monitor.settings(drop_id)
    return sse_response(request, lambda: c.monitor.public(drop_id))


@router.get("/{drop_id}/monitor-settings")
async def get_settings(drop_id: str, c: ContainerDep, _: Ops) -> dict[str, Any]:
    return settings_out(await c.monitor.settings(drop_id))


@router.put("/{drop_id}/monitor-settings")
async def put_settings(
    drop_id: str, body: MonitorSettingsIn, c: ContainerDep, _: Ops
) -> dict[str, Any]:
    """Change the overlay's exactness, low-stock thresholds, the post-stream conversion
    window (hours), the creator, or record when the stream ended."""
    ended = None
    if body.stream_ended_at is not None:
        try:
            ended = datetime.fromisoformat(body.stream_ended_at.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("stream_ended_at must be an RFC 3339 time") from None
    return settings_out(
        await c.monitor.update_settings(
            drop_id,
            stream_mode=body.stream_mode,
            low_stock_default=body.low_stock_default,
            low_stock=body.low_stock,
            conversion_window_h=body.conversion_window_h,
            creator=body.creator,
            stream_ended_at=ended,
        )
    )
